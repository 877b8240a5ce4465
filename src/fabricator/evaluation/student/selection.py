"""Train on the rows the annotator was sure of: keep training rows whose confidence is high enough.

Label scoring writes a ``confidence`` column (the probability of the chosen label) beside each
label. :func:`keep_confident` keeps the rows at or above a threshold and says how many that was
(the coverage), so a student trained on them shows whether dropping unsure labels pays off.
"""

from __future__ import annotations

import math
from typing import Any

from fabricator.errors import ConfigError

__all__ = ["CONFIDENCE_COLUMN", "keep_confident"]

CONFIDENCE_COLUMN = "confidence"


def _value(value: Any) -> float:
    """A confidence as a float; NaN for an empty or unreadable one (never kept)."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def keep_confident(
    dataset: Any, min_confidence: float, *, column: str = CONFIDENCE_COLUMN, role: str = "training"
) -> tuple[Any, dict[str, Any]]:
    """The rows of ``dataset`` whose ``column`` is at least ``min_confidence``, and a summary.

    The summary holds ``min_confidence``, ``column``, ``rows`` (before), ``kept`` and ``coverage``
    (kept / rows). Rows with an empty confidence are dropped. Raises :class:`ConfigError` for a
    threshold outside [0, 1], a dataset without the column, or a threshold no row reaches.
    """
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)):
        raise ConfigError(f"min_confidence must be a number in [0, 1], got {min_confidence!r}")
    if not 0.0 <= min_confidence <= 1.0:  # NaN fails too
        raise ConfigError(
            f"min_confidence must be in [0, 1], got {min_confidence!r}",
            hint="the confidence is the probability of the chosen label, e.g. --min-confidence 0.8",
        )
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"{role} data must be a datasets.Dataset, not {type(dataset).__name__}",
            hint="load files with fabricator.tables.load_table",
        )
    names = list(dataset.column_names)
    if column not in names:
        raise ConfigError(
            f"{role} data has no confidence column {column!r}; its columns are: "
            + (", ".join(repr(c) for c in names) or "(none)"),
            hint="annotate with label scoring so rows carry a confidence, or drop min_confidence "
            "(--min-confidence)",
        )
    values = [_value(v) for v in dataset[column]]
    keep = [i for i, v in enumerate(values) if v >= min_confidence]
    if not keep:
        known = [v for v in values if not math.isnan(v)]
        highest = f"the highest is {max(known):.4f}" if known else "every confidence is empty"
        raise ConfigError(
            f"no {role} row has {column} >= {min_confidence} ({highest}, {len(values)} rows)",
            hint="lower --min-confidence",
        )
    summary = {
        "min_confidence": float(min_confidence),
        "column": column,
        "rows": len(values),
        "kept": len(keep),
        "coverage": len(keep) / len(values),
    }
    return dataset.select(keep), summary
