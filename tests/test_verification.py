"""Label verification of generated rows: annotated back, dropped when the label does not hold,
replaced while calls are left; and near-duplicate removal in the same round loop."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.llms import Request
from fabricator.llms.fake import Fake

SENTIMENT = ["positive", "negative"]


def write_prompt() -> BasePrompt:
    return BasePrompt(
        "Write one {} movie review sentence.", label_options=SENTIMENT, generate_data_for_column="text"
    )


def is_check(prompt: str) -> bool:
    return "Which label fits" in prompt


class Teacher:
    """Writes reviews (every third one of the wrong sentiment) and reads them back by their words."""

    def __init__(self, wrong_every: int = 3, vague_every: int = 0) -> None:
        self.count = itertools.count(1)
        self.wrong_every = wrong_every
        self.vague_every = vague_every

    def write(self, prompt: str) -> str:
        if is_check(prompt):
            return "positive"  # the greedy answer; the scores come from token_probs
        n = next(self.count)
        asked = "positive" if "Write one positive" in prompt else "negative"
        if self.vague_every and n % self.vague_every == 0:
            return f"a vague film number {n}"
        if self.wrong_every and n % self.wrong_every == 0:
            asked = "negative" if asked == "positive" else "positive"
        return f"a {'good' if asked == 'positive' else 'bad'} film number {n}"

    @staticmethod
    def probs(request: Request) -> dict[str, float]:
        text = request.messages[-1]["content"]
        if "vague" in text:
            return {" positive": 0.55, " negative": 0.45}
        good = "good" in re.split(r"text: ", text)[-1]
        return {" positive": 0.95, " negative": 0.05} if good else {" positive": 0.1, " negative": 0.9}


def names(ds, column="label"):
    feature = ds.features[column]
    return [feature.names[i] for i in ds[column]] if hasattr(feature, "names") else list(ds[column])


def test_rows_whose_label_does_not_hold_are_dropped_and_replaced():
    teacher = Teacher(wrong_every=3)
    llm = Fake(teacher.write, token_probs=Teacher.probs)
    gen = DatasetGenerator(llm)
    ds = gen.generate(write_prompt(), num_samples_to_generate=6, max_prompt_calls=40, verify=True)
    report = gen.last_run
    assert len(ds) == 6
    for text, label in zip(ds["text"], names(ds), strict=True):
        assert ("good" in text) == (label == "positive")  # every kept row reads as its label
    counts = report.summary()["verification"]
    mismatches = [f for f in report.failures if f.kind == "LabelMismatch"]
    assert counts["mismatched"] == len(mismatches) > 0
    assert counts["kept"] == len(ds)
    assert counts["checked"] == counts["kept"] + counts["mismatched"] + counts["unsure"]
    assert all("the teacher reads it as" in f.error and f.raw for f in mismatches)
    # every call is counted: each written row once, each verification once
    assert report.budget.used == llm.calls == 2 * counts["checked"]
    verified = [p["verified"] for p in report.provenance]
    assert all(v["label"] in SENTIMENT and v["confidence"] >= 0.9 for v in verified)


def test_verify_min_confidence_drops_rows_the_teacher_is_unsure_of():
    teacher = Teacher(wrong_every=0, vague_every=2)
    llm = Fake(teacher.write, token_probs=Teacher.probs)
    gen = DatasetGenerator(llm)
    ds = gen.generate(
        write_prompt(), num_samples_to_generate=4, max_prompt_calls=40, verify=True, verify_min_confidence=0.8
    )
    assert len(ds) == 4 and not any("vague" in t for t in ds["text"])
    unsure = [f for f in gen.last_run.failures if f.kind == "Unverified"]
    assert unsure and all("verify_min_confidence 0.8" in f.error for f in unsure)
    assert gen.last_run.summary()["verification"]["unsure"] == len(unsure)


def test_each_planned_row_has_a_call_set_aside_for_its_verification():
    llm = Fake(Teacher(wrong_every=0).write, token_probs=Teacher.probs)
    gen = DatasetGenerator(llm)
    ds = gen.generate(write_prompt(), num_samples_to_generate=10, max_prompt_calls=8, verify=True)
    assert len(ds) == 4  # 8 calls: 4 rows written and verified, none left unverified
    assert gen.last_run.budget.used == 8
    assert not [f for f in gen.last_run.failures if f.kind == "CallCapReached"]


def test_without_logprobs_verification_votes_with_sampled_answers():
    def write(prompt: str) -> str:
        if is_check(prompt):
            return "negative" if "bad" in prompt else "positive"
        return "a good film" if "Write one positive" in prompt else "a bad film"

    llm = Fake(write, logprobs=False)
    gen = DatasetGenerator(llm)
    ds = gen.generate(
        write_prompt(),
        num_samples_to_generate=2,
        max_prompt_calls=20,
        verify=True,
        dedup=False,
        label_samples=3,
    )
    assert len(ds) == 2
    assert [p["verified"]["confidence"] for p in gen.last_run.provenance] == [1.0, 1.0]
    assert gen.last_run.budget.used == 2 + 2 * 3


def test_verification_settings_that_cannot_apply_are_refused():
    free = BasePrompt("Write one movie review sentence.", generate_data_for_column="text")
    with pytest.raises(ConfigError, match="asks for none"):
        DatasetGenerator(Fake("x")).generate(free, verify=True)
    with pytest.raises(ConfigError, match="verify is off"):
        DatasetGenerator(Fake("x")).generate(write_prompt(), verify_min_confidence=0.7)


def _leaning_teacher():
    """Writes "who" questions for human and "what" questions for entity (every fourth of the
    other kind), and as an annotator leans to "entity": it gives its "who" questions only 0.4."""
    count = itertools.count(1)

    def write(prompt: str) -> str:
        if is_check(prompt):
            return "entity"
        n = next(count)
        human = "type human" in prompt
        if n % 4 == 0:
            human = not human
        return f"Who is person {n}?" if human else f"What is thing {n}?"

    def probs(request: Request) -> dict[str, float]:
        question = request.messages[-1]["content"].split("text: ")[-1]
        return {" entity": 0.6, " human": 0.4} if "Who" in question else {" entity": 0.97, " human": 0.03}

    return Fake(write, token_probs=probs)


QUESTIONS = BasePrompt(
    "Write one question whose answer is of the type {}.",
    label_options=["entity", "human"],
    generate_data_for_column="text",
)


def test_calibrated_verification_keeps_the_class_the_teacher_leans_away_from():
    plain = DatasetGenerator(_leaning_teacher())
    plain.generate(QUESTIONS, num_samples_to_generate=8, max_prompt_calls=40, verify=True, dedup=False)
    by_label = plain.last_run.summary()["verification"]["by_label"]
    assert by_label["human"].get("human", 0) == 0  # uncalibrated: every human question is dropped

    gen = DatasetGenerator(_leaning_teacher())
    ds = gen.generate(
        QUESTIONS,
        num_samples_to_generate=8,
        max_prompt_calls=40,
        verify=True,
        dedup=False,
        calibration="batch",
    )
    assert sorted(names(ds)) == ["entity"] * 4 + ["human"] * 4
    for text, label in zip(ds["text"], names(ds), strict=True):
        assert text.startswith("Who" if label == "human" else "What")  # wrong-kind rows are still dropped
    counts = gen.last_run.summary()["verification"]
    assert counts["mismatched"] == len([f for f in gen.last_run.failures if f.kind == "LabelMismatch"]) > 0
    verified = [p["verified"] for p in gen.last_run.provenance]
    humans = [v for v in verified if v["label"] == "human"]
    assert all(v["label_scores"]["entity"] > v["label_scores"]["human"] for v in humans)  # the raw reading
    assert all(v["calibrated_scores"]["human"] == v["confidence"] > 0.5 for v in humans)


def test_calibration_without_anything_scored_is_refused():
    with pytest.raises(ConfigError, match="generation without verify scores none"):
        DatasetGenerator(Fake("x")).generate(write_prompt(), calibration="batch")


def test_near_duplicates_are_dropped_with_the_row_they_repeat():
    pytest.importorskip("datasketch")
    texts = itertools.cycle(
        [
            "the acting was superb and the story moved me deeply from start to end",
            "the acting was superb and the story moved me deeply from start to finish",
            "a dull plot with wooden dialogue and no reason to care about anyone",
        ]
    )
    llm = Fake(lambda prompt: next(texts))
    gen = DatasetGenerator(llm)
    ds = gen.generate(write_prompt(), num_samples_to_generate=3, max_prompt_calls=3, dedup_minhash=0.6)
    near = [f for f in gen.last_run.failures if f.kind == "NearDuplicate"]
    assert len(ds) == 2 and len(near) == 1
    assert near[0].index == 1 and near[0].duplicate_of == 0
    assert gen.last_run.summary()["near_duplicates"] == 1
    assert gen.last_run.failures_dataset()["duplicate_of"] == [0]


def test_a_near_copy_of_a_few_shot_example_is_dropped_as_a_copied_example():
    pytest.importorskip("datasketch")
    from datasets import Dataset

    example = "the acting was superb and the story moved me deeply from start to end"
    texts = itertools.cycle(
        [
            "the acting was superb and the story moved me deeply from start to finish",
            "a dull plot with wooden dialogue and no reason to care about anyone",
            "warm, funny and far too short",
        ]
    )
    gen = DatasetGenerator(Fake(lambda prompt: next(texts)))
    ds = gen.generate(
        BasePrompt("Write one movie review sentence.", generate_data_for_column="text"),
        fewshot_dataset=Dataset.from_dict({"text": [example], "label": ["x"]}),
        fewshot_examples_per_class=1,
        num_samples_to_generate=2,
        max_prompt_calls=3,
        dedup_minhash=0.6,
    )
    copied = [f for f in gen.last_run.failures if f.kind == "CopiedExample"]
    assert ds["text"] == [
        "a dull plot with wooden dialogue and no reason to care about anyone",
        "warm, funny and far too short",
    ]
    assert [(f.index, f.duplicate_of) for f in copied] == [(0, None)]
    assert "near duplicate of few-shot example 0 (MinHash Jaccard" in copied[0].error


def test_only_the_examples_a_round_showed_are_indexed():
    """A large pool costs nothing unseen: an example is compared with rows once a prompt showed it."""
    pytest.importorskip("datasketch")
    from fabricator.near_duplicates import NearDuplicates
    from fabricator.pipeline.filters.near import NearDuplicateFilter

    examples = {
        4: "a dull plot with wooden dialogue and no reason to care",
        9: "warm funny and far too short",
    }
    near = NearDuplicateFilter("text", NearDuplicates(minhash=0.6), examples)
    copy = "a dull plot with wooden dialogue and no reason to care at all"
    rows, failures = {0: {"text": copy}}, {}
    assert near.drop(rows, failures, [0], shown=[9]) == 0 and 0 in rows  # example 4 not shown yet
    rows = {1: {"text": "a dull plot with wooden dialogue and no reason to care really"}}
    assert near.drop(rows, failures, [1], shown=[4, 9, 4]) == 1 and not rows
    assert failures[1].kind == "CopiedExample" and "few-shot example 4" in failures[1].error
    assert near.indexed == {4, 9}


def test_near_duplicate_removal_is_refused_for_annotation():
    from datasets import Dataset

    prompt = BasePrompt(
        "Classify: {}.",
        label_options=SENTIMENT,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    with pytest.raises(ConfigError, match="keeps every input row"):
        DatasetGenerator(Fake("positive")).generate(
            prompt, unlabeled_dataset=Dataset.from_dict({"text": ["a"]}), dedup_minhash=0.8
        )


def test_a_recipe_run_saves_the_attribute_values_and_the_diversity_figures(tmp_path):
    from conftest import movie_recipe, write_fewshot
    from conftest import write_recipe as write

    from fabricator.app.cli import main

    write_fewshot(tmp_path)
    recipe = movie_recipe(
        model={"backend": "fake", "responses": ["A moving film.", "Flat and dull.", "A fine cast."]},
        generation={"num_samples_to_generate": 6, "max_prompt_calls": 6, "dedup": False},
    )
    recipe["attributes"] = {"genre": ["comedy", "drama", "western"]}
    out = tmp_path / "out"
    assert main(["generate", write(tmp_path, recipe), "-o", str(out), "--quiet"]) == 0
    assert json.loads((out / "attributes.json").read_text()) == {"genre": ["comedy", "drama", "western"]}
    diversity = json.loads((out / "metadata.json").read_text())["diversity"]
    assert diversity["rows"] == 6 and diversity["per_class"] == {"positive": 3, "negative": 3}
    assert sorted(diversity["per_attribute"]["genre"].values()) == [2, 2, 2]
    assert 0 < diversity["distinct_2"] <= 1


def test_the_plan_counts_a_label_check_for_every_row(tmp_path):
    from conftest import movie_recipe, write_fewshot
    from conftest import write_recipe as write

    from fabricator.app.recipe import load_recipe
    from fabricator.app.runner import plan_recipe

    write_fewshot(tmp_path)
    generation = {"num_samples_to_generate": 8, "max_prompt_calls": 10, "max_tokens": 20}
    plain = plan_recipe(load_recipe(write(tmp_path, movie_recipe(generation=generation))), llm=Fake())
    checked = plan_recipe(
        load_recipe(write(tmp_path, movie_recipe(generation={**generation, "verify": True}))), llm=Fake()
    )
    assert (plain.rows, plain.checks) == (8, 0)
    assert (checked.rows, checked.checks) == (5, 5)  # 10 calls: 5 rows written and checked
    assert checked.check_prompt_tokens > 0
    assert checked.tokens == checked.prompt_tokens + checked.completion_expected + checked.check_tokens
    assert "5 label checks (verify)" in dict(checked.lines())["model calls"]
