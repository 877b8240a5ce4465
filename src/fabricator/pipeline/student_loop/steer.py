"""The student's errors turned into the next round: how many rows of each label, which examples.

* **Rows.** Half of a round's rows are dealt evenly, half by the student's errors: a test row it
  gets wrong counts 1 for its gold label (the label it misses) and 1/2 for the label it was taken
  for (the other side of the confusion; in full, a two-label task could never be steered). So a
  label it misses gets the most rows, and none gets less than half its even share.
* **Examples.** For each label, the shown pool rows nearest (cosine, in the student's embedding
  space) to the test rows of that label it got wrong: each error's nearest in turn, one row per
  error, at least the examples one prompt shows and at least ``KEEP_SHOWN`` of the label's shown
  rows (a handful of examples shown again and again makes a small teacher write the same rows).
  A label without errors keeps all its shown rows.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...samplers import FewShotPool
from ..plan import Planner

#: share of a round's rows dealt by the student's errors (the rest evenly, so no label starves)
STEER_SHARE = 0.5
#: what an error counts for the label the student took the row for (its gold label: 1)
TAKEN_FOR = 0.5
#: the share of a steered label's shown rows its prompts still draw from (the nearest to its errors)
KEEP_SHOWN = 0.5


def error_counts(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Errors that involve each label: 1 as the gold label, ``TAKEN_FOR`` as the label predicted."""
    out = dict.fromkeys(labels, 0.0)
    for g, p in zip(gold, predicted, strict=True):
        if g != p:
            out[g] = out.get(g, 0.0) + 1.0
            if p in out:
                out[p] += TAKEN_FOR
    return out


def apportion(weights: Mapping[str, float], rows: int) -> dict[str, int]:
    """``rows`` dealt in proportion to ``weights`` (largest remainders, ties in label order);
    evenly when every weight is zero."""
    labels = list(weights)
    total = sum(weights.values())
    shares = {lab: weights[lab] / total if total > 0 else 1 / len(labels) for lab in labels}
    out = {lab: int(rows * shares[lab]) for lab in labels}
    order = sorted(labels, key=lambda lab: (-(rows * shares[lab] - out[lab]), labels.index(lab)))
    for lab in order[: rows - sum(out.values())]:
        out[lab] += 1
    return out


def allocate(errors: Mapping[str, float], rows: int, share: float = STEER_SHARE) -> dict[str, int]:
    """The next round's rows per label: ``1 - share`` of them evenly, ``share`` by ``errors``
    (all evenly when there are none)."""
    labels, total = list(errors), sum(errors.values())
    even = 1 / len(labels)
    weights = {lab: (1 - share) * even + share * (errors[lab] / total if total else even) for lab in labels}
    return apportion(weights, rows)


def nearest_rows(errors: Any, candidates: Any, count: int) -> list[int]:
    """Indices of ``candidates`` (unit vectors) nearest to ``errors``: each error's nearest not yet
    taken, in turns, until ``count`` (ties by index: the same vectors give the same rows)."""
    sims = np.asarray(errors, dtype=np.float64) @ np.asarray(candidates, dtype=np.float64).T
    n = sims.shape[1]
    orders = [np.lexsort((np.arange(n), -row)) for row in sims]
    picked: list[int] = []
    for depth in range(n):
        for order in orders:
            index = int(order[depth])
            if index not in picked and len(picked) < count:
                picked.append(index)
    return picked


def pool_view(pool: FewShotPool, rows: Mapping[str, Sequence[int]]) -> FewShotPool:
    """The pool whose draws of each label pick only ``rows`` of it (indices of ``pool.rows``): its
    rows and their ids stay the same, so provenance and the copy filters name the user's rows."""
    view = copy.copy(pool)
    view.by_label = {label: list(ids) for label, ids in rows.items()}
    return view


def queue_labels(planner: Planner, wanted: Mapping[str, int]) -> None:
    """The planner's next rows asked for ``wanted`` rows of each label, interleaved. Its top-up
    queue is told that each label lacks exactly that many of an even share."""
    most = max(wanted.values(), default=0)
    kept = {label: most - n for label, n in wanted.items()}
    planner.top_up(kept, most * len(wanted), sum(wanted.values()))


__all__ = [
    "KEEP_SHOWN",
    "STEER_SHARE",
    "TAKEN_FOR",
    "allocate",
    "apportion",
    "error_counts",
    "nearest_rows",
    "pool_view",
    "queue_labels",
]
