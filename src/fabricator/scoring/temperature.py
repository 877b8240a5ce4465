"""A temperature fitted on held-out labelled rows, so that a confidence of 0.9 is right 9 times in 10.

Few-shot prompts make a small model's label distributions too flat (or too sharp) for their
accuracy; batch calibration moves the labels' prior but not the sharpness. Dividing the
log-probabilities by one temperature ``t`` (Guo et al., 2017) keeps every row's label and
rescales its confidence; ``t`` is the one that makes the gold labels of held-out rows likeliest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation.metrics.confidence import expected_calibration_error

FLOOR = 1e-6  # a label scored 0 keeps a tiny probability (its log is finite)
#: temperatures tried: log-spaced from 1/20 to 20 (1 among them)
GRID = tuple(math.exp(math.log(20) * (i - 100) / 100) for i in range(201))


def tempered(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    """``scores`` with their log-probabilities divided by ``temperature``, renormalized."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise ValueError(f"a temperature must be a positive number, not {temperature!r}")
    logs = {label: math.log(max(p, FLOOR)) / temperature for label, p in scores.items()}
    top = max(logs.values())
    raw = {label: math.exp(v - top) for label, v in logs.items()}
    total = sum(raw.values())
    return {label: v / total for label, v in raw.items()}


def _nll(scores: Sequence[Mapping[str, float]], gold: Sequence[str], temperature: float) -> float:
    """Cross-entropy against the gold labels smoothed by one pseudo-row (``1 / (n + 2)`` of each
    row's mass spread over its other labels): all rows right must not drive the temperature to 0."""
    smooth = 1.0 / (len(scores) + 2)
    total = 0.0
    for row, label in zip(scores, gold, strict=True):
        probs = tempered(row, temperature)
        others = [name for name in probs if name != label]
        total -= (1 - smooth if others else 1.0) * math.log(max(probs.get(label, 0.0), FLOOR))
        total -= sum(smooth / len(others) * math.log(max(probs[name], FLOOR)) for name in others)
    return total


def fit_temperature(scores: Sequence[Mapping[str, float]], gold: Sequence[str]) -> float:
    """The temperature of ``GRID`` that fits the (smoothed) gold labels of ``scores`` best (1.0
    without rows; a tie goes to the temperature nearest 1)."""
    if not scores:
        return 1.0
    return min(GRID, key=lambda t: (round(_nll(scores, gold, t), 9), abs(math.log(t))))


def fit_temperature_matrix(probabilities: Any, gold: Sequence[int]) -> float:
    """``fit_temperature`` for many rows at once: ``probabilities`` one row per example (numpy,
    columns the labels), ``gold`` each row's label column. The same grid, smoothing and ties."""
    if not len(gold):
        return 1.0
    probs = np.maximum(np.asarray(probabilities, dtype=np.float64), FLOOR)
    n, k = probs.shape
    if k < 2:
        return 1.0
    logs = np.log(probs)
    smooth = 1.0 / (n + 2)
    weights = np.full((n, k), smooth / (k - 1))
    weights[np.arange(n), np.asarray(gold)] = 1 - smooth

    def nll(t: float) -> float:
        scaled = logs / t
        scaled -= scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-(weights * np.maximum(log_probs, math.log(FLOOR))).sum())

    return min(GRID, key=lambda t: (round(nll(t), 9), abs(math.log(t))))


def log_loss(
    scores: Sequence[Mapping[str, float]], gold: Sequence[str], temperature: float | Sequence[float] = 1.0
) -> float:
    """The mean negative log-likelihood of the gold labels after ``temperature`` (one for all rows,
    or one per row): a proper score, steadier on a few dozen rows than the binned ECE."""
    if not scores:
        return 0.0
    temps = [temperature] * len(scores) if isinstance(temperature, (int, float)) else list(temperature)
    total = sum(
        -math.log(max(tempered(s, t).get(g, 0.0), FLOOR)) for s, g, t in zip(scores, gold, temps, strict=True)
    )
    return total / len(scores)


def calibration_error(
    scores: Sequence[Mapping[str, float]], gold: Sequence[str], temperature: float | Sequence[float] = 1.0
) -> float:
    """The expected calibration error of the rows' top labels after ``temperature`` (one for all
    rows, or one per row: each fold's own, fitted on the other folds)."""
    if not scores:
        return 0.0
    temps = [temperature] * len(scores) if isinstance(temperature, (int, float)) else list(temperature)
    confidence, correct = [], []
    for s, g, t in zip(scores, gold, temps, strict=True):
        probs = tempered(s, t)
        label = max(probs, key=lambda name: probs[name])
        confidence.append(probs[label])
        correct.append(label == g)
    return expected_calibration_error(confidence, correct).ece


__all__ = ["GRID", "calibration_error", "fit_temperature", "fit_temperature_matrix", "log_loss", "tempered"]
