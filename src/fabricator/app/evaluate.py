"""``fabricator evaluate annotations`` (score an annotated file against a gold file) and
``fabricator evaluate diversity`` (how varied a dataset is).

The main CLI owns the ``evaluate`` command and calls :func:`add_evaluate_annotations_parser` and
:func:`add_evaluate_diversity_parser` with its sub-parsers object. Each registered parser sets
``handler`` (and ``func``) to its ``run_...`` function, which prints the report and returns the
exit status (0, or 2 for bad input).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from fabricator.app.commands import add_command, command, write_json
from fabricator.app.safe_files import claim_file, expand_path
from fabricator.errors import ConfigError
from fabricator.evaluation.confidence_plot import plot_risk_coverage
from fabricator.evaluation.diversity import diversity_of_file, format_diversity
from fabricator.evaluation.metrics import TASKS, evaluate_files, format_report

__all__ = [
    "add_evaluate_annotations_parser",
    "add_evaluate_diversity_parser",
    "run_evaluate_annotations",
    "run_evaluate_diversity",
]


_HELP = "score annotations (predictions) against gold labels"
_DESCRIPTION = (
    "Compare a predictions file with a gold file (JSONL, JSON, CSV/TSV, Parquet or a "
    "save_to_disk folder, read as 'fabricator generate' reads its data). Rows are aligned "
    "by an 'id'/'idx' column when both files have one, else by order, else by the input "
    "columns both files share. The task is inferred from the gold columns (label / "
    "ner_tags / answers) unless --task is given. When classification predictions carry a "
    "confidence column (the probability of the chosen label, written by label scoring), the "
    "report adds the expected calibration error and a risk-coverage table: the accuracy of the "
    "most confident 100%, 90%, ... of the rows and the confidence threshold that keeps them."
)


def add_evaluate_annotations_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``annotations`` under an ``evaluate`` sub-parsers object; returns the parser."""
    parser = add_command(
        subparsers, "annotations", run_evaluate_annotations, help=_HELP, description=_DESCRIPTION
    )
    parser.add_argument("--predictions", required=True, metavar="P", help="annotated file")
    parser.add_argument("--gold", required=True, metavar="G", help="gold file")
    parser.add_argument("--task", choices=TASKS, help="default: inferred from the gold columns")
    parser.add_argument("--label-column", help="gold label column (default: label / ner_tags / answers)")
    parser.add_argument("--prediction-column", help="predicted label column (default: the label column)")
    parser.add_argument("--id-column", help="column that aligns rows (default: id or idx)")
    parser.add_argument("--split", help="split of a saved DatasetDict")
    parser.add_argument(
        "--confidence-column",
        metavar="C",
        help="confidence column of the predictions (default: confidence, when the file has it)",
    )
    parser.add_argument(
        "--plot", metavar="PNG", help="write a risk-coverage and reliability plot here (needs a confidence)"
    )
    parser.add_argument("--json", metavar="OUT", help="also write the full result as JSON here")
    _add_force(parser)
    return parser


#: the file types the plot can be saved as (matplotlib's Agg canvas), by suffix
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".eps", ".ps")


def _add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true", help="write over existing --json/--plot files (refused otherwise)"
    )


def _plot_target(plot: str, force: bool) -> Path:
    """The file the plot goes to: checked like every output file, ``.png`` added when no type is named."""
    path = expand_path(plot, "--plot")
    if path.is_dir():  # before a suffix is added: never write DIR.png beside a folder named DIR
        claim_file(path, force=force, what="--plot file")
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(
            f"--plot {plot}: cannot save a plot as {path.suffix!r}",
            hint="name the file with one of " + ", ".join(PLOT_SUFFIXES),
        )
    return claim_file(path, force=force, what="--plot file")


def _json_target(path: str | None, force: bool) -> Path | None:
    return None if path is None else claim_file(path, force=force, what="--json file")


@command
def run_evaluate_annotations(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Evaluate, print the report, optionally write ``--json``; 0 on success, 2 on bad input."""
    force = args.force
    plot = _plot_target(args.plot, force) if args.plot else None
    json_out = _json_target(args.json, force)  # both checked before the work: no surprise at the end
    result = evaluate_files(
        args.predictions,
        args.gold,
        args.task,
        label_column=args.label_column,
        prediction_column=args.prediction_column,
        id_column=args.id_column,
        split=args.split,
        confidence_column=args.confidence_column,
    )
    if plot and not result.get("confidence", {}).get("n"):
        raise ConfigError(
            "--plot needs classification predictions with a confidence, and "
            f"{args.predictions} has none (task: {result['task']})",
            hint="annotate with label scoring so rows carry a confidence (or name its --confidence-column)",
        )
    print(format_report(result), file=stdout)
    if plot:
        print(f"plot written to {plot_risk_coverage(result['confidence'], plot)}", file=stdout)
    return write_json(json_out, result, stdout=stdout, stderr=stderr) if json_out else 0


_DIVERSITY_HELP = "how varied a dataset is: distinct-n, embedding spread, class and attribute counts"
_DIVERSITY_DESCRIPTION = (
    "The diversity report of DATA (a JSONL/JSON/CSV/Parquet file, or a Fabricator output folder: "
    "its data.jsonl and provenance.jsonl): distinct-1/2/3, the duplicate rate, the embedding "
    "spread (mean cosine distance between rows, on the bundled all-MiniLM-L6-v2; a seeded sample "
    "beyond --max-rows rows), rows per class and per attribute (from the provenance), and with "
    "--gold the mean similarity of each row to its nearest gold text and the share of near copies "
    "(similarity >= 0.95). The embedding figures need pip install 'fabricator-data[student]'."
)


def add_evaluate_diversity_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``diversity`` under an ``evaluate`` sub-parsers object; returns the parser."""
    parser = add_command(
        subparsers,
        "diversity",
        run_evaluate_diversity,
        help=_DIVERSITY_HELP,
        description=_DIVERSITY_DESCRIPTION,
    )
    parser.add_argument("data", metavar="DATA", help="data file or Fabricator output folder")
    parser.add_argument("--gold", metavar="GOLD", help="gold data: adds the nearest-gold similarity")
    parser.add_argument("--text-column", default="text", help="text column (default: text)")
    parser.add_argument(
        "--label-column", default="label", help="label column, counted when present (default: label)"
    )
    parser.add_argument(
        "--provenance",
        metavar="P",
        help="provenance.jsonl with per-row attributes (default: the output folder's own)",
    )
    parser.add_argument("--no-embeddings", action="store_true", help="skip the embedding figures (fast)")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=2000,
        metavar="N",
        help="rows embedded for the spread and nearest-gold (a seeded sample beyond; default: 2000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    parser.add_argument("--json", metavar="OUT", help="also write the report as JSON here")
    _add_force(parser)
    return parser


@command
def run_evaluate_diversity(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Compute, print, optionally write ``--json``; 0 on success, 2 on bad input."""
    json_out = _json_target(args.json, args.force)
    result = diversity_of_file(
        args.data,
        gold=args.gold,
        text_column=args.text_column,
        label_column=args.label_column,
        provenance=args.provenance,
        embeddings=not args.no_embeddings,
        max_pairs_rows=args.max_rows,
        seed=args.seed,
    )
    print(f"diversity of {result['sources']['data']}", file=stdout)
    print(format_diversity(result), file=stdout)
    return write_json(json_out, result, stdout=stdout, stderr=stderr) if json_out else 0
