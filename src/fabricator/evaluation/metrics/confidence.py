"""Is the annotator's confidence worth using? Risk–coverage and calibration of per-row confidences.

Pure functions on lists (no numpy, no torch): ``correct[i]`` says whether row ``i``'s label is
right, ``confidence[i]`` is the probability the annotator gave its label (0..1).

* :func:`risk_coverage`: keep only the most confident rows; how accurate are they, and at which
  confidence threshold? Plus the area under the risk–coverage curve (AURC, lower is better).
* :func:`expected_calibration_error`: does a confidence of 0.8 mean right 80% of the time? The
  weighted gap between accuracy and mean confidence over equal-width bins, and the bins
  themselves (the data of a reliability diagram).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any

from fabricator.errors import ConfigError

__all__ = [
    "DEFAULT_COVERAGES",
    "Calibration",
    "CalibrationBin",
    "CoveragePoint",
    "RiskCoverage",
    "expected_calibration_error",
    "risk_coverage",
]

DEFAULT_COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class CoveragePoint:
    """The ``n_rows`` most confident rows (``coverage`` of all): their accuracy, and the lowest
    confidence among them (``threshold``; rows tied with it beyond ``n_rows`` are left out)."""

    coverage: float
    n_rows: int
    accuracy: float
    threshold: float


@dataclass(frozen=True)
class RiskCoverage:
    """Accuracy per coverage, and AURC: the mean error of the top ``k`` rows over k = 1..n."""

    n: int
    points: list[CoveragePoint]
    aurc: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CalibrationBin:
    """Rows whose confidence lies in ``[lower, upper)`` (the last bin includes 1.0)."""

    lower: float
    upper: float
    n: int
    accuracy: float | None  # None for an empty bin
    mean_confidence: float | None


@dataclass(frozen=True)
class Calibration:
    """Expected calibration error (weighted ``|accuracy - mean confidence|`` over bins), and the bins."""

    n: int
    ece: float
    bins: list[CalibrationBin]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checked(correct: Sequence[Any], confidence: Sequence[Any]) -> tuple[list[bool], list[float]]:
    if len(correct) != len(confidence):
        raise ConfigError(f"{len(correct)} correctness values but {len(confidence)} confidences")
    if len(confidence) == 0:
        raise ConfigError("no rows with a confidence to evaluate")
    rights: list[bool] = []
    for i, value in enumerate(correct):
        if not isinstance(value, bool) and value not in (0, 1):
            raise ConfigError(f"correct[{i}] = {value!r} is not true or false")
        rights.append(bool(value))
    values: list[float] = []
    for i, value in enumerate(confidence):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigError(f"confidence[{i}] = {value!r} is not a number")
        number = float(value)
        if math.isnan(number) or not 0.0 <= number <= 1.0:
            raise ConfigError(
                f"confidence[{i}] = {value!r} is not a probability in [0, 1]",
                hint="the confidence column must hold the probability of the chosen label",
            )
        values.append(number)
    return rights, values


def risk_coverage(
    correct: Sequence[bool],
    confidence: Sequence[float],
    coverages: Sequence[float] = DEFAULT_COVERAGES,
) -> RiskCoverage:
    """Accuracy of the ``ceil(c * n)`` most confident rows for each coverage ``c``, and AURC.

    Rows are sorted by confidence, highest first; equal confidences keep their input order, so
    the result is a function of the input. Raises :class:`ConfigError` for lists of different
    lengths, no rows, a confidence that is NaN or outside [0, 1], or a coverage outside (0, 1].
    """
    rights, values = _checked(correct, confidence)
    for c in coverages:
        if isinstance(c, bool) or not isinstance(c, Real) or not 0.0 < c <= 1.0:
            raise ConfigError(f"coverage {c!r} is not in (0, 1]", hint="use fractions such as 0.9")
    order = sorted(range(len(values)), key=lambda i: -values[i])  # stable: ties keep input order
    n = len(order)
    right_so_far = [0] * (n + 1)
    for k, i in enumerate(order, start=1):
        right_so_far[k] = right_so_far[k - 1] + rights[i]
    points = []
    for c in coverages:
        k = max(1, math.ceil(round(c * n, 9)))  # round: 0.7 * 10 is 7.000000000000001
        points.append(
            CoveragePoint(
                coverage=float(c),
                n_rows=k,
                accuracy=right_so_far[k] / k,
                threshold=values[order[k - 1]],
            )
        )
    aurc = sum(1 - right_so_far[k] / k for k in range(1, n + 1)) / n
    return RiskCoverage(n=n, points=points, aurc=aurc)


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> Calibration:
    """ECE over ``bins`` equal-width bins of [0, 1]: sum of ``n_b / n * |acc_b - conf_b|``.

    Bin ``b`` holds confidences in ``[b / bins, (b + 1) / bins)``, the last one also 1.0. A
    perfectly calibrated set scores 0. Raises :class:`ConfigError` as :func:`risk_coverage` does,
    and for ``bins`` below 1.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"bins must be a positive integer, got {bins!r}")
    rights, values = _checked(correct, confidence)
    members: list[list[int]] = [[] for _ in range(bins)]
    for i, value in enumerate(values):
        # round: 0.3 * 10 must land in bin 3 even where the product is 2.9999999999999996
        members[min(math.floor(round(value * bins, 9)), bins - 1)].append(i)
    table = []
    ece = 0.0
    for b, rows in enumerate(members):
        accuracy = mean_confidence = None
        if rows:
            accuracy = sum(rights[i] for i in rows) / len(rows)
            mean_confidence = sum(values[i] for i in rows) / len(rows)
            ece += len(rows) / len(values) * abs(accuracy - mean_confidence)
        table.append(CalibrationBin(b / bins, (b + 1) / bins, len(rows), accuracy, mean_confidence))
    return Calibration(n=len(values), ece=ece, bins=table)
