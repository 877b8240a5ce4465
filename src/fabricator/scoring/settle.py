"""The last step of a scored annotation: calibrate the labels, then keep the confident rows.

Run on the rows of the whole run at once (calibration needs them all), in row order, so the result
does not depend on which request finished first or on a resume. A row's raw scores stay in its
provenance (``label_scores``); calibrated ones are added as ``calibrated_scores``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..execution.work import Row
from ..formats.base import OutputFormat
from .calibration import calibrate
from .temperature import tempered


def label_column(fmt: OutputFormat) -> str:
    """The column a scored format writes its label to (its one column)."""
    return next(iter(fmt.features()))


@dataclass
class Settled:
    """The rows kept, and the indices and confidences of those below ``min_confidence``."""

    rows: list[Row]
    unsure: list[tuple[Row, float]] = field(default_factory=list)
    changed: int = 0  # labels calibration changed


def settle(
    rows: Sequence[Row],
    column: str,
    labels: Sequence[str],
    *,
    calibration: str = "off",
    min_confidence: float | None = None,
    target: Mapping[str, float] | None = None,
    prior: Mapping[str, float] | None = None,
    temperature: float = 1.0,
) -> Settled:
    """Calibrated labels and confidences (``calibration="batch"``, towards ``target`` label
    frequencies if given; the prior divided out is the rows' own mean unless ``prior`` is given),
    then each confidence rescaled by ``temperature`` (fitted by tuning), then the
    ``min_confidence`` filter."""
    scored = [r for r in rows if r.provenance.get("label_scores")]
    changed = 0
    if calibration == "batch" and scored:
        raw = [r.provenance["label_scores"] for r in scored]
        for row, scores in zip(scored, calibrate(raw, labels, prior=prior, target=target), strict=True):
            label = max(labels, key=lambda name: scores[name])
            changed += label != row[column]
            row.values[column] = label
            row.values["confidence"] = scores[label]
            row.provenance["calibrated_scores"] = {k: round(v, 6) for k, v in scores.items()}
    if temperature != 1.0:  # fitted on held-out pool rows (``tune``): the label stays, its confidence moves
        for row in scored:
            base = row.provenance.get("calibrated_scores") or row.provenance["label_scores"]
            scores = tempered(base, temperature)
            row.values["confidence"] = scores[str(row[column])]
            row.provenance["tempered_confidence"] = round(scores[str(row[column])], 6)
    if min_confidence is None:
        return Settled(list(rows), changed=changed)
    kept, unsure = [], []
    for row in rows:
        confidence = row.values.get("confidence")
        if confidence is not None and confidence < min_confidence:
            unsure.append((row, float(confidence)))
        else:
            kept.append(row)
    return Settled(kept, unsure, changed)


__all__ = ["Settled", "label_column", "settle"]
