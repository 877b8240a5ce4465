"""Label scoring: labels from the model's token probabilities, confidence, calibration, votes, fallback."""

from __future__ import annotations

import asyncio
import math

import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.llms import Request
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.scoring import LabelMatcher, calibrate, label_prior
from fabricator.testing import FakeOpenAIServer

SENTIMENT = ["positive", "negative"]


def annotate(options=SENTIMENT) -> BasePrompt:
    return BasePrompt(
        "Classify the review as one of: {}.",
        label_options=options,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )


def row_text(request: Request) -> str:
    """The text of the row being annotated (the last ``text:`` line of the user turn)."""
    user = next(m["content"] for m in request.messages if m["role"] == "user")
    return user.rsplit("text: ", 1)[-1].split("\n", 1)[0]


def prefill(request: Request) -> str:
    last = request.messages[-1]
    return last["content"] if last["role"] == "assistant" else ""


def labels_of(ds: Dataset, column: str = "label") -> list[str]:
    names = ds.features[column].names
    return [names[i] for i in ds[column]]


# --- the matcher -----------------------------------------------------------------------------


def test_case_spaces_and_synonyms_reach_the_same_label():
    matcher = LabelMatcher({"positive": "positive", "negative": "negative", "pos": "positive"})
    step = matcher.step(
        "", [(" Positive", 0.5), (" positive", 0.2), ("pos", 0.1), (" neg", 0.1), (" The", 0.1)]
    )
    assert step.labels == pytest.approx({"positive": 0.8, "negative": 0.1})
    assert step.branches == {}  # " The" leads nowhere: its mass is dropped, not given to a label


def test_a_shared_first_word_is_a_branch_and_a_longer_label_wins_at_its_end():
    matcher = LabelMatcher({a: a for a in ["very positive", "very negative", "human", "human being"]})
    step = matcher.step("", [(" very", 0.6), (" Very", 0.1), (" human", 0.3)])
    assert step.labels == {}
    assert {key: round(mass, 6) for key, (_, mass) in step.branches.items()} == {"very": 0.7, "human": 0.3}
    assert step.branches["very"][0] == " very"  # the likelier spelling is continued
    after = matcher.step(" human", [(" being", 0.5), ("<|im_end|>", 0.4), ("\n", 0.1)], mass=0.3)
    assert after.labels == pytest.approx({"human being": 0.15, "human": 0.15})


# --- rows through the generator, on the Fake backend ------------------------------------------


def test_label_and_confidence_come_from_probabilities_not_from_the_text():
    probs = {"good": {" positive": 0.9, " negative": 0.1}, "bad": {" positive": 0.3, " Negative": 0.7}}
    llm = Fake("positive", token_probs=lambda r: probs[row_text(r)])  # writes "positive" for both
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["good", "bad"]}), max_prompt_calls=2
    )
    assert labels_of(ds) == ["positive", "negative"]
    assert ds["confidence"] == pytest.approx([0.9, 0.7])
    assert g.last_run.provenance[1]["label_scores"] == pytest.approx({"positive": 0.3, "negative": 0.7})
    assert g.last_run.provenance[1]["scoring"] == "logprobs"
    assert llm.calls == 2 and all(r.logprobs and r.temperature == 0.0 for r in llm.requests)


def test_multi_token_labels_sharing_a_prefix_are_scored_exactly():
    options = ["very positive", "very negative", "neutral"]

    def probs(request: Request):
        done = prefill(request).removeprefix("label:")
        if done == "":  # first position, then the greedy path (" very" -> " negative")
            return [{" very": 0.8, " neutral": 0.2}, {" negative": 0.75, " positive": 0.25}]
        raise AssertionError(f"unexpected extra request with prefill {done!r}")

    llm = Fake("very negative", token_probs=probs)
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(options), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), max_prompt_calls=1
    )
    assert labels_of(ds) == ["very negative"]
    scores = g.last_run.provenance[0]["label_scores"]
    assert scores == pytest.approx({"very positive": 0.2, "very negative": 0.6, "neutral": 0.2})
    assert llm.calls == 1  # the branch was on the greedy path: no extra request


def test_a_branch_off_the_greedy_path_costs_one_request_with_its_prefix_prefilled():
    options = ["very positive", "very negative", "neutral"]

    def probs(request: Request):
        done = prefill(request).removeprefix("label:")
        if done == "":
            return [{" neutral": 0.5, " very": 0.4, " Very": 0.1}, {"<|im_end|>": 1.0}]
        assert done == " very"
        return {" positive": 0.9, " negative": 0.1}

    llm = Fake("neutral", token_probs=probs)
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(options), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), max_prompt_calls=5
    )
    assert labels_of(ds) == ["neutral"]
    assert g.last_run.provenance[0]["label_scores"] == pytest.approx(
        {"very positive": 0.45, "very negative": 0.05, "neutral": 0.5}
    )
    assert llm.calls == 2 and g.last_run.summary()["calls"] == 2


def test_without_logprobs_sampled_answers_vote():
    llm = Fake(["negative", "positive", "Negative.", "negative", "no idea"], logprobs=False)
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), max_prompt_calls=10, label_samples=5
    )
    assert labels_of(ds) == ["negative"]
    assert ds["confidence"] == pytest.approx([0.75])  # 3 of the 4 answers that name a label
    prov = g.last_run.provenance[0]
    assert prov["scoring"] == "samples" and prov["coverage"] == pytest.approx(0.8)
    assert llm.calls == 5 and len({r.seed for r in llm.requests}) == 5  # each sample its own seed


def test_logprobs_required_but_missing_is_a_clear_error():
    with pytest.raises(ConfigError, match="no log-probabilities"):
        DatasetGenerator(Fake("positive", logprobs=False)).generate(
            annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), label_scoring="logprobs"
        )


def test_scoring_counts_every_call_against_max_prompt_calls():
    llm = Fake(["negative", "positive"], logprobs=False)
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(),
        unlabeled_dataset=Dataset.from_dict({"text": ["x", "y"]}),
        max_prompt_calls=4,
        label_samples=3,
    )
    assert llm.calls == 4 and g.last_run.summary()["calls"] == 4
    assert len(ds) == 2  # each row kept the votes it got before the cap


def test_batch_calibration_removes_the_models_lean_towards_one_label():
    # the model says "positive" for every row, but less so for the negative ones
    lean = {"a": 0.95, "b": 0.9, "c": 0.6, "d": 0.55}
    llm = Fake(
        "positive", token_probs=lambda r: {" positive": lean[row_text(r)], " negative": 1 - lean[row_text(r)]}
    )
    data = Dataset.from_dict({"text": list(lean)})
    raw = DatasetGenerator(llm).generate(annotate(), unlabeled_dataset=data, max_prompt_calls=4)
    assert labels_of(raw) == ["positive"] * 4
    g = DatasetGenerator(llm)
    calibrated = g.generate(annotate(), unlabeled_dataset=data, max_prompt_calls=4, calibration="batch")
    assert labels_of(calibrated) == ["positive", "positive", "negative", "negative"]
    assert g.last_run.summary()["calibration_changed"] == 2
    assert g.last_run.provenance[2]["label_scores"]["positive"] == pytest.approx(0.6)  # raw scores kept


def test_calibration_keeps_a_label_rare_when_the_fewshot_pool_says_it_is():
    # the model's lean: "b" always somewhat likely; the pool says "b" is rare (1 in 10)
    scores = {"x1": 0.9, "x2": 0.8, "x3": 0.45, "x4": 0.4}
    pool = Dataset.from_dict({"text": [f"p{i}" for i in range(10)], "label": ["a"] * 9 + ["b"]})
    llm = Fake("a", token_probs=lambda r: {" a": scores[row_text(r)], " b": 1 - scores[row_text(r)]})
    prompt = annotate(["a", "b"])
    data = Dataset.from_dict({"text": list(scores)})
    uniform = DatasetGenerator(llm).generate(
        prompt, unlabeled_dataset=data, max_prompt_calls=4, calibration="batch"
    )
    assert labels_of(uniform) == ["a", "a", "b", "b"]  # no pool: labels taken as equally frequent
    to_pool = DatasetGenerator(llm).generate(
        prompt, pool, "stratified", 1, unlabeled_dataset=data, max_prompt_calls=4, calibration="batch"
    )
    assert labels_of(to_pool) == ["a", "a", "a", "a"]  # "b" stays as rare as in the labelled pool


def test_calibration_math():
    rows = [{"a": 0.9, "b": 0.1}, {"a": 0.5, "b": 0.5}]
    assert label_prior(rows, ["a", "b"]) == pytest.approx({"a": 0.7, "b": 0.3})
    out = calibrate(rows, ["a", "b"])
    assert out[1]["b"] == pytest.approx((0.5 / 0.3) / (0.5 / 0.7 + 0.5 / 0.3))
    assert all(math.isclose(sum(r.values()), 1.0) for r in out)


def test_min_confidence_keeps_sure_rows_and_reports_the_rest_as_failures():
    sure = {"a": 0.95, "b": 0.6, "c": 0.2}
    llm = Fake(
        "positive", token_probs=lambda r: {" positive": sure[row_text(r)], " negative": 1 - sure[row_text(r)]}
    )
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(),
        unlabeled_dataset=Dataset.from_dict({"text": list(sure)}),
        max_prompt_calls=3,
        min_confidence=0.7,
    )
    assert ds["text"] == ["a", "c"] and labels_of(ds) == ["positive", "negative"]
    summary = g.last_run.summary()
    assert (
        summary["rows"] == 2
        and summary["below_min_confidence"] == 1
        and summary["coverage"] == pytest.approx(0.6667)
    )
    [unsure] = g.last_run.failures
    assert unsure.kind == "LowConfidence" and unsure.source == 1 and unsure.raw == "positive"


def test_votes_use_other_fewshot_draws_and_flag_disagreement():
    pool = Dataset.from_dict({"text": [f"ex{i}" for i in range(8)], "label": ["positive", "negative"] * 4})

    def probs(request: Request):
        user = next(m["content"] for m in request.messages if m["role"] == "user")
        # the answer depends on which examples the prompt shows
        return {" positive": 0.8, " negative": 0.2} if "ex0" in user or "ex2" in user else {" negative": 1.0}

    llm = Fake("positive", token_probs=probs)
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(),
        pool,
        "stratified",
        1,
        unlabeled_dataset=Dataset.from_dict({"text": ["x", "y", "z"]}),
        max_prompt_calls=20,
        votes=3,
    )
    assert llm.calls == 9 and len(ds) == 3
    for prov, confidence in zip(g.last_run.provenance, ds["confidence"], strict=True):
        assert (
            len(prov["vote_fewshot_ids"]) == 3 and len({tuple(ids) for ids in prov["vote_fewshot_ids"]}) > 1
        )
        assert prov["flagged"] == (len(set(prov["vote_labels"])) > 1)
        assert confidence == pytest.approx(max(prov["label_scores"].values()))
    again = DatasetGenerator(Fake("positive", token_probs=probs)).generate(
        annotate(),
        pool,
        "stratified",
        1,
        unlabeled_dataset=Dataset.from_dict({"text": ["x", "y", "z"]}),
        max_prompt_calls=20,
        votes=3,
    )
    assert again["confidence"] == ds["confidence"]  # seeded: the same draws every run


def test_votes_without_fewshot_examples_are_refused():
    with pytest.raises(ConfigError, match="votes=3"):
        DatasetGenerator(Fake("positive")).generate(
            annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), votes=3
        )


def test_task_rephrasings_vote_and_their_scores_are_averaged():
    def probs(request: Request):
        user = next(m["content"] for m in request.messages if m["role"] == "user")
        if user.startswith("Is this review"):  # the rephrasing leans the other way
            return {" positive": 0.2, " negative": 0.8}
        return {" positive": 0.9, " negative": 0.1}

    llm = Fake("positive", token_probs=probs)
    g = DatasetGenerator(llm)
    ds = g.generate(
        annotate(),
        unlabeled_dataset=Dataset.from_dict({"text": ["x", "y"]}),
        max_prompt_calls=4,
        task_rephrasings=["Is this review {}? Answer with one label."],
    )
    assert llm.calls == 4  # each row: the task as written, then its rephrasing
    assert labels_of(ds) == ["positive", "positive"]  # mean 0.55 / 0.45
    assert ds["confidence"] == pytest.approx([0.55, 0.55])
    for prov in g.last_run.provenance:
        assert prov["vote_labels"] == ["positive", "negative"] and prov["flagged"]
        assert prov["vote_scores"] == [
            pytest.approx({"positive": 0.9, "negative": 0.1}),
            pytest.approx({"positive": 0.2, "negative": 0.8}),
        ]
    asked = [next(m["content"] for m in r.messages if m["role"] == "user") for r in llm.requests]
    assert asked[1].startswith("Is this review positive, negative? Answer with one label.")
    assert asked[1].endswith("text: x\nlabel:")  # the same row, the same layout


def test_a_short_budget_annotates_fewer_rows_each_with_all_its_votes(caplog):
    """Every planned row gets all its prompts, whatever order the rows finish in: a budget short
    of them plans fewer rows, and says how many calls would annotate them all."""
    llm = Fake("positive", token_probs=lambda r: {" positive": 0.7, " negative": 0.3})
    g = DatasetGenerator(llm)
    with caplog.at_level("WARNING", logger="fabricator"):
        ds = g.generate(
            annotate(),
            unlabeled_dataset=Dataset.from_dict({"text": [f"row {i}" for i in range(5)]}),
            max_prompt_calls=7,
            task_rephrasings=["Is this review {}?", "Which fits the review: {}?"],
        )
    assert len(ds) == 2 and llm.calls == 6
    assert [p["votes"] for p in g.last_run.provenance] == [3, 3]
    assert "covers 2 of 5 rows at 3 prompts a row (votes); raise it to 15" in caplog.text


@pytest.mark.parametrize(
    ("rephrasing", "message"),
    [
        ("Is this review positive?", "no '{}' placeholder"),
        ("", "non-empty"),
        ("Is it {} in {tone}?", "fields"),
    ],
)
def test_a_bad_rephrasing_is_refused_before_any_call(rephrasing, message):
    llm = Fake("positive")
    with pytest.raises(ConfigError, match=message):
        DatasetGenerator(llm).generate(
            annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), task_rephrasings=[rephrasing]
        )
    assert llm.calls == 0


def test_rephrasings_need_scored_labels():
    with pytest.raises(ConfigError, match="task_rephrasings"):
        DatasetGenerator(Fake("positive")).generate(
            annotate(),
            unlabeled_dataset=Dataset.from_dict({"text": ["x"]}),
            label_scoring="off",
            task_rephrasings=["Is this review {}?"],
        )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"calibration": "batch"}, "calibration works"),
        ({"min_confidence": 0.8}, "min_confidence works"),
        ({"min_confidence": 0.8, "calibration": "batch"}, "min_confidence and calibration work"),
    ],
)
def test_options_that_read_label_scores_are_refused_where_none_are_scored(options, named):
    """Parsed labels have no scores: calibration and min_confidence would be silently ignored."""
    llm = Fake("positive")
    with pytest.raises(ConfigError, match=named):
        DatasetGenerator(llm).generate(
            annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), label_scoring="off", **options
        )
    assert llm.calls == 0


def test_a_resumed_run_reads_the_scores_from_the_journal(tmp_path):
    llm = Fake("positive", token_probs=lambda r: {" positive": 0.65, " negative": 0.35})
    data = Dataset.from_dict({"text": ["x", "y"]})
    first = DatasetGenerator(llm).generate(
        annotate(), unlabeled_dataset=data, max_prompt_calls=2, journal_dir=tmp_path
    )
    again = Fake("negative", logprobs=False)  # would answer otherwise: must not be asked
    g = DatasetGenerator(again)
    second = g.generate(annotate(), unlabeled_dataset=data, max_prompt_calls=2, journal_dir=tmp_path)
    assert again.calls == 0 and g.last_run.summary()["cached"] == 2
    assert second["confidence"] == first["confidence"] == pytest.approx([0.65, 0.65])


def test_dry_runs_and_off_parse_the_text_as_before():
    data = Dataset.from_dict({"text": ["x"]})
    dry = DatasetGenerator().generate(annotate(), unlabeled_dataset=data, dummy_response="positive")
    assert "confidence" not in dry.column_names
    off = DatasetGenerator(Fake("negative")).generate(annotate(), unlabeled_dataset=data, label_scoring="off")
    assert "confidence" not in off.column_names and labels_of(off) == ["negative"]


# --- the real protocol: a loopback server that serves logprobs ----------------------------------


def test_openai_compatible_backend_scores_from_served_logprobs():
    def token_probs(messages, body):
        text = messages[-2]["content"] if messages[-1]["role"] == "assistant" else messages[-1]["content"]
        return (
            {" Positive": 0.2, " negative": 0.7, " neutral": 0.1} if "awful" in text else {" positive": 1.0}
        )

    with FakeOpenAIServer(responder=lambda m, b: "negative", token_probs=token_probs) as server:
        llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k", supports_prefill=True)
        g = DatasetGenerator(llm)
        ds = g.generate(
            annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["awful", "great"]}), max_prompt_calls=2
        )
        asyncio.run(llm.aclose())
        bodies = [r.body for r in server.requests]
    assert labels_of(ds) == ["negative", "positive"]
    assert ds["confidence"] == pytest.approx([0.7 / 0.9, 1.0])
    assert all(b["logprobs"] is True and b["top_logprobs"] == 20 and b["temperature"] == 0.0 for b in bodies)


def test_an_ensemble_of_models_scores_with_their_mean_probabilities():
    from fabricator.llms import Ensemble

    sure = Fake("positive", name="a", token_probs=lambda r: {" positive": 0.9, " negative": 0.1})
    unsure = Fake("negative", name="b", token_probs=lambda r: {" negative": 0.7, " positive": 0.3})
    g = DatasetGenerator(Ensemble([sure, unsure]))
    ds = g.generate(annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), max_prompt_calls=1)
    assert labels_of(ds) == ["positive"] and ds["confidence"] == pytest.approx([0.6])
    assert g.last_run.provenance[0]["model"] == "ensemble(a+b)"
    assert sure.calls == unsure.calls == 1
    # without log-probabilities the sampled votes come from the members in turn
    a, b = Fake("positive", name="a", logprobs=False), Fake("negative", name="b", logprobs=False)
    g = DatasetGenerator(Ensemble([a, b]))
    ds = g.generate(
        annotate(), unlabeled_dataset=Dataset.from_dict({"text": ["x"]}), max_prompt_calls=10, label_samples=4
    )
    assert a.calls + b.calls == 5  # the first ask to both, then each sample to the member its seed picks
    votes = 1 + (a.calls - 1)  # "positive": the first answer (a's text) and a's samples
    assert ds["confidence"] == pytest.approx([max(votes, 4 - votes) / 4])


def test_an_ensemble_needs_two_models():
    from fabricator.llms import Ensemble

    with pytest.raises(ConfigError, match="at least two"):
        Ensemble([Fake()])
