"""The plot of ``fabricator evaluate annotations --plot``: risk–coverage and reliability diagram.

Drawn from the ``confidence`` part of an :func:`~fabricator.evaluation.metrics.evaluate_files`
result (plain numbers, so a saved ``--json`` file can be plotted again), with matplotlib's Agg
canvas: no display, and the caller's pyplot backend is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fabricator.errors import ConfigError
from fabricator.evaluation.report import _figure

__all__ = ["plot_risk_coverage"]


def plot_risk_coverage(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Left: accuracy of the most confident rows against coverage, each point with its threshold.
    Right: accuracy per confidence bin against the diagonal of perfect calibration. Returns
    ``path``; a :class:`ConfigError` when there is nothing to plot or the file cannot be written."""
    if not summary.get("n"):
        raise ConfigError(
            "no row has a prediction and a confidence: nothing to plot",
            hint="annotate with label scoring so rows carry a confidence, or drop --plot",
        )
    path = Path(path)
    fig = _figure((10, 4.2))
    left, right = fig.subplots(1, 2)
    points = sorted(summary["risk_coverage"], key=lambda p: p["coverage"])
    coverage = [p["coverage"] for p in points]
    left.plot(coverage, [p["accuracy"] for p in points], marker="o", color="tab:blue")
    for p in points:
        left.annotate(
            f"{p['threshold']:.2f}",
            (p["coverage"], p["accuracy"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=7,
        )
    left.set_xlim(0, 1.05)
    left.margins(y=0.15)  # room for the threshold labels above the points
    left.set_xlabel("coverage (share of rows kept, most confident first)")
    left.set_ylabel("accuracy of the kept rows")
    left.set_title(f"risk-coverage (AURC {summary['aurc']:.3f}; labels: threshold)")
    left.grid(alpha=0.3)

    bins = [b for b in summary["bins"] if b["n"]]
    width = summary["bins"][0]["upper"] - summary["bins"][0]["lower"]
    right.bar(
        [b["lower"] for b in bins],
        [b["accuracy"] for b in bins],
        width=width,
        align="edge",
        edgecolor="black",
        color="tab:blue",
        alpha=0.7,
        label="accuracy",
    )
    right.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_xlabel("confidence")
    right.set_ylabel("accuracy")
    right.set_title(f"reliability (ECE {summary['ece']:.3f}, {summary['n']} rows)")
    right.legend(loc="upper left")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise ConfigError(f"cannot write the plot {path}: {exc}", hint="pass a writable --plot path") from exc
    return path
