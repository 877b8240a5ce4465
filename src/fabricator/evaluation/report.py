"""Plots and a Markdown report of a student evaluation (matplotlib, Agg backend, no display).

:func:`write_report` writes into one folder ``report.md``, ``confusion_matrix.png`` and, when a
learning curve is given, ``learning_curve.png``; the Markdown links the PNGs by relative path and
carries the numbers: metrics, per-class scores, the confusion matrix, the learning curve and the
diagnostics of the generated data next to the gold data (with the diversity figures of
:mod:`fabricator.evaluation.diversity` when the comparison carries them under ``"diversity"``).

The plots draw on ``matplotlib.figure.Figure`` with the Agg canvas directly, so the global
pyplot backend of the calling program (a notebook, say) is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabricator.errors import ConfigError
from fabricator.markdown import table

if TYPE_CHECKING:
    from fabricator.evaluation.student import LearningCurve, StudentResult

__all__ = [
    "CONFUSION_PNG",
    "LEARNING_CURVE_PNG",
    "REPORT_MD",
    "plot_confusion_matrix",
    "plot_learning_curve",
    "render_markdown",
    "write_report",
]

REPORT_MD = "report.md"
CONFUSION_PNG = "confusion_matrix.png"
LEARNING_CURVE_PNG = "learning_curve.png"
_COLORS = {"generated": "tab:blue", "gold": "tab:orange"}


def _figure(size: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(
            "plots need matplotlib, which is not installed", hint="pip install 'fabricator-data[student]'"
        ) from exc
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curve(curve: LearningCurve, path: str | Path, *, title: str | None = None) -> Path:
    """Accuracy (solid) and macro-F1 (dashed) against training rows, one colour per source."""
    path = Path(path)
    if not curve.points:
        raise ConfigError(
            "the learning curve has no points to plot", hint="use sizes no larger than the data"
        )
    fig = _figure((7, 4.5))
    ax = fig.add_subplot()
    for source in curve.sources():
        points = curve.series(source)
        ns = [p.n for p in points]
        color = _COLORS.get(source)
        ax.plot(ns, [p.accuracy for p in points], marker="o", color=color, label=f"{source} data: accuracy")
        ax.plot(
            ns,
            [p.macro_f1 for p in points],
            marker="s",
            linestyle="--",
            color=color,
            alpha=0.7,
            label=f"{source} data: macro-F1",
        )
    all_n = sorted({p.n for p in curve.points})
    if len(all_n) > 1 and all_n[-1] / all_n[0] >= 8:
        ax.set_xscale("log")
    ax.set_xticks(all_n)
    ax.set_xticklabels([str(n) for n in all_n])
    ax.minorticks_off()
    ax.set_xlabel(
        "training rows (seeded sample)" if curve.sampling == "random" else "training rows (first n)"
    )
    ax.set_ylabel(f"score on the test set ({curve.n_test} rows)")
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"Learning curve: student ({curve.method}) on generated vs gold data")
    ax.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_confusion_matrix(result: StudentResult, path: str | Path, *, title: str | None = None) -> Path:
    """The confusion matrix of a :class:`StudentResult` (rows gold, columns predicted), counts."""
    import numpy as np

    path = Path(path)
    labels = list(result.confusion_matrix["labels"])
    matrix = np.array(result.confusion_matrix["matrix"], dtype=float)
    k = len(labels)
    side = min(3.0 + 0.6 * k, 14.0)
    fig = _figure((side + 1.0, side))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, label="rows")
    ax.set_xticks(range(k))
    ax.set_xticklabels(labels, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k))
    ax.set_yticklabels(labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("gold label")
    top = matrix.max() if matrix.size else 0
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{int(matrix[i, j])}",
                    ha="center",
                    va="center",
                    color="white" if top and matrix[i, j] > top / 2 else "black",
                )
    ax.set_title(title or f"Confusion matrix (accuracy {result.accuracy:.3f}, {result.n_test} test rows)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# --- markdown -----------------------------------------------------------------------------------


def _md_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    return table(header, rows, numbers=True)  # figures right-aligned


def _f(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _diagnostics_rows(comparison: Mapping[str, Any]) -> list[list[str]]:
    gen, gold = comparison["generated"], comparison["gold"]
    rows = [
        ["rows", str(gen["rows"]), str(gold["rows"])],
        ["duplicate rate (normalised exact)", _pct(gen["duplicate_rate"]), _pct(gold["duplicate_rate"])],
        ["words per text: mean", _f(gen["length"]["mean"], 1), _f(gold["length"]["mean"], 1)],
        ["words per text: median", _f(gen["length"]["median"], 1), _f(gold["length"]["median"], 1)],
        [
            "words per text: p10 / p90",
            f"{gen['length']['p10']:.1f} / {gen['length']['p90']:.1f}",
            f"{gold['length']['p10']:.1f} / {gold['length']['p90']:.1f}",
        ],
        ["distinct-1", _f(gen["distinct_1"]), _f(gold["distinct_1"])],
        ["distinct-2", _f(gen["distinct_2"]), _f(gold["distinct_2"])],
        *_diversity_rows(comparison),
    ]
    labels = list(dict.fromkeys([*gold.get("labels", {}), *gen.get("labels", {})]))
    for label in labels:
        g = gen.get("labels", {}).get(label, {"count": 0, "share": 0.0})
        o = gold.get("labels", {}).get(label, {"count": 0, "share": 0.0})
        rows.append(
            [f"label {label!s}", f"{g['count']} ({_pct(g['share'])})", f"{o['count']} ({_pct(o['share'])})"]
        )
    if "overlap_with_gold" in comparison:
        rows.append(["generated texts also in gold", _pct(comparison["overlap_with_gold"]), "–"])
    return rows


def _diversity_rows(comparison: Mapping[str, Any]) -> list[list[str]]:
    found = comparison.get("diversity")
    if not found:
        return []
    gen, gold = found["generated"], found["gold"]
    copies = gen.get("near_gold_copies")
    return [
        ["distinct-3", _f(gen["distinct_3"]), _f(gold["distinct_3"])],
        [
            "embedding spread (mean cosine distance)",
            _f(gen["embedding_spread"]),
            _f(gold["embedding_spread"]),
        ],
        ["nearest-gold similarity (mean)", _f(gen.get("nearest_gold")), "–"],
        ["near copies of gold (similarity >= 0.95)", "–" if copies is None else _pct(copies), "–"],
    ]


def _metric_rows(result: StudentResult) -> list[list[Any]]:
    chance = max(s["support"] for s in result.per_class.values()) / max(result.n_test, 1)
    rows: list[list[Any]] = [
        ["accuracy", _f(result.accuracy)],
        ["macro-F1", _f(result.macro_f1)],
        ["weighted-F1", _f(result.weighted_f1)],
        ["majority-class accuracy (test)", _f(chance)],
        ["training rows", result.n_train],
    ]
    kept = result.confidence_filter
    if kept:
        rows.append(
            [
                f"kept by {kept['column']} >= {kept['min_confidence']:g}",
                f"{kept['kept']} of {kept['rows']} ({_pct(kept['coverage'])})",
            ]
        )
    if result.untrained_labels:
        rows.append(["labels not learned (test rows count as wrong)", ", ".join(result.untrained_labels)])
    return [
        *rows,
        ["test rows", result.n_test],
        ["method", result.method],
        ["model", result.model],
        ["seed", result.seed],
        ["time (s)", ", ".join(f"{k[:-2]} {v:.2f}" for k, v in result.timings.items())],
    ]


def _classes_section(result: StudentResult, confusion_png: str | None) -> list[str]:
    lines = ["", "## Per class", ""]
    lines += _md_table(
        ["label", "training rows", "precision", "recall", "F1", "test support"],
        result.class_rows(_f),
    )
    lines += ["", "## Confusion matrix", ""]
    if confusion_png:
        lines += [f"![Confusion matrix]({confusion_png})", ""]
    cm = result.confusion_matrix
    lines += _md_table(
        ["gold \\ predicted", *cm["labels"]],
        [[label, *row] for label, row in zip(cm["labels"], cm["matrix"], strict=False)],
    )
    return lines


def _curve_section(curve: LearningCurve, curve_png: str | None) -> list[str]:
    lines = ["", "## Learning curve", ""]
    how = (
        f"the first n rows of a shuffle with seed {curve.seed}"
        if curve.sampling == "random"
        else "the first n rows as stored"
    )
    lines.append(f"Students trained on {how}, scored on the same {curve.n_test} test rows.")
    lines.append("")
    if curve_png and curve.points:
        lines += [f"![Learning curve]({curve_png})", ""]
    header = ["training rows"]
    for s in curve.sources():
        header += [f"{s}: accuracy", f"{s}: macro-F1"]
    lines += _md_table(header, curve.score_rows(_f))
    if curve.skipped:
        lines.append("")
        lines += [f"- skipped {s['source']} n={s['n']}: {s['reason']}" for s in curve.skipped]
    return lines


def _diagnostics_section(comparison: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Diagnostics: generated vs gold", ""]
    lines.append(
        "Duplicates: same text after lowercasing and collapsing whitespace. "
        "Distinct-n: distinct n-grams / all n-grams over the dataset (whitespace "
        "tokens). Lengths in words."
    )
    found = comparison.get("diversity")
    if found:
        gen = found["generated"]
        sample = (
            f" (a seeded sample of {gen['spread_rows']} rows)" if 0 < gen["spread_rows"] < gen["rows"] else ""
        )
        lines[-1] += (
            " Embedding spread: mean cosine distance between two rows' sentence embeddings"
            f"{sample}; nearest-gold similarity: mean over generated rows of the cosine "
            "similarity to the most similar gold text."
        )
        notes = sorted({n for d in found.values() if (n := d.get("embedding_note"))})
        lines += [f"Note: {n.rstrip('.')}." for n in notes]
    lines.append("")
    lines += _md_table(["", "generated", "gold"], _diagnostics_rows(comparison))
    return lines


def render_markdown(
    result: StudentResult,
    *,
    curve: LearningCurve | None = None,
    comparison: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
    confusion_png: str | None = CONFUSION_PNG,
    curve_png: str | None = LEARNING_CURVE_PNG,
    title: str = "Is the data any good? Student classifier report",
) -> str:
    """The Markdown text of the report (image links relative to the report's folder)."""
    lines = [f"# {title}", ""]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(
        f"Written {stamp} by `fabricator evaluate student`. A student classifier was "
        "trained on the training data and scored on the test (gold) data."
    )
    lines.append("")
    if sources:
        lines += _md_table(["input", "path"], [[k, f"`{v}`"] for k, v in sources.items()])
        lines.append("")
    lines += ["## Metrics", ""]
    lines += _md_table(["metric", "value"], _metric_rows(result))
    lines += _classes_section(result, confusion_png)
    if curve is not None:
        lines += _curve_section(curve, curve_png)
    if comparison is not None:
        lines += _diagnostics_section(comparison)
    return "\n".join(lines) + "\n"


def write_report(
    out_dir: str | Path,
    result: StudentResult,
    *,
    curve: LearningCurve | None = None,
    comparison: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
    title: str = "Is the data any good? Student classifier report",
) -> Path:
    """Write ``report.md`` and its PNGs into ``out_dir`` (created); returns the report's path."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the report folder {out}: {exc}") from exc
    plot_confusion_matrix(result, out / CONFUSION_PNG)
    curve_png = None
    if curve is not None and curve.points:
        plot_learning_curve(curve, out / LEARNING_CURVE_PNG)
        curve_png = LEARNING_CURVE_PNG
    text = render_markdown(
        result,
        curve=curve,
        comparison=comparison,
        sources=sources,
        confusion_png=CONFUSION_PNG,
        curve_png=curve_png,
        title=title,
    )
    path = out / REPORT_MD
    path.write_text(text, encoding="utf-8")
    return path
