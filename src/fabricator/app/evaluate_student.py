"""``fabricator evaluate student``: train a student classifier on the data, score it on gold data.

The main CLI owns the ``evaluate`` command and calls :func:`add_evaluate_student_parser` with its
sub-parsers object. The handler prints the metrics (and, with ``--gold-train``, the learning curve
of generated vs gold data), writes ``report.md`` with its plots, and returns the exit status
(0, or 2 for bad input).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from fabricator.app.commands import add_command, command, write_json
from fabricator.app.safe_files import claim_file
from fabricator.errors import ConfigError
from fabricator.evaluation.diagnostics import compare
from fabricator.evaluation.diversity import compare_diversity
from fabricator.evaluation.plain_text import score, text_table
from fabricator.evaluation.report import CONFUSION_PNG, LEARNING_CURVE_PNG, REPORT_MD, write_report
from fabricator.evaluation.student import (
    LearningCurve,
    StudentResult,
    keep_confident,
    learning_curve,
    train_student,
)
from fabricator.tables import load_table

__all__ = ["add_evaluate_student_parser", "diversity_rows", "parse_sizes", "run_evaluate_student"]


_HELP = "train a small classifier on the data and score it on gold data"
_DESCRIPTION = (
    "Is the data any good? Train a student classifier on DATA (default: frozen "
    "all-MiniLM-L6-v2 embeddings + logistic regression, CPU-friendly) and report its "
    "accuracy, macro-F1, per-class scores and confusion matrix on GOLD. With "
    "--gold-train, also a learning curve of generated vs gold training data. Files: "
    "JSONL, JSON, CSV, Parquet or a save_to_disk folder. Writes report.md with plots "
    "next to DATA unless --report-dir says where. Needs: pip install "
    "'fabricator-data[student]'. With --min-confidence, the student is trained only on the "
    "rows whose confidence (written by label scoring) reaches the threshold. The diagnostics put "
    "DATA next to the gold data: duplicates, lengths, distinct-n, embedding spread, rows per class "
    "and the similarity of each row to its nearest gold text (see 'fabricator evaluate diversity')."
)


def add_evaluate_student_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``student`` under an ``evaluate`` sub-parsers object; returns the parser."""
    parser = add_command(subparsers, "student", run_evaluate_student, help=_HELP, description=_DESCRIPTION)
    parser.add_argument(
        "--train", required=True, metavar="DATA", help="training data (e.g. the generated data.jsonl)"
    )
    parser.add_argument("--test", required=True, metavar="GOLD", help="gold test data")
    parser.add_argument(
        "--gold-train",
        metavar="GOLD_TRAIN",
        help="gold training data: adds a learning curve of generated vs gold",
    )
    parser.add_argument("--text-column", default="text", help="text column (default: text)")
    parser.add_argument("--label-column", default="label", help="label column (default: label)")
    parser.add_argument(
        "--labels",
        metavar="L,L,...",
        help="the task's full label set: the training data may then lack a label "
        "(its test rows count as wrong) instead of that being an error",
    )
    parser.add_argument(
        "--sizes",
        default="50,100,200,500",
        metavar="N,N,...",
        help="training rows per learning-curve point (default: 50,100,200,500)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and training")
    parser.add_argument(
        "--min-confidence",
        type=float,
        metavar="X",
        help="train only on DATA rows whose confidence is >= X (0..1); reports how many were kept",
    )
    parser.add_argument(
        "--confidence-column",
        default="confidence",
        metavar="C",
        help="confidence column of DATA (default: confidence)",
    )
    parser.add_argument(
        "--method",
        choices=("embeddings", "finetune"),
        default="embeddings",
        help="embeddings (default; CPU) or finetune (transformers; for a GPU)",
    )
    parser.add_argument(
        "--report-dir", metavar="DIR", help="where report.md and the PNGs go (default: the folder of DATA)"
    )
    parser.add_argument("--no-report", action="store_true", help="do not write report.md")
    parser.add_argument("--json", metavar="OUT", help="also write all numbers as JSON here")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write over an existing --json file or report files not written by this command",
    )
    return parser


def parse_sizes(text: str) -> list[int]:
    """``"50,100,200"`` -> ``[50, 100, 200]``; raises :class:`ConfigError` on anything else."""
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise ConfigError(f"--sizes must be comma-separated integers, got {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--sizes must be positive integers, got {text!r}")
    return sizes


def parse_labels(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; at least two distinct labels."""
    labels = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if len(labels) < 2:
        raise ConfigError(f"--labels needs at least two comma-separated labels, got {text!r}")
    return labels


def _default_report_dir(train: str) -> Path:
    path = Path(train)
    # a file's folder; for a save_to_disk folder, the folder that holds it (next to the data)
    return path.parent


def _our_report(folder: Path) -> bool:
    """Whether ``folder`` holds a report this command wrote (its report files may be replaced)."""
    try:
        head = (folder / REPORT_MD).read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False
    return "by `fabricator evaluate student`" in head


def claim_targets(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """Check every file the command will write before any training: an existing file the user
    keeps is refused unless ``--force`` (a report this command wrote may be replaced). The
    ``--json`` file and the report's folder (``None``: not asked for)."""
    json_out = claim_file(args.json, force=args.force, what="--json file") if args.json else None
    if args.no_report:
        return json_out, None
    out_dir = Path(args.report_dir) if args.report_dir else _default_report_dir(args.train)
    for name in (REPORT_MD, CONFUSION_PNG, LEARNING_CURVE_PNG):
        path = claim_file(
            out_dir / name, force=args.force, ours=lambda p: _our_report(p.parent), what="report file"
        )
    return json_out, path.parent


def format_selection(selected: dict[str, Any]) -> str:
    """One line: how many training rows ``--min-confidence`` kept."""
    return (
        f"kept {selected['kept']} of {selected['rows']} training rows with {selected['column']} >= "
        f"{selected['min_confidence']:g} (coverage {selected['coverage']:.1%})"
    )


def format_student(
    result: StudentResult, curve: LearningCurve | None, comparison: dict[str, Any] | None
) -> str:
    """The plain-text report printed by the command."""
    selected = result.confidence_filter
    lines = [
        f"student: {result.model}",
        *([format_selection(selected)] if selected else []),
        f"trained on {result.n_train} rows, tested on {result.n_test} rows, seed {result.seed}",
        *(
            [
                f"not trained on {result.untrained_labels} (absent or under 2 rows): their test rows "
                "count as wrong"
            ]
            if result.untrained_labels
            else []
        ),
        "",
        f"accuracy {score(result.accuracy)}   macro-F1 {score(result.macro_f1)}   "
        f"weighted-F1 {score(result.weighted_f1)}",
        "time: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in result.timings.items()),
        "",
    ]
    lines += text_table(
        ["label", "train rows", "precision", "recall", "f1", "support"], result.class_rows(score)
    )
    cm = result.confusion_matrix
    lines += ["", "confusion matrix (rows: gold, columns: predicted)"]
    lines += text_table(
        ["gold \\ pred", *cm["labels"]],
        [[label, *row] for label, row in zip(cm["labels"], cm["matrix"], strict=False)],
    )
    if curve is not None:
        lines += ["", f"learning curve (seeded sample, seed {curve.seed}; test rows {curve.n_test})"]
        header = ["rows"]
        for s in curve.sources():
            header += [f"{s} acc", f"{s} macro-F1"]
        lines += text_table(header, curve.score_rows(score))
        lines += [f"  skipped {s['source']} n={s['n']}: {s['reason']}" for s in curve.skipped]
    if comparison is not None:
        gen, gold = comparison["generated"], comparison["gold"]
        lines += ["", "diagnostics"]
        lines += text_table(
            ["", "generated", "gold"],
            [
                ["rows", gen["rows"], gold["rows"]],
                ["duplicate rate", f"{gen['duplicate_rate']:.3f}", f"{gold['duplicate_rate']:.3f}"],
                ["words mean", f"{gen['length']['mean']:.1f}", f"{gold['length']['mean']:.1f}"],
                ["distinct-1", f"{gen['distinct_1']:.3f}", f"{gold['distinct_1']:.3f}"],
                ["distinct-2", f"{gen['distinct_2']:.3f}", f"{gold['distinct_2']:.3f}"],
                *diversity_rows(comparison),
            ],
        )
        notes = {d.get("embedding_note") for d in comparison.get("diversity", {}).values()}
        lines += [f"  note: {note}" for note in sorted(n for n in notes if n)]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def diversity_rows(comparison: dict[str, Any]) -> list[list[str]]:
    """Console rows of the diversity figures (``comparison["diversity"]``), generated vs gold."""
    found = comparison.get("diversity")
    if not found:
        return []
    gen, gold = found["generated"], found["gold"]
    copies = gen.get("near_gold_copies")
    rows = [
        ["distinct-3", _num(gen["distinct_3"]), _num(gold["distinct_3"])],
        ["embedding spread", _num(gen["embedding_spread"]), _num(gold["embedding_spread"])],
        ["nearest-gold similarity", _num(gen.get("nearest_gold")), "-"],
        ["near copies of gold", "-" if copies is None else f"{copies:.1%}", "-"],
    ]
    counts_gen, counts_gold = gen.get("per_class") or {}, gold.get("per_class") or {}
    for label in dict.fromkeys([*counts_gold, *counts_gen]):
        rows.append([f"rows labelled {label}", str(counts_gen.get(label, 0)), str(counts_gold.get(label, 0))])
    return rows


@command
def run_evaluate_student(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Train, print, write the report and ``--json``; 0 on success, 2 on bad input."""
    sizes = parse_sizes(args.sizes) if args.gold_train else None
    json_out, out_dir = claim_targets(args)
    min_confidence = args.min_confidence
    train = load_table(args.train)
    selected = None
    if min_confidence is not None:  # once, so student, curve and diagnostics see the same rows
        column = args.confidence_column or "confidence"
        train, selected = keep_confident(train, min_confidence, column=column)
    test = load_table(args.test)
    gold_train = load_table(args.gold_train) if args.gold_train else None
    columns = {"text_column": args.text_column, "label_column": args.label_column}
    labels = parse_labels(args.labels) if args.labels else None
    result = train_student(train, test, seed=args.seed, method=args.method, labels=labels, **columns)
    result.confidence_filter = selected
    curve = None
    if gold_train is not None and sizes is not None:
        curve = learning_curve(
            train, test, sizes, gold_train, seed=args.seed, method=args.method, labels=labels, **columns
        )
    gold = gold_train if gold_train is not None else test
    comparison = compare(train, gold, **columns)
    # the student embedded these texts already (cached per text): the spread costs little more
    comparison["diversity"] = compare_diversity(train, gold, seed=args.seed, **columns)
    print(format_student(result, curve, comparison), file=stdout)
    if out_dir is not None:
        sources = {"training data": args.train, "test data (gold)": args.test}
        if args.gold_train:
            sources["gold training data"] = args.gold_train
        try:
            path = write_report(out_dir, result, curve=curve, comparison=comparison, sources=sources)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the report into {out_dir}: {exc}", hint="pass a writable --report-dir"
            ) from exc
        print(f"\nreport written to {path}", file=stdout)
    if json_out is None:
        return 0
    data = {
        "train": args.train,
        "test": args.test,
        "gold_train": args.gold_train,
        "student": result.to_dict(),
        "learning_curve": curve.to_dict() if curve is not None else None,
        "diagnostics": comparison,
    }
    data["student"].pop("metrics", None)
    return write_json(json_out, data, stdout=stdout, stderr=stderr)
