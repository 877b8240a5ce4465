"""A candidate's held-out answers scored: accuracy (raw and calibrated) with its interval."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ...scoring.calibration import calibrate

Scores = Mapping[str, float]


def picks(scores: Sequence[Scores | None]) -> list[str | None]:
    """Each row's top label (``None`` for a row that got no answer)."""
    return [max(s, key=lambda label: s[label]) if s else None for s in scores]


def accuracy(scores: Sequence[Scores | None], gold: Sequence[str]) -> float:
    """Share of rows whose top label is the gold one (a row with no answer is wrong)."""
    if not gold:
        return 0.0
    return sum(p == g for p, g in zip(picks(scores), gold, strict=True)) / len(gold)


def calibrated(
    scores: Sequence[Scores | None], labels: Sequence[str], target: Mapping[str, float] | None
) -> list[Scores | None]:
    """The rows' scores with batch calibration over the answered rows (as the run applies it)."""
    answered = [s for s in scores if s]
    fixed = iter(calibrate(answered, labels, target=target))
    return [next(fixed) if s else None for s in scores]


def clearly_better(
    scores: Sequence[Scores | None], base: Sequence[Scores | None], gold: Sequence[str], z: float = 1.0
) -> bool:
    """Whether ``scores`` beat ``base`` on the same rows by more than chance: the rows only one of
    the two gets right, counted both ways, differ by more than ``z`` standard deviations of a fair
    coin over them (a sign test)."""
    mine, theirs = picks(scores), picks(base)
    wins = sum(m == g != t for m, t, g in zip(mine, theirs, gold, strict=True))
    losses = sum(t == g != m for m, t, g in zip(mine, theirs, gold, strict=True))
    return wins - losses > z * math.sqrt(wins + losses)


def margin(value: float, rows: int) -> float:
    """Half the width of the 95 % interval of an accuracy measured on ``rows`` rows (Agresti-Coull:
    two rights and two wrongs added, so 13 rows all right is not "± 0.00")."""
    if not rows:
        return 1.0
    shrunk = (value * rows + 2) / (rows + 4)
    return 1.96 * math.sqrt(shrunk * (1 - shrunk) / (rows + 4))


__all__ = ["accuracy", "calibrated", "clearly_better", "margin", "picks"]
