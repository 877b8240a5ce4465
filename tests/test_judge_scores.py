"""The judge's arithmetic: an answer read as a point of the scale, and a distribution as a score."""

from __future__ import annotations

import pytest

from fabricator.errors import ParseError
from fabricator.judge_criteria import JudgeCriterion, criteria_of, min_scores
from fabricator.scoring.judge_scores import ScoreCounts, judge_score, nearest_point, read_score

FIVE = ["1", "2", "3", "4", "5"]
TEN = [str(s) for s in range(1, 11)]


@pytest.mark.parametrize(
    ("text", "points", "point"),
    [
        ("4", FIVE, "4"),
        (" Score: 4.", FIVE, "4"),
        ("4/5", FIVE, "4"),
        ("I'd give it a 2 out of 5", FIVE, "2"),
        ("10", TEN, "10"),
        ("10/10", TEN, "10"),
        ("1", TEN, "1"),
    ],
)
def test_an_answer_counts_for_the_first_number_in_it(text, points, point):
    assert read_score(text, points) == point


@pytest.mark.parametrize("text", ["excellent", "7", "4.5", ""])
def test_an_answer_naming_no_point_of_the_scale_is_a_parse_error(text):
    with pytest.raises(ParseError):
        read_score(text, FIVE)


def test_the_expected_score_weights_each_point_by_its_probability():
    score = judge_score({"2": 0.1, "4": 0.6, "5": 0.3}, FIVE)
    assert score.score == pytest.approx(0.2 + 2.4 + 1.5)
    assert score.confidence == pytest.approx(0.6)
    assert score.distribution == {"1": 0.0, "2": 0.1, "3": 0.0, "4": 0.6, "5": 0.3}


def test_mass_off_the_scale_is_left_out_and_the_rest_renormalized():
    score = judge_score({"3": 0.2, "5": 0.2, "9": 0.6}, FIVE)
    assert score.score == pytest.approx(4.0) and score.confidence == pytest.approx(0.5)
    with pytest.raises(ValueError, match="some probability"):
        judge_score({"9": 1.0}, FIVE)


def test_histogram_counts_by_nearest_point_and_keeps_every_point():
    counts = ScoreCounts(FIVE)
    for score in (1.2, 2.5, 4.49, 4.5, 5.0):
        counts.add(score)
    counts.rejected = 1
    assert counts.as_dict() == {
        "mean": pytest.approx((1.2 + 2.5 + 4.49 + 4.5 + 5.0) / 5, abs=1e-4),
        "counts": {"1": 1, "2": 0, "3": 1, "4": 1, "5": 2},
        "rejected": 1,
    }
    assert nearest_point(0.2, FIVE) == "1" and nearest_point(9.0, FIVE) == "5"
    assert ScoreCounts(FIVE).as_dict()["mean"] is None


def test_criteria_from_strings_mappings_and_objects():
    given = [
        "Real.",
        {"name": "fluent", "rubric": "Fluent.", "scale": [0, 10]},
        JudgeCriterion(rubric="x", name="c"),
    ]
    criteria = criteria_of(given)
    assert [c.name for c in criteria] == ["quality", "fluent", "c"]
    assert criteria[1].points == [str(s) for s in range(11)] and criteria[1].column == "judge_fluent"
    assert criteria_of("Real.") == [JudgeCriterion(rubric="Real.")]
    assert criteria_of([]) is None and criteria_of(None) is None


def test_min_scores_take_the_criterions_own_else_the_option():
    criteria = [JudgeCriterion(name="a", rubric="A.", min_score=2), JudgeCriterion(name="b", rubric="B.")]
    assert min_scores(criteria, 3) == {"a": 2, "b": 3}
    assert min_scores(criteria, {"b": 4}) == {"a": 2, "b": 4}
    assert min_scores(criteria, None) == {"a": 2, "b": None}
    with pytest.raises(ValueError, match="give one"):
        min_scores(criteria, {"a": 3})
