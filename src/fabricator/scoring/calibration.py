"""Taking a model's prior over the labels out of its scores (batch calibration).

A small model leans towards some labels whatever the input (the TREC prior towards
"description"). The mean of its label distributions over the rows of a run estimates that lean;
dividing each row's distribution by it and renormalizing removes it (Zhou et al., 2023, "Batch
Calibration"; the content-free variant of Zhao et al., 2021 estimates the same prior from an
empty input). It costs no model call and needs no gold label, but it assumes the rows of a run
are not all of one label, so it is off by default and measured per dataset (docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FLOOR = 1e-6  # a label the model never gives keeps a tiny prior instead of dividing by zero


def label_prior(rows: Sequence[Mapping[str, float]], labels: Sequence[str]) -> dict[str, float]:
    """The mean probability of each label over ``rows``."""
    n = max(1, len(rows))
    return {label: sum(r.get(label, 0.0) for r in rows) / n for label in labels}


def calibrate(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    prior: Mapping[str, float] | None = None,
    target: Mapping[str, float] | None = None,
) -> list[dict[str, float]]:
    """Each row's distribution divided by ``prior`` (default: the rows' own mean), times ``target``
    (the label frequencies expected in the data, e.g. the labelled few-shot pool's; default: all
    labels alike), renormalized."""
    prior = prior if prior is not None else label_prior(rows, labels)
    weight = {
        label: (target.get(label, 0.0) if target is not None else 1.0) / max(prior.get(label, 0.0), FLOOR)
        for label in labels
    }
    out = []
    for row in rows:
        raw = {label: row.get(label, 0.0) * weight[label] for label in labels}
        total = sum(raw.values())
        out.append({label: (value / total if total > 0 else 0.0) for label, value in raw.items()})
    return out


__all__ = ["calibrate", "label_prior"]
