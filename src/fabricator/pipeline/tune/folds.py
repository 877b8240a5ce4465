"""Held-out pool rows in k folds: a row's prompts show examples from the other folds only."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fold:
    """Pool rows annotated (``held``) and the pool rows their prompts may show (``rest``)."""

    held: tuple[int, ...]
    rest: tuple[int, ...]


def split_folds(labels: Sequence[str], rows: int, folds: int, seed: int = 0) -> list[Fold]:
    """``rows`` pool rows drawn (seeded) and dealt into ``folds`` folds, each label spread evenly
    over the folds; a fold's ``rest`` is every pool row outside it, so no row sees itself."""
    if rows < 1 or folds < 1:
        raise ValueError("tuning needs at least one held-out row and one fold")
    rng = random.Random(f"tune:{seed}")
    chosen = rng.sample(range(len(labels)), min(rows, len(labels)))
    chosen.sort(key=lambda i: labels[i])  # stable: random order within a label
    k = min(folds, len(chosen))
    out = []
    for j in range(k):
        held = tuple(sorted(chosen[j::k]))
        inside = set(held)
        out.append(Fold(held, tuple(i for i in range(len(labels)) if i not in inside)))
    return out


__all__ = ["Fold", "split_folds"]
