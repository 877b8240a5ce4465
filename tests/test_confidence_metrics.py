"""Confidence in use: risk–coverage and calibration of annotation confidences, in the
``evaluate annotations`` report, and ``evaluate student --min-confidence``.

The metric tests use small hand-made lists with values worked out by hand; the CLI tests write
JSONL files into ``tmp_path``; the student tests train on the review data of
``tests/data/student`` (60 training rows), as ``tests/test_student.py`` does.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset

from fabricator.app.cli import main
from fabricator.errors import ConfigError
from fabricator.evaluation.metrics import evaluate_files, format_report
from fabricator.evaluation.metrics.confidence import expected_calibration_error, risk_coverage
from fabricator.evaluation.student import keep_confident, learning_curve, train_student
from fabricator.tables import load_table, write_jsonl

REVIEWS = Path(__file__).resolve().parent / "data" / "student"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- risk–coverage ------------------------------------------------------------------------------


def test_risk_coverage_on_a_worked_example() -> None:
    # sorted by confidence: 0.95 right, 0.9 right, 0.8 wrong, 0.8 right (tie: input order), 0.1 wrong
    correct = [True, False, True, True, False]
    confidence = [0.9, 0.8, 0.8, 0.95, 0.1]
    curve = risk_coverage(correct, confidence, coverages=(1.0, 0.6, 0.5, 0.4, 0.2))
    assert [(p.coverage, p.n_rows, p.threshold) for p in curve.points] == [
        (1.0, 5, 0.1),
        (0.6, 3, 0.8),
        (0.5, 3, 0.8),  # ceil(2.5)
        (0.4, 2, 0.9),
        (0.2, 1, 0.95),
    ]
    assert [p.accuracy for p in curve.points] == pytest.approx([3 / 5, 2 / 3, 2 / 3, 1.0, 1.0])
    # AURC: mean error of the top k rows, k = 1..5: (0 + 0 + 1/3 + 1/4 + 2/5) / 5
    assert curve.aurc == pytest.approx((1 / 3 + 1 / 4 + 2 / 5) / 5)
    assert curve.n == 5 and curve.to_dict()["points"][0]["n_rows"] == 5


def test_risk_coverage_ties_keep_input_order() -> None:
    tied = [0.7, 0.7, 0.7, 0.7]
    wrong_first = risk_coverage([False, True, True, True], tied, coverages=(0.25, 0.5))
    right_first = risk_coverage([True, True, True, False], tied, coverages=(0.25, 0.5))
    assert [p.accuracy for p in wrong_first.points] == [0.0, 0.5]
    assert [p.accuracy for p in right_first.points] == [1.0, 1.0]
    # a perfect ranking has the lowest AURC; 0.7 of 10 rows is 7 rows (not 8 through float error)
    ranked = risk_coverage([True] * 7 + [False] * 3, [1 - i / 20 for i in range(10)], coverages=(0.7,))
    assert ranked.points[0].n_rows == 7 and ranked.points[0].accuracy == 1.0
    reversed_ranking = risk_coverage([False] * 3 + [True] * 7, [1 - i / 20 for i in range(10)])
    assert ranked.aurc < reversed_ranking.aurc


# --- calibration --------------------------------------------------------------------------------


def test_ece_is_zero_for_a_perfectly_calibrated_set() -> None:
    confidence = [0.8] * 5 + [0.25] * 4 + [1.0, 0.0]
    correct = [True] * 4 + [False] + [True] + [False] * 3 + [True, False]
    calibration = expected_calibration_error(confidence, correct, bins=10)
    assert calibration.ece == pytest.approx(0.0)
    filled = {round(b.lower, 1): (b.n, b.accuracy) for b in calibration.bins if b.n}
    # 1.0 lands in the last bin, 0.0 in the first
    assert filled == {0.0: (1, 0.0), 0.2: (4, 0.25), 0.8: (5, 0.8), 0.9: (1, 1.0)}


def test_ece_worked_example_and_bin_table() -> None:
    # bin [0.9, 1): 4 rows, accuracy 0.75, confidence 0.9, gap 0.15; bin [0.6, 0.7): 2 rows, gap 0.1
    calibration = expected_calibration_error([0.9] * 4 + [0.6, 0.6], [True, True, True, False, True, False])
    assert calibration.ece == pytest.approx(4 / 6 * 0.15 + 2 / 6 * 0.1)
    assert len(calibration.bins) == 10 and calibration.n == 6
    nine = calibration.bins[9]
    assert (nine.n, nine.accuracy, nine.mean_confidence) == (4, 0.75, pytest.approx(0.9))
    assert calibration.bins[3].n == 0 and calibration.bins[3].accuracy is None
    # 0.3 belongs to [0.3, 0.4) although 0.3 * 10 is not exactly 3 in floating point
    assert expected_calibration_error([0.3], [True]).bins[3].n == 1
    assert expected_calibration_error(
        [0.9] * 4 + [0.6, 0.6], [1, 1, 1, 0, 1, 0], bins=2
    ).ece == pytest.approx(abs(4 / 6 - 4.8 / 6))


@pytest.mark.parametrize(
    ("correct", "confidence", "message"),
    [
        ([True, False], [0.5], "2 correctness values but 1 confidences"),
        ([], [], "no rows"),
        ([True], [1.2], r"confidence\[0\] = 1.2 is not a probability"),
        ([True, True], [0.5, -0.1], r"confidence\[1\] = -0.1"),
        ([True], [math.nan], "not a probability"),
        ([True], ["0.5"], "is not a number"),
        (["yes"], [0.5], "is not true or false"),
    ],
)
def test_bad_input_is_a_config_error(correct: list[Any], confidence: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        risk_coverage(correct, confidence)
    with pytest.raises(ConfigError, match=message):
        expected_calibration_error(confidence, correct)


def test_bad_coverage_and_bins() -> None:
    with pytest.raises(ConfigError, match="coverage 0 is not in"):
        risk_coverage([True], [0.5], coverages=(1.0, 0))
    with pytest.raises(ConfigError, match="bins must be a positive integer"):
        expected_calibration_error([0.5], [True], bins=0)


# --- evaluate annotations -----------------------------------------------------------------------


def write_rows(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


GOLD = [{"id": i, "text": f"text {i}", "label": "ab"[i % 2]} for i in range(6)]
# stored in reverse order, aligned by id; row 1 failed; right, wrong: see the expected numbers below
PREDICTIONS = [
    {"id": 5, "text": "text 5", "label": "b", "confidence": 0.9},
    {"id": 4, "text": "text 4", "label": "b", "confidence": 0.2},
    {"id": 3, "text": "text 3", "label": "b", "confidence": 0.8},
    {"id": 2, "text": "text 2", "label": "a", "confidence": 0.7},
    {"id": 1, "text": "text 1", "label": None, "confidence": None, "error": "timeout"},
    {"id": 0, "text": "text 0", "label": "a", "confidence": 0.6},
]


def check_summary(summary: dict[str, Any]) -> None:
    """Rows 0, 2, 3, 5 right with 0.6, 0.7, 0.8, 0.9; row 4 wrong with 0.2; row 1 failed."""
    assert (summary["n"], summary["n_without_confidence"]) == (5, 1)
    assert summary["ece"] == pytest.approx((0.4 + 0.3 + 0.2 + 0.1 + 0.2) / 5)
    by_coverage = {p["coverage"]: p for p in summary["risk_coverage"]}
    assert (by_coverage[1.0]["n_rows"], by_coverage[1.0]["accuracy"], by_coverage[1.0]["threshold"]) == (
        5,
        0.8,
        0.2,
    )
    assert (by_coverage[0.8]["n_rows"], by_coverage[0.8]["accuracy"], by_coverage[0.8]["threshold"]) == (
        4,
        1.0,
        0.6,
    )
    assert summary["aurc"] == pytest.approx(0.2 / 5)  # only k = 5 has an error: 1/5


def test_confidence_follows_its_row_through_the_alignment(tmp_path: Path) -> None:
    gold = write_rows(tmp_path / "gold.jsonl", GOLD)
    by_id = evaluate_files(write_rows(tmp_path / "p.jsonl", PREDICTIONS), gold)
    assert by_id["alignment"] == "id:id"
    check_summary(by_id["confidence"])
    # no ids, one row dropped and the rest reversed: aligned on the text column
    no_ids = [{k: v for k, v in r.items() if k != "id"} for r in PREDICTIONS if r["id"] != 1]
    by_text = evaluate_files(
        write_rows(tmp_path / "q.jsonl", no_ids),
        write_rows(tmp_path / "g.jsonl", [{k: v for k, v in r.items() if k != "id"} for r in GOLD]),
    )
    assert by_text["alignment"].startswith("columns:") and by_text["n_unmatched_gold"] == 1
    check_summary(by_text["confidence"])


def test_cli_report_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write_rows(tmp_path / "gold.jsonl", GOLD)
    preds = write_rows(tmp_path / "preds.jsonl", PREDICTIONS)
    out_json, png = tmp_path / "out.json", tmp_path / "plots" / "rc.png"
    args = ["evaluate", "annotations", "--predictions", preds, "--gold", gold]
    assert main([*args, "--json", str(out_json), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "expected calibration error 0.2400" in text and "AURC 0.0400" in text
    table = text.split("risk-coverage")[1]
    assert "coverage  rows  accuracy  threshold" in table
    assert any(line.split() == ["80%", "4", "1.0000", "0.6000"] for line in table.splitlines())
    saved = json.loads(out_json.read_text())
    check_summary(saved["confidence"])
    assert saved["metrics"]["accuracy"] == pytest.approx(4 / 6)  # the failed row still counts as wrong
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_cli_without_confidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write_rows(tmp_path / "gold.jsonl", GOLD)
    plain = write_rows(tmp_path / "plain.jsonl", [{**r, "label": r["label"]} for r in GOLD])
    args = ["evaluate", "annotations", "--predictions", plain, "--gold", gold]
    assert main([*args, "--json", str(tmp_path / "o.json")]) == 0
    text = capsys.readouterr().out
    assert "accuracy 1.0000" in text
    assert "calibration" not in text and "risk-coverage" not in text
    assert "confidence" not in json.loads((tmp_path / "o.json").read_text())
    png = tmp_path / "p.png"
    assert main([*args, "--plot", str(png)]) == 2
    assert "--plot needs classification predictions with a confidence" in capsys.readouterr().err
    assert not png.exists()
    assert main([*args, "--confidence-column", "prob"]) == 2
    assert "no confidence column 'prob'" in capsys.readouterr().err


def test_cli_bad_confidence_names_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write_rows(tmp_path / "gold.jsonl", GOLD)
    bad = [{**r, "confidence": 1.5 if r["id"] == 3 else r["confidence"]} for r in PREDICTIONS]
    preds = write_rows(tmp_path / "bad.jsonl", bad)
    assert main(["evaluate", "annotations", "--predictions", preds, "--gold", gold]) == 2
    err = capsys.readouterr().err
    assert "gold row 3" in err and "1.5" in err and "Traceback" not in err


def test_cli_custom_column_and_format_report(tmp_path: Path) -> None:
    renamed = [{("p" if k == "confidence" else k): v for k, v in r.items()} for r in PREDICTIONS]
    result = evaluate_files(
        write_rows(tmp_path / "p.jsonl", renamed),
        write_rows(tmp_path / "g.jsonl", GOLD),
        confidence_column="p",
    )
    check_summary(result["confidence"])
    assert "confidence (column 'p'): 5 rows with a prediction and a confidence, 1 without" in format_report(
        result
    )


def test_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    gold = write_rows(tmp_path / "gold.jsonl", GOLD)
    preds = write_rows(tmp_path / "preds.jsonl", PREDICTIONS)
    args = ["evaluate", "annotations", "--predictions", preds, "--gold", gold]
    assert main([*args, "--plot", str(tmp_path / "p.png")]) == 2
    assert "pip install 'fabricator-data[student]'" in capsys.readouterr().err


# --- evaluate student --min-confidence ----------------------------------------------------------


@pytest.fixture(scope="module")
def scored_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 60 review rows with a confidence: 0.95 for the first 40, 0.4 for the last 20."""
    train = load_table(REVIEWS / "train.jsonl")
    scored = train.add_column("confidence", [0.95] * 40 + [0.4] * 20)
    path = tmp_path_factory.mktemp("scored") / "data.jsonl"
    write_jsonl(scored, path)
    return path


def test_student_min_confidence_keeps_the_confident_rows(
    scored_train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    args = [
        "evaluate",
        "student",
        "--train",
        str(scored_train),
        "--test",
        str(REVIEWS / "test.jsonl"),
        "--min-confidence",
        "0.9",
        "--report-dir",
        str(tmp_path / "report"),
        "--json",
        str(out),
    ]
    assert main(args) == 0
    assert "kept 40 of 60 training rows with confidence >= 0.9 (coverage 66.7%)" in capsys.readouterr().out
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| kept by confidence >= 0.9 | 40 of 60 (66.7%) |" in report
    student = json.loads(out.read_text())["student"]
    assert student["n_train"] == 40
    assert student["confidence_filter"] == {
        "min_confidence": 0.9,
        "column": "confidence",
        "rows": 60,
        "kept": 40,
        "coverage": pytest.approx(40 / 60),
    }
    # the Python API: the same rows, the same student
    api = train_student(load_table(scored_train), load_table(REVIEWS / "test.jsonl"), min_confidence=0.9)
    assert api.n_train == 40 and api.confidence_filter is not None and api.confidence_filter["kept"] == 40
    assert api.accuracy == pytest.approx(student["accuracy"])


def test_student_min_confidence_bad_input(scored_train: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["evaluate", "student", "--test", str(REVIEWS / "test.jsonl"), "--no-report"]
    assert main([*common, "--train", str(REVIEWS / "train.jsonl"), "--min-confidence", "0.5"]) == 2
    assert "no confidence column 'confidence'" in capsys.readouterr().err
    assert main([*common, "--train", str(scored_train), "--min-confidence", "1.5"]) == 2
    assert "min_confidence must be in [0, 1]" in capsys.readouterr().err
    assert main([*common, "--train", str(scored_train), "--min-confidence", "0.99"]) == 2
    assert (
        "no training row has confidence >= 0.99 (the highest is 0.9500, 60 rows)" in capsys.readouterr().err
    )
    with pytest.raises(ConfigError, match="no confidence column 'p'"):
        learning_curve(
            load_table(scored_train),
            load_table(REVIEWS / "test.jsonl"),
            min_confidence=0.5,
            confidence_column="p",
        )


def test_keep_confident_drops_empty_confidences() -> None:
    data = Dataset.from_dict(
        {"text": list("abcd"), "label": list("xyxy"), "confidence": [0.5, None, 0.7, 0.49]}
    )
    kept, summary = keep_confident(data, 0.5)
    assert kept["text"] == ["a", "c"]
    assert (summary["rows"], summary["kept"], summary["coverage"]) == (4, 2, 0.5)
    assert keep_confident(data, 0.0)[1]["kept"] == 3  # the empty one never counts
