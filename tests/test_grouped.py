"""Several rows from one call (``rows_per_call``): the prompt, the split answer, the run's counts.

The fake teacher answers a grouped prompt by reading its numbered tasks, so every row's text says
which task (label and attribute values) it was written for.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import movie_recipe, write_fewshot, write_recipe
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.costing import estimate_tokens
from fabricator.app.recipe import load_recipe
from fabricator.app.runner import plan_recipe, run_recipe
from fabricator.errors import ConfigError
from fabricator.llms.fake import Fake
from fabricator.pipeline.grouped import split_answer

PROMPT = BasePrompt(
    task_description="Write a {} review about {aspect}.",
    label_options=["positive", "negative"],
    generate_data_for_column="text",
)
ASPECTS = {"aspect": ["the acting", "the plot", "the music"]}
TASK = re.compile(r"^(\d+)\. Write a (\w+) review about (the \w+)\.$", re.MULTILINE)


def list_writer(answers: Callable[[int], int] = lambda tasks: tasks) -> Callable[[str], str]:
    """A teacher that answers each numbered task with a unique line naming it (the first line
    follows the "1." prefill); ``answers(tasks)``: how many of the tasks it answers."""
    counter = itertools.count()

    def answer(prompt: str) -> str:
        tasks = TASK.findall(prompt)[: answers(len(TASK.findall(prompt)))]
        lines = [f"{n}. A {label} take on {aspect}, number {next(counter)}." for n, label, aspect in tasks]
        return lines[0].removeprefix("1.") + "".join("\n" + line for line in lines[1:]) if lines else ""

    return answer


def generate(llm: Fake, rows: int, calls: int, **options: Any) -> tuple[Dataset, DatasetGenerator]:
    generator = DatasetGenerator(llm)
    dataset = generator.generate(
        prompt_template=PROMPT,
        num_samples_to_generate=rows,
        max_prompt_calls=calls,
        rows_per_call=4,
        attributes=ASPECTS,
        **options,
    )
    assert isinstance(dataset, Dataset)
    return dataset, generator


def test_one_call_writes_several_rows_each_for_its_own_task():
    llm = Fake(list_writer())
    dataset, generator = generate(llm, rows=10, calls=10)
    assert llm.calls == 4  # 4 + 1 rows of each label (one label a call); the cap counts calls
    assert len(dataset) == 10
    labels = PROMPT.label_options
    assert Counter(labels[i] for i in dataset["label"]) == {"positive": 5, "negative": 5}
    first = llm.requests[0]
    assert first.messages[-1] == {"role": "assistant", "content": "1."}
    assert first.max_tokens == 4 * 256  # max_tokens is per row
    tasks = TASK.findall(first.messages[1]["content"])
    assert [n for n, _, _ in tasks] == ["1", "2", "3", "4"] and len({lab for _, lab, _ in tasks}) == 1
    assert generator.last_run is not None
    for row, provenance in zip(dataset.to_list(), generator.last_run.provenance, strict=True):
        # each row is the answer to its own task: its label and its own attribute value
        assert row["text"].startswith(
            f"A {provenance['label']} take on {provenance['attributes']['aspect']},"
        )
        call = provenance["call"]
        assert call["first_row"] + call["position"] == provenance["row"]
    assert generator.last_run.summary()["calls"] == 4


def test_missing_answers_fail_alone_and_are_replaced_while_calls_are_left():
    llm = Fake(list_writer(answers=lambda tasks: min(tasks, 3)))  # the fourth answer never comes
    dataset, generator = generate(llm, rows=8, calls=6)
    assert len(dataset) == 8
    report = generator.last_run
    assert report is not None
    missing = [f for f in report.failures if "missing" in f.error]
    assert missing and all(f.kind == "ParseError" and f.raw and f.raw.startswith("1.") for f in missing)
    assert llm.calls <= 6 and report.summary()["calls"] == llm.calls
    assert Counter(dataset["label"]) == {0: 4, 1: 4}  # replacements asked for the labels lacking


def test_a_resumed_grouped_run_pays_nothing_twice(tmp_path):
    first = Fake(list_writer())
    before, _ = generate(first, rows=8, calls=8, journal_dir=tmp_path / "journal")
    again = Fake(lambda prompt: pytest.fail("a journaled call was sent again"))
    after, _ = generate(again, rows=8, calls=8, journal_dir=tmp_path / "journal")
    assert again.calls == 0 and after.to_list() == before.to_list()


def test_examples_are_shown_once_per_call():
    pool = Dataset.from_list(
        [
            {"text": f"A {label} example {i}.", "label": label}
            for label in ("positive", "negative")
            for i in range(4)
        ]
    )
    llm = Fake(list_writer())
    dataset, _ = generate(
        llm,
        rows=8,
        calls=8,
        fewshot_dataset=pool,
        fewshot_sampling_strategy="uniform",
        fewshot_examples_per_class=2,
    )
    assert len(dataset) == 8 and llm.calls == 2
    for request in llm.requests:
        text = request.messages[1]["content"]
        label = TASK.findall(text)[0][1]
        shown = re.findall(r"^text: A (\w+) example \d\.$", text, re.MULTILINE)
        assert shown == [label, label]  # two examples of the call's own label, once


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("1. one\n2. two\n3. three", ["one", "two", "three"]),
        ("1) one\n\n2: two\n3. three", ["one", "two", "three"]),
        ("1. one\ngoes on\n2. two\n3. three", ["one goes on", "two", "three"]),  # a continued line
        ("1. one\n3. three", ["one", None, "three"]),  # a missing answer
        ("1. one\n2.\n3. three\n4. four", ["one", None, "three"]),  # empty; out of range
        ("1. one\n1. again\n2. two\n3. three", ["one", "two", "three"]),  # the first of a repeat
        ("one\ntwo\nthree", ["one", "two", "three"]),  # no numbers, but the right count of lines
        ("one\ntwo", [None, None, None]),
        ("**1.** one\n**2.** two\n**3.** three", ["one", "two", "three"]),
    ],
)
def test_split_answer(answer, expected):
    assert split_answer(answer, 3) == expected


def test_rows_per_call_is_refused_where_an_answer_is_one_row():
    unlabeled = Dataset.from_list([{"text": "Great film."}])
    prompt = BasePrompt(
        task_description="Label the review as {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    with pytest.raises(ConfigError, match=r"rows_per_call=3 .* annotation"):
        DatasetGenerator(Fake("positive")).generate(
            prompt_template=prompt, unlabeled_dataset=unlabeled, rows_per_call=3
        )
    with pytest.raises(ConfigError, match="rows_per_call"):
        DatasetGenerator(Fake()).generate(prompt_template=PROMPT, rows_per_call=0)


def test_plan_counts_one_ask_per_call(tmp_path):
    write_fewshot(tmp_path)
    recipe_dict = movie_recipe(
        model={"backend": "fake"},
        generation={"num_samples_to_generate": 10, "max_prompt_calls": 3, "rows_per_call": 4, "dedup": False},
    )
    recipe = load_recipe(write_recipe(tmp_path, recipe_dict))
    plan = plan_recipe(recipe, output=tmp_path / "out", llm=Fake())
    # one label a call: 5 + 4 rows of the two labels in 2 + 1 calls (10 rows would need 4)
    assert (plan.rows, plan.asks, plan.first_calls) == (9, 3, 3)
    assert "3 first asks (9 rows, 4 a call)" in dict(plan.lines())["model calls"]
    llm = Fake(list_writer())
    run_recipe(recipe, output=tmp_path / "out", llm=llm, progress=False)
    assert llm.calls == 3
    assert plan.prompt_tokens == sum(estimate_tokens(r.messages) for r in llm.requests)


def test_grouped_rows_are_verified_one_by_one():
    writer = list_writer()

    def teacher(prompt: str) -> str:
        if TASK.search(prompt):
            return writer(prompt)
        return "negative" if "negative take" in prompt or "number 1." in prompt else "positive"

    llm = Fake(teacher)
    dataset, generator = generate(llm, rows=8, calls=20, verify=True)
    assert len(dataset) == 8
    report = generator.last_run
    assert report is not None and report.verification is not None
    counts = report.summary()["verification"]
    # row 1 (a positive task) is read back as negative: dropped and replaced by a positive row
    assert counts["mismatched"] == 1 and counts["checked"] == counts["kept"] + 1 == 9
    assert Counter(dataset["label"]) == {0: 4, 1: 4}
    assert report.summary()["calls"] == llm.calls
