"""Few-shot examples shown as earlier turns of the chat (``examples_as_turns``) instead of inline:
each example is the task asked about it and answered with its value; the row's own task comes last."""

from __future__ import annotations

import pytest
from conftest import write_recipe
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator, GenerationOptions, plan_prompts
from fabricator.app.recipe import load_recipe
from fabricator.app.recipe_inputs import recipe_inputs
from fabricator.errors import ConfigError
from fabricator.llms import Fake

LABELS = ["positive", "negative"]
POOL = Dataset.from_list(
    [
        {"text": "a warm, funny film", "label": "positive"},
        {"text": "the best cast in years", "label": "positive"},
        {"text": "the plot goes nowhere", "label": "negative"},
        {"text": "two hours I will not get back", "label": "negative"},
    ]
)


def writer(turns: bool = True, task: str = "Write a {} movie review about {topic}.") -> BasePrompt:
    return BasePrompt(
        task_description=task, label_options=LABELS, generate_data_for_column="text", examples_as_turns=turns
    )


def plan(prompt: BasePrompt, count: int, strategy: str = "uniform", per_class: int = 2, **options):
    options.setdefault("attributes", {"topic": ["music", "food"]})
    return plan_prompts(prompt, POOL, strategy, per_class, count=count, options=GenerationOptions(**options))


def test_each_example_is_an_earlier_answer_to_the_rows_own_task():
    for item in plan(writer(), 4):
        messages = list(item.messages)
        roles = [m["role"] for m in messages]
        assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
        topic = dict(item.attributes)["topic"]
        task = f"Write a {item.label} movie review about {topic}."
        assert [m["content"] for m in messages[1::2][:3]] == [f"{task}\n\ntext:"] * 3
        shown = {r["text"]: r["label"] for r in POOL}
        answers = [m["content"] for m in messages[2:6:2]]
        assert all(a.startswith("text: ") for a in answers)
        assert {shown[a.removeprefix("text: ")] for a in answers} == {item.label}  # examples of its label
        assert messages[-1] == {"role": "assistant", "content": "text:"}  # the answer prefix, prefilled
        assert "a warm" not in messages[-2]["content"] and "plot" not in messages[-2]["content"]


def test_mixed_examples_each_ask_for_their_own_label():
    """A stratified draw shows both labels: no turn asks for one label and answers with the other."""
    for item in plan(writer(task="Write a {} movie review."), 4, strategy="stratified", per_class=1):
        pairs = list(zip(item.messages[1:-2:2], item.messages[2:-2:2], strict=True))
        assert len(pairs) == 2
        labels = {r["text"]: r["label"] for r in POOL}
        for question, answer in pairs:
            label = labels[answer["content"].removeprefix("text: ")]
            assert question["content"].startswith(f"Write a {label} movie review.")
        assert item.messages[-2]["content"].startswith(f"Write a {item.label} movie review.")


def test_inline_is_still_the_default_and_the_prompt_text_covers_every_turn():
    inline = plan(writer(turns=False), 3)
    turns = plan(writer(), 3)
    for a, b in zip(inline, turns, strict=True):
        assert [m["role"] for m in a.messages] == ["system", "user", "assistant"]
        assert a.fewshot_ids == b.fewshot_ids and a.attributes == b.attributes  # same draws, other layout
        for example_id in b.fewshot_ids:
            assert POOL[example_id]["text"] in b.prompt_text  # the provenance hash covers the examples
        assert b.prompt_text != a.prompt_text


def test_get_messages_shows_the_examples_as_turns_too():
    examples = [{"text": "a warm, funny film", "label": "positive"}]
    messages = writer(task="Write a {} movie review.").get_messages("positive", examples, system="S")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[2]["content"] == "text: a warm, funny film"


def test_without_examples_turns_change_nothing():
    prompt = writer()
    text, messages = prompt.chat("positive", [], None, {"topic": "food"}, system="S")
    assert messages == prompt.messages_for(text, system="S")
    assert text.rstrip() == "Write a positive movie review about food.\n\ntext:"


def test_annotation_examples_are_earlier_questions_with_their_labels():
    prompt = BasePrompt(
        task_description="Is this review {}?",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
        examples_as_turns=True,
    )
    unlabeled = Dataset.from_list([{"text": "loved every minute"}, {"text": "fell asleep"}])
    items = plan_prompts(
        prompt, POOL, "stratified", 1, unlabeled_dataset=unlabeled, count=2, options=GenerationOptions()
    )
    for item, row in zip(items, unlabeled, strict=True):
        questions, answers = item.messages[1:-2:2], item.messages[2:-2:2]
        labels = {r["text"]: r["label"] for r in POOL}
        for q, a in zip(questions, answers, strict=True):
            text = q["content"].split("text: ")[1].split("\n")[0]
            assert q["content"].startswith("Is this review positive, negative?")
            assert a["content"] == f"label: {labels[text]}"
        assert item.messages[-2]["content"].endswith(f"text: {row['text']}\nlabel:")


def test_a_run_sends_the_turns_and_parses_the_answer():
    answers = iter(f"a new review, number {n}" for n in range(100))
    fake = Fake(lambda prompt: next(answers))
    rows = DatasetGenerator(fake).generate(
        prompt_template=writer(task="Write a {} movie review."),
        fewshot_dataset=POOL,
        fewshot_sampling_strategy="uniform",
        fewshot_examples_per_class=1,
        num_samples_to_generate=4,
        seed=3,
    )
    assert list(rows["text"]) == [f"a new review, number {n}" for n in range(4)]
    assert all(len(r.messages) == 5 for r in fake.requests)  # system, example Q+A, task, prefill


def test_the_recipe_key_reaches_the_prompt(tmp_path):
    path = write_recipe(
        tmp_path,
        {
            "prompt": {
                "task_description": "Write a {} review.",
                "label_options": LABELS,
                "examples_as_turns": 1,
            }
        },
    )
    prompt, *_ = recipe_inputs(load_recipe(path))
    assert prompt.examples_as_turns
    assert "examples_as_turns=True" in repr(prompt)


def test_several_rows_a_call_cannot_show_examples_as_turns():
    with pytest.raises(ConfigError, match="as turns"):
        plan(writer(), 2, rows_per_call=2)
