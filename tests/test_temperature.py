"""The temperature fitted on held-out labelled rows (issue 28): confidences that mean what they say."""

from __future__ import annotations

import random

import pytest

from fabricator.execution.work import Row
from fabricator.scoring.settle import Tuning, settle
from fabricator.scoring.temperature import (
    calibration_error,
    fit_temperature,
    fit_temperature_matrix,
    tempered,
)


def under_confident(n: int = 400, seed: int = 0) -> tuple[list[dict[str, float]], list[str]]:
    """Rows right 95 % of the time whose top label says only 0.7."""
    rng = random.Random(seed)
    scores, gold = [], []
    for _ in range(n):
        top = rng.choice(["a", "b"])
        other = "b" if top == "a" else "a"
        scores.append({top: 0.7, other: 0.3})
        gold.append(top if rng.random() < 0.95 else other)
    return scores, gold


def test_tempered_scores_keep_the_label_and_move_the_confidence():
    sharp = tempered({"a": 0.7, "b": 0.3}, 0.5)
    assert sharp["a"] > 0.7 and sum(sharp.values()) == pytest.approx(1.0)
    assert tempered({"a": 0.7, "b": 0.3}, 1.0) == pytest.approx({"a": 0.7, "b": 0.3})
    assert tempered({"a": 0.7, "b": 0.3}, 2.0)["a"] < 0.7
    with pytest.raises(ValueError, match="positive"):
        tempered({"a": 1.0}, 0.0)


def test_the_fit_sharpens_under_confident_rows_until_their_error_is_small():
    scores, gold = under_confident()
    t = fit_temperature(scores, gold)
    assert t < 0.5
    assert calibration_error(scores, gold) > 0.2
    assert calibration_error(scores, gold, t) <= 0.05  # the target


def test_the_fit_softens_over_confident_rows_and_keeps_1_when_nothing_is_known():
    rng = random.Random(1)
    gold = [rng.choice(["a", "b"]) for _ in range(300)]
    scores = [{"a": 0.99, "b": 0.01} if rng.random() < 0.5 else {"a": 0.01, "b": 0.99} for _ in gold]
    assert fit_temperature(scores, gold) > 2  # right half the time at 0.99: far too sure
    assert fit_temperature([], []) == 1.0


def test_all_rows_right_do_not_drive_the_confidence_to_one():
    scores = [{"a": 0.8, "b": 0.2}] * 12
    t = fit_temperature(scores, ["a"] * 12)
    assert 0.9 < tempered(scores[0], t)["a"] < 0.99  # about 13 in 14 (one pseudo-row is wrong)


def test_settle_applies_the_temperature_to_each_confidence_after_calibration():
    rows = [
        Row({"label": "a", "confidence": 0.7}, {"label_scores": {"a": 0.7, "b": 0.3}}),
        Row({"label": "b", "confidence": 0.6}, {"label_scores": {"a": 0.4, "b": 0.6}}),
    ]
    settled = settle(rows, "label", ["a", "b"], tuning=Tuning(temperature=0.5))
    assert [r["label"] for r in settled.rows] == ["a", "b"]
    assert [r["confidence"] for r in settled.rows] == pytest.approx(
        [tempered({"a": 0.7, "b": 0.3}, 0.5)["a"], tempered({"a": 0.4, "b": 0.6}, 0.5)["b"]]
    )
    assert settled.rows[0].provenance["tempered_confidence"] == pytest.approx(0.844828, abs=1e-6)


def test_the_matrix_fit_finds_the_temperature_the_row_fit_finds():
    rng = random.Random(3)
    labels = ["a", "b", "c"]
    for sharp in (0.3, 1.0, 3.0):  # too sure, about right, too unsure
        rows, gold = [], []
        for _ in range(80):
            raw = [rng.random() ** sharp for _ in labels]
            rows.append({label: v / sum(raw) for label, v in zip(labels, raw, strict=True)})
            gold.append(max(rows[-1], key=rows[-1].get) if rng.random() < 0.7 else rng.choice(labels))
        matrix = [[row[label] for label in labels] for row in rows]
        assert fit_temperature_matrix(matrix, [labels.index(g) for g in gold]) == fit_temperature(rows, gold)
    assert fit_temperature_matrix([], []) == 1.0
