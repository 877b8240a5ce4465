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
from .pool_classifier import mix
from .temperature import tempered


def label_column(fmt: OutputFormat) -> str:
    """The column a scored format writes its label to (its one column)."""
    return next(iter(fmt.features()))


@dataclass(frozen=True)
class Tuning:
    """What tuning set for a run's scores: a temperature for the confidences, and a pool
    classifier's scores of each row (``None``: none for that row) with their weight in the mix."""

    temperature: float = 1.0
    pool_scores: Sequence[Mapping[str, float] | None] | None = None
    pool_weight: float = 0.0


@dataclass
class Settled:
    """The rows kept, and the indices and confidences of those below ``min_confidence``."""

    rows: list[Row]
    unsure: list[tuple[Row, float]] = field(default_factory=list)
    changed: int = 0  # labels calibration changed
    pool_changed: int = 0  # labels the pool classifier's mix changed (after calibration)


def settle(
    rows: Sequence[Row],
    column: str,
    labels: Sequence[str],
    *,
    calibration: str = "off",
    min_confidence: float | None = None,
    target: Mapping[str, float] | None = None,
    prior: Mapping[str, float] | None = None,
    tuning: Tuning | None = None,
) -> Settled:
    """Calibrated labels and confidences (``calibration="batch"``, towards ``target`` label
    frequencies if given; the prior divided out is the rows' own mean unless ``prior`` is given),
    then mixed with a pool classifier's scores, then each confidence rescaled by a temperature
    (both set by ``tuning``), then the ``min_confidence`` filter."""
    tuning = tuning or Tuning()
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
    pool_changed = 0
    if tuning.pool_scores is not None and tuning.pool_weight:
        for row, theirs in zip(rows, tuning.pool_scores, strict=True):
            if theirs is None or not row.provenance.get("label_scores"):
                continue
            base = row.provenance.get("calibrated_scores") or row.provenance["label_scores"]
            scores = mix(base, theirs, tuning.pool_weight)
            label = max(labels, key=lambda name: scores.get(name, 0.0))
            pool_changed += label != row[column]
            row.values[column] = label
            row.values["confidence"] = scores[label]
            row.provenance["pool_scores"] = {k: round(v, 6) for k, v in theirs.items()}
            row.provenance["mixed_scores"] = {k: round(v, 6) for k, v in scores.items()}
    if tuning.temperature != 1.0:  # fitted on held-out pool rows: the label stays, its confidence moves
        for row in scored:
            base = (
                row.provenance.get("mixed_scores")
                or row.provenance.get("calibrated_scores")
                or row.provenance["label_scores"]
            )
            scores = tempered(base, tuning.temperature)
            row.values["confidence"] = scores[str(row[column])]
            row.provenance["tempered_confidence"] = round(scores[str(row[column])], 6)
    if min_confidence is None:
        return Settled(list(rows), changed=changed, pool_changed=pool_changed)
    kept, unsure = [], []
    for row in rows:
        confidence = row.values.get("confidence")
        if confidence is not None and confidence < min_confidence:
            unsure.append((row, float(confidence)))
        else:
            kept.append(row)
    return Settled(kept, unsure, changed, pool_changed)


__all__ = ["Settled", "Tuning", "label_column", "settle"]
