"""Few-shot selection for annotation: the nearest examples of each row ("similar"), draws shared by
consecutive rows (``fewshot_reuse``), and the recipe keys of both."""

from __future__ import annotations

import re

import numpy as np
import pytest
from datasets import Dataset

from fabricator import DatasetGenerator
from fabricator.app.recipe import load_recipe
from fabricator.app.recipe_inputs import recipe_inputs
from fabricator.errors import ConfigError
from fabricator.formats import Entities
from fabricator.llms.fake import Fake
from fabricator.options import GenerationOptions
from fabricator.pipeline.plan import Planner, plan_prompts
from fabricator.pipeline.resolve import resolve_task
from fabricator.prompts import BasePrompt
from fabricator.samplers import Similar
from tests.conftest import write_recipe

VOCAB = ["cat", "dog", "fish", "car", "bus", "train", "red", "blue", "fast"]


def bow(texts):
    """A tiny deterministic embedder: word counts over VOCAB (plus a constant), as unit vectors."""
    m = np.array([[t.lower().split().count(w) for w in VOCAB] + [0.01] for t in texts], dtype=float)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


class Counting:
    """``bow`` that records the batches it was asked to embed."""

    def __init__(self):
        self.batches: list[list[str]] = []

    def __call__(self, texts):
        self.batches.append(list(texts))
        return bow(texts)


POOL = Dataset.from_dict(
    {
        "text": ["cat dog", "dog", "red car", "bus bus", "fish cat cat", "fast train", "blue bus car"],
        "label": ["animal", "animal", "vehicle", "vehicle", "animal", "vehicle", "vehicle"],
    }
)
PROMPT = BasePrompt(
    "Classify the text as one of: {}.",
    generate_data_for_column="label",
    fewshot_example_columns="text",
    label_options=["animal", "vehicle"],
)


def rows(*texts):
    return Dataset.from_dict({"text": list(texts)})


def shown(item) -> list[str]:
    """The example texts of a prompt, in order (the row's own text is the last "text:" line)."""
    return re.findall(r"^text: (.*)$", item.prompt_text, flags=re.M)[:-1]


def similar_items(data, count=None, embedder=bow, **options):
    return plan_prompts(
        PROMPT,
        POOL,
        Similar(embedder),
        options.pop("per_class", None),
        None,
        data,
        count=count or len(data),
        options=GenerationOptions(**options),
    )


def test_similar_shows_the_k_nearest_examples_most_similar_last():
    items = similar_items(rows("cat", "bus", "fast red car"), fewshot_examples=2)
    # "cat": "fish cat cat" is nearer than "cat dog"; the nearest comes last, next to the question
    assert shown(items[0]) == ["cat dog", "fish cat cat"]
    assert items[0].fewshot_ids == (0, 4)
    assert shown(items[1]) == ["blue bus car", "bus bus"]
    assert shown(items[2])[-1] == "red car" and "fast train" in shown(items[2])
    assert items[0].prompt_text.rstrip().endswith("text: fish cat cat\nlabel: animal\n\ntext: cat\nlabel:")


def test_similar_per_class_takes_the_k_nearest_of_each_class():
    items = similar_items(rows("cat", "red car"), per_class=1)
    assert shown(items[0]) == ["red car", "fish cat cat"]
    # "red car" itself is left out; among animals, whose words it shares none of, the shortest wins
    assert shown(items[1]) == ["dog", "blue bus car"]
    two = similar_items(rows("cat"), per_class=2)[0]
    labels = re.findall(r"^label: (\w+)$", two.prompt_text, flags=re.M)
    assert sorted(labels) == ["animal", "animal", "vehicle", "vehicle"]
    assert shown(two)[-2:] == ["cat dog", "fish cat cat"]  # the nearest class's examples last


def test_similar_never_shows_the_row_being_annotated():
    items = similar_items(rows("bus bus", "dog"), fewshot_examples=2)
    assert "bus bus" not in shown(items[0]) and len(shown(items[0])) == 2
    assert "dog" not in shown(items[1]) and len(shown(items[1])) == 2


def test_similar_plan_is_prefix_stable_and_embeds_each_round_in_one_call():
    data = rows("cat", "bus", "red car", "dog fish", "fast bus")
    embedder = Counting()
    task = resolve_task(PROMPT, POOL, Similar(embedder), None, None, data, sampling=_sampling(2))
    planner = Planner(task)
    rounds = planner.items(0, 2) + planner.items(2, 5)
    assert embedder.batches[0] == list(POOL["text"])  # the pool: once
    assert embedder.batches[1:] == [["cat", "bus"], ["red car", "dog fish", "fast bus"]]
    whole = similar_items(data, fewshot_examples=2)
    assert [i.prompt_text for i in rounds] == [i.prompt_text for i in whole]
    first_two = similar_items(data, count=2, fewshot_examples=2, seed=9)  # no seed in nearest
    assert [i.prompt_text for i in first_two] == [i.prompt_text for i in whole[:2]]


def _sampling(k):
    return GenerationOptions(fewshot_examples=k).sampling


def test_similar_for_entities_compares_the_sentence_text():
    fewshot = Dataset.from_dict(
        {
            "tokens": [["Paris", "is", "red"], ["Bus", "to", "Berlin"], ["cat", "and", "dog"]],
            "ner_tags": [["B-LOC", "O", "O"], ["O", "O", "B-LOC"], ["O", "O", "O"]],
        }
    )
    data = Dataset.from_dict({"tokens": [["a", "fast", "bus"], ["my", "dog"]]})
    prompt = BasePrompt(
        "Find the entities: {}.",
        generate_data_for_column="entities",
        fewshot_example_columns="text",
        label_options=["LOC"],
    )
    entities = Entities(["LOC"])
    task = resolve_task(
        prompt, fewshot, Similar(bow), None, None, data, sampling=_sampling(1), output_format=entities
    )
    assert task.similar is not None and task.similar.columns == ["text"]  # the tokens joined
    items = Planner(task).items(0, 2)
    assert "text: Bus to Berlin" in items[0].prompt_text and "Paris" not in items[0].prompt_text
    assert "text: cat and dog" in items[1].prompt_text and "Berlin" not in items[1].prompt_text


@pytest.mark.parametrize(
    "args, options, needle",
    [
        ((None,), {"fewshot_examples": 2}, "generation has no rows"),
        ((rows("cat"),), {}, "needs a number of examples"),
        ((rows("cat"),), {"fewshot_examples": 2, "per_class": 1}, "not both"),
        ((rows("cat"),), {"fewshot_examples": 8}, "has 7 rows"),
        ((rows("cat"),), {"fewshot_examples": 2, "fewshot_reuse": 3}, "picks them per row"),
    ],
    ids=["no-rows", "no-count", "both-counts", "too-many", "reuse"],
)
def test_similar_bad_settings_are_clear_errors(args, options, needle):
    per_class = options.pop("per_class", None)
    with pytest.raises(ConfigError, match=needle) as info:
        resolve_task(
            PROMPT, POOL, Similar(bow), per_class, None, *args, sampling=GenerationOptions(**options).sampling
        )
    assert info.value.hint


def test_generate_with_fake_sends_each_row_its_nearest_examples():
    def answer(prompt: str) -> str:
        return "vehicle" if re.search(r"text: [^\n]*(car|bus)[^\n]*\nlabel:$", prompt.strip()) else "animal"

    llm = Fake(answer)
    data = rows("cat", "bus", "red car")
    out = DatasetGenerator(llm).generate(
        PROMPT,
        POOL,
        Similar(bow),
        unlabeled_dataset=data,
        max_prompt_calls=3,
        fewshot_examples=2,
        label_scoring="off",
    )
    assert out.features["label"].int2str(out["label"]) == ["animal", "vehicle", "vehicle"]
    sent = {re.findall(r"^text: (.*)$", p, flags=re.M)[-1]: p for p in map(_user, llm.requests)}
    assert re.findall(r"^text: (.*)$", sent["cat"], flags=re.M)[:-1] == ["cat dog", "fish cat cat"]
    assert re.findall(r"^text: (.*)$", sent["bus"], flags=re.M)[:-1] == ["blue bus car", "bus bus"]
    assert re.findall(r"^text: (.*)$", sent["red car"], flags=re.M)[:-1] == ["dog", "blue bus car"]


def _user(request) -> str:
    return "\n".join(m["content"] for m in request.messages if m["role"] == "user")


# --- fewshot_reuse --------------------------------------------------------------------------------


def _stratified(reuse, count=7):
    data = rows(*[f"row {i}" for i in range(count)])
    return plan_prompts(
        PROMPT,
        POOL,
        "stratified",
        1,
        "label",
        data,
        count=count,
        options=GenerationOptions(fewshot_reuse=reuse, seed=3),
    )


def test_fewshot_reuse_shares_one_draw_for_n_rows_then_draws_again():
    single, shared = _stratified(1), _stratified(3)
    # block b of 3 rows gets the b-th draw of the seeded sequence that one row per draw gets
    assert [i.fewshot_ids for i in shared] == [single[b].fewshot_ids for b in (0, 0, 0, 1, 1, 1, 2)]
    assert single[0].fewshot_ids != single[1].fewshot_ids  # so the blocks differ
    for block in (shared[0:3], shared[3:6]):
        prefix = _prefix(block[0])
        assert prefix.count("label: ") == 2  # the task and both examples come before the row
        for item in block:
            # system prompt, task and examples identical and first: the server's cache serves them
            assert item.messages[0] == block[0].messages[0]
            user = item.messages[1]["content"]
            assert user.startswith(prefix) and user[len(prefix) :] == f"text: row {item.index}\nlabel:"
    assert _prefix(shared[0]) != _prefix(shared[3])


def _prefix(item) -> str:
    return item.prompt_text[: item.prompt_text.rindex("text: row")]


def test_fewshot_reuse_of_a_uniform_draw_gives_a_block_of_generated_rows_one_label():
    # (it was refused; a block now keeps its label: tests/test_generation_speed.py)
    prompt = BasePrompt(
        "Write a {} text.", generate_data_for_column="text", label_options=["animal", "vehicle"]
    )
    items = plan_prompts(
        prompt, POOL, "uniform", 1, "label", count=4, options=GenerationOptions(fewshot_reuse=2)
    )
    assert items[0].label == items[1].label and items[2].label == items[3].label


# --- recipes --------------------------------------------------------------------------------------


def _recipe(tmp_path, fewshot, **generation):
    POOL.to_json(tmp_path / "fewshot.jsonl")
    rows("cat", "bus").to_json(tmp_path / "rows.jsonl")
    recipe = {
        "prompt": {
            "task_description": "Classify the text as one of: {}.",
            "label_options": ["animal", "vehicle"],
            "label_descriptions": {"vehicle": "something that carries people"},
            "generate_data_for_column": "label",
            "fewshot_example_columns": "text",
        },
        "fewshot": {"path": "fewshot.jsonl", **fewshot},
        "unlabeled": {"path": "rows.jsonl"},
        "model": {"backend": "fake", "responses": "animal"},
    }
    if generation:
        recipe["generation"] = generation
    return write_recipe(tmp_path, recipe)


def test_recipe_keys_for_similar_examples_reuse_and_label_descriptions(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, {"sampling_strategy": "similar", "examples": 3}))
    assert recipe.generation.sampling.fewshot_examples == 3
    prompt = recipe_inputs(recipe)[0]
    assert prompt.label_descriptions == {"vehicle": "something that carries people"}
    assert "- vehicle: something that carries people" in prompt.get_prompt_text()
    shared = load_recipe(_recipe(tmp_path, {"sampling_strategy": "stratified", "reuse": 4}))
    assert shared.generation.sampling.fewshot_reuse == 4
    same = load_recipe(_recipe(tmp_path, {"examples": 2}, fewshot_examples=2))
    assert same.generation.sampling.fewshot_examples == 2
    with pytest.raises(
        ConfigError, match=re.escape("fewshot.examples is 2 but generation.fewshot_examples is 5")
    ):
        load_recipe(_recipe(tmp_path, {"examples": 2}, fewshot_examples=5))
    with pytest.raises(ConfigError, match="sampling_strategy"):
        load_recipe(_recipe(tmp_path, {"sampling_strategy": "nearest"}))


@pytest.mark.slow  # loading the bundled MiniLM takes ~20 s on 2 CPU cores
def test_a_recipe_run_with_similar_examples_uses_the_bundled_minilm(tmp_path):
    pytest.importorskip("sentence_transformers")
    from fabricator.app.runner import run_recipe

    path = _recipe(tmp_path, {"sampling_strategy": "similar", "examples": 2})
    llm = Fake("animal")
    run_recipe(load_recipe(path), output=tmp_path / "out", llm=llm, progress=False)
    sent = {re.findall(r"^text: (.*)$", p, flags=re.M)[-1]: p for p in map(_user, llm.requests)}
    nearest = {row: re.findall(r"^text: (.*)$", p, flags=re.M)[-2] for row, p in sent.items()}
    assert nearest["cat"] in {"cat dog", "fish cat cat"}
    assert nearest["bus"] in {"bus bus", "blue bus car"}
    assert "- vehicle: something that carries people" in sent["cat"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "strategy `similar`: the examples nearest to each row, 2 in all" in card
