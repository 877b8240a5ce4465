"""The judge: rows scored on criteria by a model's probabilities over a scale, on the fake server.

Each test runs ``generate`` against ``FakeOpenAIServer`` (which serves log-probabilities) through
the OpenAI-compatible client, as a user's run would: the judge's calls go through the engine,
the journal and the call budget like every other call.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.judge_criteria import JudgeCriterion
from fabricator.llms import OpenAICompatible
from fabricator.testing import FakeOpenAIServer

REVIEW = "A real movie-review sentence a critic could have written."


def write_prompt() -> BasePrompt:
    return BasePrompt(
        "Write one {} movie review sentence.",
        label_options=["positive", "negative"],
        generate_data_for_column="text",
    )


def is_judge(messages: list) -> bool:
    return "Criterion:" in messages[-1]["content"]


def judged_text(messages: list) -> str:
    """The ``text:`` line of the example a judge prompt shows."""
    found = re.search(r"^text: (.*)$", messages[-1]["content"], flags=re.M)
    assert found is not None
    return found.group(1)


class Writer:
    """Writes numbered reviews; every ``junk_every``-th one is junk the judge scores low."""

    def __init__(self, junk_every: int = 0) -> None:
        self.count = itertools.count(1)
        self.junk_every = junk_every

    def __call__(self, messages: list, body: dict) -> str:
        if is_judge(messages):
            return "4"  # the greedy answer; the scores come from token_probs
        n = next(self.count)
        if self.junk_every and n % self.junk_every == 0:
            return f"junk junk {n}"
        return f"a fine film, number {n}"


def probs(messages: list, body: dict) -> dict[str, float]:
    """The judge's distribution over 1-5: high for a review, low for junk."""
    if not is_judge(messages):
        return {"x": 1.0}
    if "junk" in judged_text(messages):
        return {"1": 0.6, "2": 0.4}
    return {"4": 0.5, "5": 0.5}


def generate(srv: FakeOpenAIServer, **options):
    gen = DatasetGenerator(OpenAICompatible("fake-model", base_url=srv.base_url))
    ds = gen.generate(write_prompt(), **{"num_samples_to_generate": 4, "max_prompt_calls": 40, **options})
    return gen, ds


def test_expected_score_and_confidence_come_from_the_distribution_over_the_scale():
    def given(messages: list, body: dict) -> dict[str, float]:
        if not is_judge(messages):
            return {"x": 1.0}
        n = int(judged_text(messages).rsplit(" ", 1)[-1])
        return {"1": 0.2, "3": 0.8} if n % 2 else {"4": 0.25, "5": 0.75}

    with FakeOpenAIServer(responder=Writer(), token_probs=given) as srv:
        gen, ds = generate(srv, judge=REVIEW, dedup=False)
    by_row = dict(zip(ds["text"], ds["judge_quality"], strict=True))
    for text, score in by_row.items():
        odd = int(text.rsplit(" ", 1)[-1]) % 2
        assert score == pytest.approx(0.2 * 1 + 0.8 * 3 if odd else 0.25 * 4 + 0.75 * 5)
    scores = [p["judge"]["quality"] for p in gen.last_run.provenance]
    assert {round(s["confidence"], 3) for s in scores} == {0.8, 0.75}
    assert all(set(s["distribution"]) == {"1", "2", "3", "4", "5"} for s in scores)
    assert all(sum(s["distribution"].values()) == pytest.approx(1.0) for s in scores)
    summary = gen.last_run.summary()["judge"]["quality"]
    assert summary["counts"] == {"1": 0, "2": 0, "3": 2, "4": 0, "5": 2}  # 2.6 -> 3, 4.75 -> 5
    assert summary["mean"] == pytest.approx((2.6 + 4.75) / 2, abs=1e-3)
    assert summary["rejected"] == 0


def test_a_scale_whose_points_take_two_tokens_is_scored_exactly():
    def given(messages: list, body: dict) -> list[dict[str, float]]:
        if not is_judge(messages):
            return [{"x": 1.0}]
        # "1" leads to "1" or "10": the next position (in the same answer) tells them apart
        return [{"1": 0.6, "7": 0.4}, {"0": 0.5, "\n": 0.5}]

    criterion = JudgeCriterion(name="realism", rubric=REVIEW, scale=(1, 10))
    with FakeOpenAIServer(responder=Writer(), token_probs=given) as srv:
        gen, ds = generate(srv, judge=criterion, num_samples_to_generate=2)
    distribution = gen.last_run.provenance[0]["judge"]["realism"]["distribution"]
    assert distribution["10"] == pytest.approx(0.3) and distribution["1"] == pytest.approx(0.3)
    assert distribution["7"] == pytest.approx(0.4)
    assert ds["judge_realism"] == pytest.approx([0.3 * 10 + 0.3 * 1 + 0.4 * 7] * 2)


def test_without_logprobs_the_judge_votes_with_sampled_answers():
    answers = itertools.cycle(["4", "Score: 2", "4 out of 5", "4/5", "5"])

    def write(messages: list, body: dict) -> str:
        return next(answers) if is_judge(messages) else Writer()(messages, body)

    with FakeOpenAIServer(responder=write, serve_logprobs=False) as srv:
        gen, ds = generate(srv, judge=REVIEW, label_samples=5, num_samples_to_generate=1)
    score = gen.last_run.provenance[0]["judge"]["quality"]
    assert score["distribution"] == {"1": 0.0, "2": 0.2, "3": 0.0, "4": 0.6, "5": 0.2}
    assert score["score"] == pytest.approx(0.2 * 2 + 0.6 * 4 + 0.2 * 5)
    assert score["confidence"] == pytest.approx(0.6)
    assert ds["judge_quality"] == pytest.approx([score["score"]])
    assert gen.last_run.budget.used == 1 + 5  # the row, and its five judged answers


def test_rows_below_min_judge_score_become_failures_and_are_replaced():
    with FakeOpenAIServer(responder=Writer(junk_every=2), token_probs=probs) as srv:
        gen, ds = generate(srv, judge=REVIEW, min_judge_score=3)
        received = srv.stats["received"]
    report = gen.last_run
    assert len(ds) == 4 and not any("junk" in t for t in ds["text"])
    assert all(score >= 3 for score in ds["judge_quality"])
    low = [f for f in report.failures if f.kind == "LowJudgeScore"]
    assert len(low) >= 3 and all("min_judge_score 3" in f.error for f in low)
    kept_as_data = [json.loads(f.raw) for f in low]
    assert all("junk" in row["text"] and row["judge_quality"] < 3 for row in kept_as_data)
    assert report.summary()["judge"]["quality"]["rejected"] == len(low)
    # every call counted: each row written once and judged once
    assert report.budget.used == received == 2 * (len(ds) + len(low))


def test_a_rubric_string_per_criterion_and_min_scores_by_name():
    criteria = [REVIEW, JudgeCriterion(name="short", rubric="Short.", min_score=4)]
    with FakeOpenAIServer(responder=Writer(junk_every=2), token_probs=probs) as srv:
        gen, ds = generate(srv, judge=criteria, min_judge_score={"quality": 1})
    assert set(ds.column_names) >= {"judge_quality", "judge_short"}
    low = [f for f in gen.last_run.failures if f.kind == "LowJudgeScore"]
    assert low and all("judge 'short'" in f.error for f in low)  # junk passes quality (>= 1)


def test_each_planned_row_has_a_call_set_aside_for_each_criterion():
    criteria = [REVIEW, "Short."]
    with FakeOpenAIServer(responder=Writer(), token_probs=probs) as srv:
        gen, ds = generate(srv, judge=criteria, num_samples_to_generate=10, max_prompt_calls=9)
    assert len(ds) == 3  # 9 calls: 3 rows written and judged twice, none left unjudged
    assert gen.last_run.budget.used == 9
    assert None not in [*ds["judge_quality"], *ds["judge_quality_2"]]


def test_a_separate_judge_backend_judges_and_the_writer_only_writes():
    with (
        FakeOpenAIServer(responder=Writer(junk_every=2), model="writer") as writer,
        FakeOpenAIServer(responder=Writer(), token_probs=probs, model="judge") as judge,
    ):
        judge_llm = OpenAICompatible("judge-model", base_url=judge.base_url)
        gen, ds = generate(writer, judge=REVIEW, min_judge_score=3, judge_llm=judge_llm)
        written = [r.body["messages"] for r in writer.requests]
        judged = [r.body["messages"] for r in judge.requests]
    assert written and not any(is_judge(m) for m in written)
    assert judged and all(is_judge(m) for m in judged)
    assert len(ds) == 4 and not any("junk" in t for t in ds["text"])
    summary = gen.last_run.summary()
    assert summary["calls"] == len(written) + len(judged)  # one call budget for both backends
    assert summary["requests"] == len(written) + len(judged)  # and one count of requests


def test_a_rerun_with_the_journal_pays_nothing_for_judge_calls(tmp_path):
    journal = tmp_path / "journal"
    with FakeOpenAIServer(responder=Writer(junk_every=3), token_probs=probs) as srv:
        first, ds1 = generate(srv, judge=REVIEW, min_judge_score=3, journal_dir=str(journal))
        paid = srv.stats["received"]
        srv.reset_stats()
        second, ds2 = generate(srv, judge=REVIEW, min_judge_score=3, journal_dir=str(journal))
        assert srv.stats["received"] == 0  # every row and every judge call read back
    assert paid > 0 and ds2.to_list() == ds1.to_list()
    assert second.last_run.provenance == first.last_run.provenance
    assert second.last_run.summary()["judge"] == first.last_run.summary()["judge"]


def test_a_rerun_pays_nothing_for_sampled_judge_votes_without_logprobs(tmp_path):
    """A backend without logprobs: the judge's sampled votes come back from the journal too."""
    answers, writer = itertools.cycle(["4", "2", "5", "4", "1"]), Writer(junk_every=3)

    def write(messages: list, body: dict) -> str:
        return next(answers) if is_judge(messages) else writer(messages, body)

    journal = str(tmp_path / "journal")
    with FakeOpenAIServer(responder=write, serve_logprobs=False) as srv:
        first, ds1 = generate(srv, judge=REVIEW, min_judge_score=3, label_samples=5, journal_dir=journal)
        paid = srv.stats["received"]
        srv.reset_stats()
        second, ds2 = generate(srv, judge=REVIEW, min_judge_score=3, label_samples=5, journal_dir=journal)
        assert srv.stats["received"] == 0
    assert paid > len(ds1) and ds2.to_list() == ds1.to_list()
    assert second.last_run.summary()["judge"] == first.last_run.summary()["judge"]


def test_an_interrupted_run_resumes_its_judge_calls_from_the_journal(tmp_path):
    journal = tmp_path / "journal"
    with FakeOpenAIServer(responder=Writer(), token_probs=probs) as srv:
        generate(srv, judge=REVIEW, journal_dir=str(journal), num_samples_to_generate=2)
        paid = [r.body["messages"] for r in srv.requests]
        srv.requests.clear()
        generate(srv, judge=REVIEW, journal_dir=str(journal), num_samples_to_generate=4)
        again = [r.body["messages"] for r in srv.requests]
    asked = [m for m in again if is_judge(m)]
    assert sum(map(is_judge, paid)) == 2
    assert len(asked) == 2 and not any(m in paid for m in asked)  # only the two new rows are judged


def test_annotated_rows_are_judged_too():
    from datasets import Dataset

    unlabeled = Dataset.from_dict({"text": ["a fine film, number 1", "junk junk 2"]})
    prompt = BasePrompt(
        "Classify as: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )

    def write(messages: list, body: dict) -> str:
        return "4" if is_judge(messages) else "positive"

    with FakeOpenAIServer(responder=write, token_probs=probs) as srv:
        gen = DatasetGenerator(OpenAICompatible("fake-model", base_url=srv.base_url))
        ds = gen.generate(prompt, unlabeled_dataset=unlabeled, max_prompt_calls=10, judge=REVIEW)
        shown = [r.body["messages"][-1]["content"] for r in srv.requests if is_judge(r.body["messages"])]
    assert ds["judge_quality"] == pytest.approx([4.5, 1.4])
    assert all("label: positive" in text for text in shown)  # the judge reads the row's label
    assert not any("confidence" in text for text in shown)


def test_calibration_divides_the_judges_prior_out():
    def lean(messages: list, body: dict) -> dict[str, float]:
        if not is_judge(messages):
            return {"x": 1.0}
        return {"4": 0.9, "5": 0.1} if "junk" in judged_text(messages) else {"4": 0.5, "5": 0.5}

    criterion = JudgeCriterion(rubric=REVIEW, calibrate=True)
    with FakeOpenAIServer(responder=Writer(junk_every=2), token_probs=lean) as srv:
        _, raw = generate(srv, judge=REVIEW)
    with FakeOpenAIServer(responder=Writer(junk_every=2), token_probs=lean) as srv:
        _, calibrated = generate(srv, judge=criterion)
    assert sorted(set(raw["judge_quality"])) == pytest.approx([4.1, 4.5])
    # the prior (the rows' mean: 0.7 on 4, 0.3 on 5) divided out of each row, then renormalized
    junk, fine = (0.9 / 0.7, 0.1 / 0.3), (0.5 / 0.7, 0.5 / 0.3)
    expected = [(4 * a + 5 * b) / (a + b) for a, b in (junk, fine)]
    assert sorted(set(calibrated["judge_quality"])) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"min_judge_score": 3}, "no judge criterion"),
        ({"judge": [REVIEW, {"name": "quality", "rubric": "x"}]}, "different names"),
        ({"judge": {"rubric": "x", "scale": [5, 1]}}, "scale"),
        ({"judge": {"name": "Bad Name", "rubric": "x"}}, "criterion name"),
        ({"judge": REVIEW, "min_judge_score": 9}, "outside the scale"),
        ({"judge": REVIEW, "min_judge_score": {"realism": 3}}, "names no judge criterion"),
    ],
)
def test_bad_criteria_are_config_errors_before_any_call(options, named):
    with FakeOpenAIServer(responder=Writer()) as srv:
        with pytest.raises(ConfigError, match=named):
            generate(srv, **options)
        assert srv.stats["received"] == 0
