"""How many pool rows a label-conditioned prompt shows when the user gives no count: up to four
of the asked label, fewer for a label with fewer rows or for long examples; a given count wins."""

from __future__ import annotations

from datasets import Dataset

from fabricator.app.card_method import how_it_was_made
from fabricator.app.recipe import load_recipe
from fabricator.options import GenerationOptions, SamplingOptions
from fabricator.pipeline.plan import plan_prompts
from fabricator.pipeline.resolve import resolve_task
from fabricator.pipeline.student_loop.split import MIN_TEST_ROWS, examples_per_prompt
from fabricator.prompts import BasePrompt
from fabricator.samplers import FewShotPool
from fabricator.samplers.fewshot import GENERATION_EXAMPLE_TOKENS, GENERATION_EXAMPLES
from tests.conftest import write_recipe

PROMPT = BasePrompt("Write a {} text.", generate_data_for_column="text", label_options=["animal", "vehicle"])


def _pool(per_label: dict[str, int], length: int = 20) -> Dataset:
    texts, labels = [], []
    for label, n in per_label.items():
        for i in range(n):
            texts.append(f"{label} {i} ".ljust(length, "x"))
            labels.append(label)
    return Dataset.from_dict({"text": texts, "label": labels})


def _shown(pool: Dataset, per_class: int | None = None, count: int = 6) -> list[tuple[str | None, int]]:
    options = GenerationOptions()
    items = plan_prompts(PROMPT, pool, "uniform", per_class, "label", count=count, options=options)
    return [(item.label, len(item.fewshot_ids)) for item in items]


def test_an_unset_count_shows_four_short_examples_of_the_asked_label():
    pool = _pool({"animal": 6, "vehicle": 6})
    items = plan_prompts(PROMPT, pool, "uniform", None, "label", count=6, options=GenerationOptions())
    assert [len(item.fewshot_ids) for item in items] == [GENERATION_EXAMPLES] * 6 == [4] * 6
    for item in items:
        assert {pool[i]["label"] for i in item.fewshot_ids} == {item.label}


def test_a_label_with_fewer_rows_lowers_the_count_for_every_label():
    assert {n for _, n in _shown(_pool({"animal": 6, "vehicle": 2}))} == {2}


def test_long_examples_show_fewer_and_never_none():
    # 1,000 characters: about 250 tokens, so two fit under the budget of 600; 4,000: none, so one
    assert {n for _, n in _shown(_pool({"animal": 6, "vehicle": 6}, length=1000))} == {2}
    assert {n for _, n in _shown(_pool({"animal": 6, "vehicle": 6}, length=4000))} == {1}
    assert GENERATION_EXAMPLE_TOKENS == 600


def test_the_long_examples_are_the_pools_90th_percentile_not_its_longest():
    texts = ["short text"] * 19 + ["x" * 8000]  # one outlier of 2,000 tokens
    pool = FewShotPool(
        Dataset.from_dict({"text": texts, "label": ["animal", "vehicle"] * 10}),
        columns=["text"],
        label_column="label",
    )
    assert pool.generation_count(["animal", "vehicle"]) == 4


def test_a_given_count_is_kept():
    pool = _pool({"animal": 6, "vehicle": 6})
    assert {n for _, n in _shown(pool, per_class=1)} == {1}
    assert {n for _, n in _shown(pool, per_class=5)} == {5}


def test_only_label_conditioned_uniform_generation_gets_the_default():
    pool = _pool({"animal": 6, "vehicle": 6})
    annotate = BasePrompt(
        "Classify as one of {}.", generate_data_for_column="label", fewshot_example_columns="text",
        label_options=["animal", "vehicle"],
    )  # fmt: skip
    rows = Dataset.from_dict({"text": ["a cat"]})
    assert resolve_task(annotate, pool, "uniform", None, "label", rows).per_class is None
    assert resolve_task(PROMPT, pool, "stratified", None, "label").per_class is None
    assert resolve_task(PROMPT, pool, "uniform", None, "label").per_class == 4


def test_the_card_says_how_many_examples_a_uniform_draw_showed(tmp_path):
    _pool({"animal": 6, "vehicle": 6}).to_json(tmp_path / "fewshot.jsonl")
    recipe = {
        "prompt": {"task_description": "Write a {} text.", "label_options": ["animal", "vehicle"],
                   "generate_data_for_column": "text"},
        "fewshot": {"path": "fewshot.jsonl", "sampling_strategy": "uniform", "sampling_column": "label"},
        "model": {"backend": "fake", "responses": "a text"},
    }  # fmt: skip

    def few_shot_line(**fewshot) -> str:
        loaded = load_recipe(write_recipe(tmp_path, {**recipe, "fewshot": {**recipe["fewshot"], **fewshot}}))
        lines = how_it_was_made(loaded, {"mode": "label-conditioned"}, "fake")
        return next(line for line in lines if line.startswith("- Few-shot examples"))

    assert "up to 4 examples (the default; fewer for long texts or small labels) of it" in few_shot_line()
    assert "2 examples of it" in few_shot_line(examples_per_class=2)


def test_a_student_loop_keeps_its_test_rows_out_of_the_default():
    # 5 rows a label: the loop tests on 2 of each, so 3 may be shown, not 4
    pool = _pool({"animal": 5, "vehicle": 5})
    looped = resolve_task(PROMPT, pool, "uniform", None, "label", sampling=SamplingOptions(student_loop=True))
    assert looped.per_class == 5 - MIN_TEST_ROWS == 3
    assert resolve_task(PROMPT, pool, "uniform", None, "label").per_class == 4


def test_a_student_loop_without_a_strategy_shows_the_same_default():
    pool = _pool({"animal": 5, "vehicle": 5})
    sampling = SamplingOptions(student_loop=True)
    looped = resolve_task(PROMPT, pool, None, None, "label", sampling=sampling)
    assert looped.per_class is None  # no strategy: the loop's own draw decides
    assert examples_per_prompt(looped) == 5 - MIN_TEST_ROWS == 3
