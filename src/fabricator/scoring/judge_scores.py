"""A judge's score of a row: the scale's points read as labels, and what their distribution says.

The judge's answer is one point of a scale ("1" ... "5"). Each point is a label of the label-scoring
machinery (``annotate.LabelScoring``): its probability comes from the model's log-probabilities
over the answer's tokens (a point of several tokens, "10", is a branch the matcher follows to the
next position), or, where a backend has none, from the share of sampled answers that name it.
From that distribution:

* the **expected score** ``sum(p(s) * s)``: a number between the scale's ends that keeps the
  judge's doubt (0.5 "4" + 0.5 "5" is 4.5, where a parsed answer says 4 or 5);
* the **confidence**: the probability of the most likely point, as for labels (1.0: the judge
  was sure; 1/points: it had no idea).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Value

from ..errors import ParseError
from ..formats.base import BaseFormat

#: the column a judge's answer is parsed into (never part of a dataset)
SCORE_COLUMN = "score"
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")


def read_score(text: str, points: Sequence[str]) -> str:
    """The scale point an answer names: the first number in it ("4", "Score: 4", "4/5", "4 out of
    5", "4."), which must be a point of the scale; else ``ParseError``."""
    found = _NUMBER.search(text)
    if found is None:
        raise ParseError(f"answer {text.strip()[:80]!r} names no score", raw=text)
    value = found.group()
    if value not in points:
        raise ParseError(f"{value!r} is not a score of {points[0]}-{points[-1]}", raw=text)
    return value


class ScaleFormat(BaseFormat):
    """The judge's answer as an output format: one point of the scale (``score_options`` lets the
    row driver score it by label scoring)."""

    reask = False  # a scored answer is never re-asked

    def __init__(self, points: Sequence[str]) -> None:
        self.points = list(points)

    def instructions(self) -> str:
        return f"Answer with one whole number from {self.points[0]} to {self.points[-1]} only."

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return {SCORE_COLUMN: read_score(text, self.points)}

    def score_options(self) -> dict[str, str]:
        return {point: point for point in self.points}

    def features(self) -> dict[str, Any]:
        return {SCORE_COLUMN: Value("string")}


@dataclass(frozen=True)
class JudgeScore:
    """One row's score on one criterion: expected score, confidence, and the distribution."""

    score: float
    confidence: float
    distribution: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """What a row's provenance keeps (``provenance["judge"][criterion]``)."""
        return {
            "score": round(self.score, 6),
            "confidence": round(self.confidence, 6),
            "distribution": {k: round(p, 6) for k, p in self.distribution.items()},
        }


def judge_score(distribution: Mapping[str, float], points: Sequence[str]) -> JudgeScore:
    """The expected score and confidence of a distribution over the scale ``points`` (renormalized
    over them; a distribution with no mass is a ``ValueError``)."""
    total = sum(max(0.0, distribution.get(p, 0.0)) for p in points)
    if total <= 0.0:
        raise ValueError("a judge's distribution needs some probability on the scale")
    probs = {p: max(0.0, distribution.get(p, 0.0)) / total for p in points}
    expected = sum(prob * int(point) for point, prob in probs.items())
    return JudgeScore(expected, max(probs.values()), probs)


def nearest_point(score: float, points: Sequence[str]) -> str:
    """The scale point a score rounds to (halves up), for histograms."""
    low, high = int(points[0]), int(points[-1])
    return str(min(high, max(low, int(score + 0.5))))


@dataclass
class ScoreCounts:
    """What one criterion scored over a run: mean, a histogram by nearest point, rows rejected."""

    points: list[str]
    total: float = 0.0
    judged: int = 0
    rejected: int = 0  # below the criterion's minimum (``LowJudgeScore``)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, score: float) -> None:
        self.total += score
        self.judged += 1
        point = nearest_point(score, self.points)
        self.counts[point] = self.counts.get(point, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """The run summary's ``judge[criterion]``: mean, counts (every point, 0 included), rejected."""
        return {
            "mean": round(self.total / self.judged, 4) if self.judged else None,
            "counts": {p: self.counts.get(p, 0) for p in self.points},
            "rejected": self.rejected,
        }


__all__ = [
    "SCORE_COLUMN",
    "JudgeScore",
    "ScaleFormat",
    "ScoreCounts",
    "judge_score",
    "nearest_point",
    "read_score",
]
