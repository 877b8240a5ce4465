"""``max_prompt_calls`` bounds model calls (issue 11, case 5) and plans lazily (case 6).

Every test counts the calls the model really received in the fake backend's own callable.
"""

import tracemalloc

import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import AuthenticationError, ConfigError
from fabricator.llms import Fake

LABELS = ["positive", "negative"]


class Counted:
    """A model answer function that counts how often the model was asked."""

    def __init__(self, answer: str = "As an AI language model, I cannot write reviews.") -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        return self.answer.format(n=self.calls)


def review() -> BasePrompt:
    return BasePrompt(
        task_description="Generate a {} movie review.", label_options=LABELS, generate_data_for_column="text"
    )


def classify() -> BasePrompt:
    return BasePrompt(
        task_description="Classify as: {}.",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )


def test_refusing_model_gets_at_most_the_cap_of_calls(sentiment_fewshot):
    model = Counted()  # refuses every time: re-asks and top-ups would go on without a cap
    g = DatasetGenerator(Fake(model))
    ds = g.generate(
        review(), sentiment_fewshot, "uniform", 1, "label", max_prompt_calls=10, num_samples_to_generate=10
    )
    assert len(ds) == 0
    assert model.calls <= 10
    summary = g.last_run.summary()
    assert summary["calls"] == model.calls and summary["call_cap"] == 10
    assert "CallCapReached" in {f.kind for f in g.last_run.failures}


def test_annotation_with_garbage_answers_stays_within_two_calls():
    model = Counted("no idea")
    g = DatasetGenerator(Fake(model))
    ds = g.generate(classify(), unlabeled_dataset=Dataset.from_dict({"text": ["a", "b"]}), max_prompt_calls=2)
    assert len(ds) == 0 and model.calls == 2  # each row asked once, no call left to re-ask
    failures = g.last_run.failures
    assert [f.source for f in failures] == [0, 1] and {f.kind for f in failures} == {"CallCapReached"}
    assert all(f.raw == "no idea" and "max_prompt_calls (2)" in f.error for f in failures)


def test_every_row_is_asked_before_any_re_ask():
    model = Counted("no idea")
    g = DatasetGenerator(Fake(model, max_concurrency=1))
    g.generate(classify(), unlabeled_dataset=Dataset.from_dict({"text": ["a", "b", "c"]}), max_prompt_calls=4)
    assert model.calls == 4  # three first asks, one re-ask
    failures = g.last_run.failures
    assert [f.source for f in failures] == [0, 1, 2]
    assert all(f.raw == "no idea" for f in failures)  # each row got an answer, none went unasked


def test_normal_run_gets_all_its_rows_within_the_cap(sentiment_fewshot):
    model = Counted("A fine film, take {n}.")
    g = DatasetGenerator(Fake(model))
    ds = g.generate(
        review(), sentiment_fewshot, "uniform", 1, "label", max_prompt_calls=10, num_samples_to_generate=10
    )
    assert len(ds) == 10 and model.calls == 10 and g.last_run.summary()["calls"] == 10
    assert not g.last_run.failures


def test_spare_calls_replace_failed_rows(sentiment_fewshot):
    answers = iter(["As an AI language model, I cannot.", "Great fun.", "Dull.", "Loved it.", "Meh."])
    model = Fake(lambda prompt: next(answers), max_concurrency=1)
    g = DatasetGenerator(model, max_tries=1)
    ds = g.generate(
        review(), sentiment_fewshot, "uniform", 1, "label", max_prompt_calls=5, num_samples_to_generate=3
    )
    assert len(ds) == 3 and model.calls == 4  # three first asks, one top-up for the refusal


def test_transport_retries_are_reported_apart_from_calls():
    llm = Fake("Nice.", failures={0: "429", 1: "500"})
    g = DatasetGenerator(llm)
    ds = g.generate(
        BasePrompt("Write a review."),
        max_prompt_calls=2,
        num_samples_to_generate=2,
        max_retries=3,
        dedup=False,
        max_concurrency=1,
    )
    summary = g.last_run.summary()
    assert len(ds) == 2 and summary["calls"] == 2 and summary["retries"] == 2
    assert llm.calls == 4 == summary["requests"]


def test_journaled_answers_do_not_count_against_the_cap(tmp_path):
    prompt = BasePrompt("Write a review.")
    first = Counted("Review {n}.")
    DatasetGenerator(Fake(first)).generate(
        prompt, max_prompt_calls=4, num_samples_to_generate=4, journal_dir=tmp_path / "j"
    )
    second = Counted("Another review {n}.")
    g = DatasetGenerator(Fake(second))
    ds = g.generate(prompt, max_prompt_calls=6, num_samples_to_generate=6, journal_dir=tmp_path / "j")
    assert len(ds) == 6 and first.calls == 4 and second.calls == 2
    assert g.last_run.summary()["calls"] == 2 and g.last_run.stats.cached == 4


@pytest.mark.timeout(30)  # a guard: the old code tops up duplicate rows for ever
@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_samples_to_generate": 10**12, "max_prompt_calls": 5},
        {"num_samples_to_generate": 5, "max_prompt_calls": 10**12},
    ],
)
def test_absurd_counts_are_refused_before_any_call(kwargs):
    llm = Fake("x")
    with pytest.raises(ConfigError, match="more than one run may plan") as info:
        DatasetGenerator(llm).generate(BasePrompt("Write a review."), **kwargs)
    assert "split the run" in (info.value.hint or "")
    assert llm.calls == 0


@pytest.mark.timeout(300)  # a hang guard only (the memory peak is the check): eager planning takes GBs
def test_a_ten_million_row_plan_is_made_lazily(sentiment_fewshot):
    llm = Fake("x", failures={0: "401"})
    tracemalloc.start()
    try:
        with pytest.raises(AuthenticationError):
            DatasetGenerator(llm).generate(
                review(),
                sentiment_fewshot,
                "uniform",
                1,
                "label",
                max_prompt_calls=10_000_000,
                num_samples_to_generate=10_000_000,
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert llm.calls >= 1
    assert peak < 100 * 2**20  # one round of items, not ten million


def test_row_prompts_do_not_depend_on_the_total(sentiment_fewshot):
    def hashes(n: int) -> list[str]:
        g = DatasetGenerator(Fake(Counted("Review {n}.")))
        g.generate(
            review(),
            sentiment_fewshot,
            "uniform",
            2,
            "label",
            max_prompt_calls=n,
            num_samples_to_generate=n,
            seed=5,
        )
        return [p["prompt_hash"] for p in g.last_run.provenance]

    assert hashes(9)[:5] == hashes(5)
