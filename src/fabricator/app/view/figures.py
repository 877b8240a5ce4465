"""The report page's figures, computed here so that they are tested without a browser.

Each function takes plain rows (dicts as the run folder's JSONL files hold them) and returns a
JSON-ready dict that the page's script only draws: histograms as bins with counts, the label
distribution beside the one the run asked for, the judge's scores per criterion, and the
risk–coverage points of :mod:`fabricator.evaluation.metrics` where a gold file is given.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...evaluation.metrics import evaluate_files

__all__ = [
    "JUDGE_PREFIX",
    "histogram",
    "judge_figures",
    "judge_scores",
    "label_figures",
    "number",
    "risk_coverage_figures",
]

#: the dataset column of a judge criterion's score is ``judge_<criterion>``
JUDGE_PREFIX = "judge_"
_DEFAULT_SCALE = (1.0, 5.0)


def number(value: Any) -> float | None:
    """A finite float, or ``None`` for anything else (text, booleans, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def histogram(values: Sequence[float], lower: float, upper: float, bins: int = 10) -> list[dict[str, Any]]:
    """Counts of ``values`` in ``bins`` equal-width bins of ``[lower, upper]`` (the last one closed).

    Values outside the range count in the nearest end bin, so every value is shown once.
    """
    width = (upper - lower) / bins if upper > lower else 1.0
    counts = [0] * bins
    for value in values:
        # round: 0.3 / 0.1 must land in bin 3 even where the quotient is 2.9999999999999996
        counts[min(max(math.floor(round((value - lower) / width, 9)), 0), bins - 1)] += 1
    return [
        {"lower": round(lower + b * width, 6), "upper": round(lower + (b + 1) * width, 6), "n": counts[b]}
        for b in range(bins)
    ]


def label_figures(
    labels: Sequence[str | None], names: Sequence[str], requested: int | None
) -> dict[str, Any]:
    """Rows per label in ``names``' order (others after, most frequent first), and what was asked.

    ``requested``: the rows a label-conditioned run asked for, dealt evenly over ``names`` (the
    plan's balanced order); ``None`` for runs that ask for no label (annotation, free text).
    """
    counts = Counter("(none)" if label is None else str(label) for label in labels)
    order = list(names)  # every label the run could give, those it never gave too
    order += sorted((n for n in counts if n not in order), key=lambda n: (-counts[n], n))
    total = len(labels)
    wanted = {n: requested / len(names) for n in names} if requested is not None and names else None
    return {
        "total": total,
        "labels": [
            {
                "label": name,
                "n": counts.get(name, 0),
                "share": counts.get(name, 0) / total if total else 0.0,
                "requested": None if wanted is None else round(wanted.get(name, 0.0), 4),
                "requested_share": None if wanted is None else (1 / len(names) if name in wanted else 0.0),
            }
            for name in order
        ],
    }


def judge_scores(data: Mapping[str, Any], provenance: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One row's judge scores: ``{criterion: {"score", "confidence", "distribution"}}``.

    From the provenance's ``judge`` entry; a ``judge_<criterion>`` column without one gives the
    score alone (data edited by hand, or written by another tool).
    """
    found: dict[str, dict[str, Any]] = {}
    given = provenance.get("judge")
    if isinstance(given, Mapping):
        for criterion, verdict in given.items():
            if isinstance(verdict, Mapping) and number(verdict.get("score")) is not None:
                found[str(criterion)] = {
                    "score": number(verdict.get("score")),
                    "confidence": number(verdict.get("confidence")),
                    "distribution": verdict.get("distribution") or {},
                }
    for column, value in data.items():
        criterion = column[len(JUDGE_PREFIX) :]
        if column.startswith(JUDGE_PREFIX) and criterion not in found and number(value) is not None:
            found[criterion] = {"score": number(value), "confidence": None, "distribution": {}}
    return found


def _scale(rows: Sequence[Mapping[str, Any]], scores: Sequence[float]) -> tuple[float, float]:
    """The judge's scale: the numeric answers of its distributions, else 1–5 widened to the scores."""
    points = [number(_as_float(k)) for r in rows for k in r.get("distribution", {})]
    known = [p for p in points if p is not None]
    low, high = (min(known), max(known)) if len(set(known)) > 1 else _DEFAULT_SCALE
    return min([low, *scores]), max([high, *scores])


def _as_float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def judge_figures(
    per_row: Sequence[Mapping[str, Mapping[str, Any]]], metadata: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Per criterion: its scores' histogram over the scale, mean, and what ``metadata.json`` says."""
    criteria = list(dict.fromkeys(c for row in per_row for c in row))
    criteria += [c for c in (metadata or {}) if c not in criteria]
    figures: dict[str, Any] = {}
    for criterion in criteria:
        verdicts = [row[criterion] for row in per_row if criterion in row]
        scores = [float(v["score"]) for v in verdicts]
        low, high = _scale(verdicts, scores)
        summary = (metadata or {}).get(criterion)
        figures[criterion] = {
            "n": len(scores),
            "mean": sum(scores) / len(scores) if scores else None,
            "scale": [low, high],
            "histogram": histogram(scores, low, high, bins=max(4, min(10, round(2 * (high - low))))),
            "metadata": summary if isinstance(summary, Mapping) else None,
        }
    return figures


def risk_coverage_figures(data_file: Path, gold: Path | None) -> dict[str, Any] | None:
    """Accuracy against coverage of the rows' confidences, scored on ``gold`` (``None``: no gold,
    or no row with a confidence); the scoring of ``fabricator evaluate annotations``."""
    if gold is None:
        return None
    result = evaluate_files(data_file, gold)
    confidence = result.get("confidence")
    if not confidence or not confidence.get("n"):
        return None
    return {
        "gold": str(gold),
        "n": confidence["n"],
        "aurc": confidence["aurc"],
        "ece": confidence["ece"],
        "accuracy": result["metrics"].get("accuracy"),
        "points": sorted(confidence["risk_coverage"], key=lambda p: p["coverage"]),
    }
