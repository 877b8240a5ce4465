"""The plot of a student loop (``summary()["student_loop"]``): the student's pool accuracy after
each round, and the rows asked of each label, drawn on matplotlib's Agg canvas (headless; the
caller's pyplot backend is left alone). Plain numbers in, so a saved ``metadata.json`` can be
plotted again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fabricator.errors import ConfigError
from fabricator.evaluation.report import _figure

__all__ = ["STUDENT_LOOP_PNG", "plot_student_loop"]

STUDENT_LOOP_PNG = "student_loop.png"


def plot_student_loop(loop: Mapping[str, Any], path: str | Path) -> Path:
    """Left: accuracy and macro-F1 on the held-out pool rows per round (x: rows trained on).
    Right: the rows each round asked of each label (the first evenly, then as the student steered).
    Returns ``path``; a :class:`ConfigError` when no round has a student or the file cannot be
    written."""
    rounds = list(loop.get("rounds") or ())
    scored = [r for r in rounds if r.get("accuracy") is not None]
    if not scored:
        raise ConfigError(
            "no round of the student loop trained a student: nothing to plot",
            hint="generate more rows a round (fewer student_rounds)",
        )
    path = Path(path)
    fig = _figure((10, 4.2))
    left, right = fig.subplots(1, 2)
    x = [r["rows"] for r in scored]
    left.plot(x, [r["accuracy"] for r in scored], marker="o", color="tab:blue", label="accuracy")
    left.plot(
        x, [r["macro_f1"] for r in scored], marker="s", linestyle="--", color="tab:orange", label="macro-F1"
    )
    for r in scored:
        left.annotate(f"round {r['round']}", (r["rows"], r["accuracy"]), textcoords="offset points",
                      xytext=(0, 6), ha="center", fontsize=7)  # fmt: skip
    left.set_xlabel("generated rows the student was trained on")
    left.set_ylabel(f"score on {loop.get('test_rows', '?')} held-out pool rows")
    left.set_title("student after each round")
    left.margins(y=0.15)
    left.grid(alpha=0.3)
    left.legend(loc="lower right")
    _asked(right, rounds)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, format="png")
    except OSError as exc:
        raise ConfigError(f"cannot write the plot {path}: {exc}", hint="pick a writable path") from exc
    return path


def _asked(ax: Any, rounds: list[Mapping[str, Any]]) -> None:
    """Stacked bars: the rows each round was trained on, by label (the rows the steering asked for
    show in the next round's bar)."""
    labels = list(rounds[0].get("rows_by_label") or {})
    names = [f"round {r['round']}" for r in rounds]
    bottom = [0] * len(rounds)
    for label in labels:
        heights = [int((r.get("rows_by_label") or {}).get(label, 0)) for r in rounds]
        ax.bar(names, heights, bottom=bottom, label=label)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylabel("rows kept so far, by label")
    ax.set_title("rows by label (steered after round 1)")
    ax.legend(loc="upper left", fontsize=7)
