import pytest
from conftest import annotate, conditioned
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import AuthenticationError, ConfigError, RateLimitError
from fabricator.llms import Fake

LABELS = ["positive", "negative"]


def numbered(*answers):
    """Answers in turn, each made distinct by a call number (so none is a duplicate)."""
    calls = iter(range(10**6))
    return lambda prompt: answers[(n := next(calls)) % len(answers)].format(n=n)


def test_counts_rows_not_columns_and_tops_up_failed_rows(sentiment_fewshot):
    llm = Fake(
        numbered(
            "A fine film, take {n}.",
            "As an AI language model, I cannot write reviews.",
            "Dreadful, take {n}.",
        ),
        max_concurrency=1,
    )
    g = DatasetGenerator(llm, max_tries=1)
    ds = g.generate(
        conditioned(),
        sentiment_fewshot,
        "uniform",
        1,
        "label",
        max_prompt_calls=30,
        num_samples_to_generate=12,
    )
    assert len(ds) == 12
    assert all("AI language model" not in t for t in ds["text"])
    assert len(g.last_run.failures) >= 4 and g.last_run.failures[0].kind == "RefusalError"
    assert g.last_run.failures[0].raw.startswith("As an AI")


def test_top_ups_ask_for_the_labels_the_filters_took():
    """A filter that drops more of one class (here exact repeats of negative reviews) must not
    unbalance the run: the top-up rows ask for the labels that fell short."""
    negatives, positives = iter(range(10**6)), iter(range(10**6))

    def writer(prompt: str) -> str:
        if "a negative movie" in prompt:
            n = next(negatives)
            return "Dull and long." if n < 3 else f"Dull, take {n}."
        return f"Lovely, take {next(positives)}."

    llm = Fake(writer, max_concurrency=1)
    g = DatasetGenerator(llm)
    ds = g.generate(conditioned(), max_prompt_calls=20, num_samples_to_generate=6, dedup=True)
    names = ds.features["label"].names
    assert sorted(names[i] for i in ds["label"]) == ["negative"] * 3 + ["positive"] * 3
    users = [next(m["content"] for m in r.messages if m["role"] == "user") for r in llm.requests]
    asked = ["negative" if "a negative movie" in u else "positive" for u in users]
    assert asked[6:] == ["negative", "negative"]  # the two repeats, asked for again


def test_refusal_is_retried_within_the_row(sentiment_fewshot):
    llm = Fake(["Sure! I'm sorry, I can't write that.", "text: A gripping, beautiful film."])
    g = DatasetGenerator(llm)
    ds = g.generate(
        conditioned(),
        sentiment_fewshot,
        "uniform",
        1,
        "label",
        max_prompt_calls=6,
        num_samples_to_generate=3,
        dedup=False,
    )  # 3 first asks + 3 re-asks
    assert ds["text"] == ["A gripping, beautiful film."] * 3
    assert not g.last_run.failures
    assert llm.calls == g.last_run.summary()["calls"] == 6


def test_duplicates_and_copied_examples_are_dropped_and_replaced(sentiment_fewshot):
    answers = iter(
        ["Loved it, truly.", "Loved it,  TRULY.", "A delight from start to end.", "Dull, dull, dull."]
    )
    llm = Fake(lambda prompt: next(answers), max_concurrency=1)
    g = DatasetGenerator(llm)
    ds = g.generate(
        conditioned(), sentiment_fewshot, "uniform", 1, "label", max_prompt_calls=6, num_samples_to_generate=2
    )
    assert ds["text"] == ["Loved it, truly.", "Dull, dull, dull."]
    assert [f.kind for f in g.last_run.failures] == ["Duplicate", "CopiedExample"]
    assert g.last_run.failures[1].raw == "A delight from start to end."  # kept with its text


def test_label_answers_are_normalized_and_reasked(sentiment_fewshot):
    unlabeled = Dataset.from_dict({"text": ["a", "b", "c"]})
    llm = Fake(["Positive.", "I'd say negative", "no idea", "positive"])
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(),
        sentiment_fewshot,
        "stratified",
        1,
        unlabeled_dataset=unlabeled,
        max_prompt_calls=4,
        label_scoring="off",  # the answer text is parsed (and re-asked), as before label scoring
    )  # three rows, and one call left for the re-ask
    names = ds.features["label"].names
    assert [names[i] for i in ds["label"]] == ["positive", "negative", "positive"]
    reask = llm.requests[3].messages
    assert "not one of" in reask[-1]["content"]


def test_unparseable_label_is_a_counted_failure_not_a_row(sentiment_fewshot):
    unlabeled = Dataset.from_dict({"text": ["a", "b"]})
    g = DatasetGenerator(Fake("no idea"))
    ds = g.generate(annotate(), unlabeled_dataset=unlabeled, max_prompt_calls=2)
    assert len(ds) == 0
    assert [f.source for f in g.last_run.failures] == [0, 1]
    assert g.last_run.summary()["failures"] == 2


def test_transient_errors_are_retried_and_failed_rows_kept():
    llm = Fake("Nice.", failures={0: "429", 1: "500", 2: "timeout"})
    g = DatasetGenerator(llm)
    ds = g.generate(
        BasePrompt("Write a review."),
        max_prompt_calls=3,
        num_samples_to_generate=3,
        max_retries=3,
        dedup=False,
    )
    assert len(ds) == 3 and g.last_run.stats.retries == 3


def test_exhausted_retries_fail_the_row_only():
    llm = Fake("Nice.", failures={i: RateLimitError("slow", retry_after=0) for i in range(3)})
    g = DatasetGenerator(llm)
    ds = g.generate(
        BasePrompt("Write a review."),
        max_prompt_calls=1,
        num_samples_to_generate=1,
        max_retries=2,
        max_concurrency=1,
    )
    assert len(ds) == 0 and g.last_run.failures[0].kind == "RateLimitError"


def test_rejected_key_stops_the_run():
    llm = Fake("Nice.", failures={0: "401"})
    with pytest.raises(AuthenticationError):
        DatasetGenerator(llm).generate(
            BasePrompt("Write a review."), max_prompt_calls=20, num_samples_to_generate=20
        )
    assert llm.calls <= 8  # the other workers stop too: no endless retry


def test_budget_stops_cleanly_and_keeps_rows():
    g = DatasetGenerator(Fake("one two three four five", max_concurrency=1))
    ds = g.generate(BasePrompt("Write."), max_prompt_calls=50, num_samples_to_generate=50, budget_tokens=40)
    assert 0 < len(ds) < 50 and g.last_run.stats.stopped == "budget"


def test_same_seed_same_prompts(sentiment_fewshot):
    a, b = Fake("x"), Fake("x")
    for llm in (a, b):
        DatasetGenerator(llm).generate(
            conditioned(),
            sentiment_fewshot,
            "uniform",
            2,
            "label",
            max_prompt_calls=8,
            num_samples_to_generate=8,
            seed=3,
        )
    assert [r.messages for r in a.requests] == [r.messages for r in b.requests]
    assert len({r.seed for r in a.requests}) == 8  # repeated prompts still sample differently


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"fewshot_sampling_strategy": "balanced"}, "unknown fewshot_sampling_strategy"),
        ({"fewshot_examples_per_class": 9}, "has only 3"),
        ({"fewshot_sampling_column": "sentiment"}, "lacks column"),
    ],
)
def test_bad_generation_arguments(sentiment_fewshot, kwargs, needle):
    llm = Fake("x")
    args = {
        "fewshot_sampling_strategy": "uniform",
        "fewshot_examples_per_class": 1,
        "fewshot_sampling_column": "label",
        **kwargs,
    }
    with pytest.raises(ConfigError, match=needle):
        DatasetGenerator(llm).generate(conditioned(), sentiment_fewshot, **args)
    assert llm.calls == 0


def test_bad_annotation_inputs(sentiment_fewshot):
    llm = Fake("positive")
    g = DatasetGenerator(llm)
    with pytest.raises(ConfigError, match="lacks column"):
        g.generate(annotate(), unlabeled_dataset=Dataset.from_dict({"review": ["a"]}))
    with pytest.raises(ConfigError, match="empty"):
        g.generate(annotate(), unlabeled_dataset=Dataset.from_dict({"text": []}))
    bad_labels = Dataset.from_dict({"text": ["a"], "label": ["neutral"]})
    with pytest.raises(ConfigError, match="not among the label options"):
        g.generate(
            annotate(), bad_labels, "stratified", 1, unlabeled_dataset=Dataset.from_dict({"text": ["a"]})
        )
    with pytest.raises(ConfigError, match="no model"):
        DatasetGenerator(None).generate(annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["a"]}))
    assert llm.calls == 0


def test_works_inside_a_running_event_loop():
    import asyncio

    async def notebook_cell():
        return DatasetGenerator(Fake("hello")).generate(
            BasePrompt("Say hi."), max_prompt_calls=2, num_samples_to_generate=2, dedup=False
        )

    assert len(asyncio.run(notebook_cell())) == 2


def test_answer_cut_off_at_max_tokens_keeps_complete_sentences():
    from fabricator.llms.base import Completion

    class Truncating(Fake):
        async def complete(self, request):
            done = await super().complete(request)
            return Completion(done.text, "length", done.usage, done.model)

    llm = Truncating(["Great cast. Superb score. The ending was", "An endless, aimless"])
    g = DatasetGenerator(llm, max_tries=1)
    ds = g.generate(BasePrompt("Write a review."), max_prompt_calls=2, num_samples_to_generate=2)
    assert ds["text"] == ["Great cast. Superb score."]
    assert "cut off" in g.last_run.failures[0].error


def test_each_row_has_provenance(sentiment_fewshot):
    llm = Fake(numbered("Review number {n}."))
    g = DatasetGenerator(llm)
    ds = g.generate(
        conditioned(),
        sentiment_fewshot,
        "uniform",
        2,
        "label",
        max_prompt_calls=4,
        num_samples_to_generate=4,
        seed=7,
    )
    prov = g.last_run.provenance
    assert len(prov) == len(ds) == 4
    names = ds.features["label"].names
    for row, p in zip(ds, prov, strict=True):
        assert p["model"] == "fake" and len(p["prompt_hash"]) == 16 and p["seed"] is not None
        assert len(p["fewshot_ids"]) == 2 and p["label"] == names[row["label"]]
        assert {sentiment_fewshot[i]["label"] for i in p["fewshot_ids"]} == {p["label"]}
