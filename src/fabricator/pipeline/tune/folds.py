"""Held-out pool rows in stages and folds: a row's prompts show examples from outside its fold only.

Tuning scores its candidates in stages (successive halving, ``pipeline.tune.run``): every stage
holds out new rows, each label spread evenly over the stages and over the folds of a stage.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fold:
    """Pool rows annotated (``held``) and the pool rows their prompts may show (``rest``)."""

    held: tuple[int, ...]
    rest: tuple[int, ...]


def split_stages(
    labels: Sequence[str], per_stage: int, stages: int, folds: int, seed: int = 0
) -> list[list[Fold]]:
    """``stages`` sets of ``per_stage`` pool rows drawn (seeded, never the same row twice), each
    dealt into ``folds`` folds; a fold's ``rest`` is every pool row outside it, so no row sees
    itself. Each label is spread evenly over the stages and over a stage's folds."""
    if per_stage < 1 or stages < 1 or folds < 1:
        raise ValueError("tuning needs at least one held-out row, one stage and one fold")
    rng = random.Random(f"tune:{seed}")
    chosen = rng.sample(range(len(labels)), min(per_stage * stages, len(labels)))
    chosen.sort(key=lambda i: labels[i])  # stable: random order within a label
    out = []
    for s in range(stages):
        rows = chosen[s::stages]
        k = min(folds, len(rows))
        stage = []
        for j in range(k):
            held = tuple(sorted(rows[j::k]))
            inside = set(held)
            stage.append(Fold(held, tuple(i for i in range(len(labels)) if i not in inside)))
        out.append(stage)
    return out


def split_folds(labels: Sequence[str], rows: int, folds: int, seed: int = 0) -> list[Fold]:
    """``rows`` pool rows in ``folds`` folds: one stage of ``split_stages``."""
    return split_stages(labels, rows, 1, folds, seed)[0]


__all__ = ["Fold", "split_folds", "split_stages"]
