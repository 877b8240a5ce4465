"""The student in the loop of label-conditioned generation (issue 28, part 2): rounds steered by a
student tested on held-out pool rows, on the fake server."""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.card_student import student_loop_section
from fabricator.errors import ConfigError
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.pipeline.student_loop import student as student_module
from fabricator.pipeline.student_loop.steer import KEEP_SHOWN, allocate, apportion, error_counts, nearest_rows
from fabricator.pipeline.student_loop.student import Labelled
from fabricator.testing import FakeOpenAIServer

pytestmark = pytest.mark.usefixtures("letter_encoder")

LABELS = ["positive", "negative", "neutral"]
QUIET = [f"quiet hush calm {i}" for i in range(8)]  # positive rows the fake student misreads
BRIGHT = [f"bright sunny glow {i}" for i in range(4)]  # positive rows it reads right
POOL_TEXTS = (
    QUIET
    + BRIGHT
    + [f"awful rotten dull {i}" for i in range(8)]
    + [f"plain average okay {i}" for i in range(8)]
)
POOL_LABELS = ["positive"] * 12 + ["negative"] * 8 + ["neutral"] * 8


def prompt(labels: list[str] | None = LABELS) -> BasePrompt:
    return BasePrompt("Write a {} review.", label_options=labels, generate_data_for_column="text")


def pool() -> Dataset:
    return Dataset.from_dict({"text": POOL_TEXTS, "label": POOL_LABELS})


def writer() -> Any:
    """The teacher: a new text of the asked label each call."""
    counter = itertools.count()

    def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        asked = re.findall(r"Write an? (\w+) review", messages[-1]["content"])[-1]
        return f"{asked} words {next(counter)}"

    return answer


@pytest.fixture
def quiet_student(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """A student that takes every "quiet" text for negative and reads the rest right; the test
    texts it was given, per round."""
    seen: list[tuple[str, ...]] = []

    def predict(train: Labelled, test: Labelled, labels: Sequence[str], seed: int) -> list[str]:
        seen.append(test.texts)
        return ["negative" if "quiet" in t else g for t, g in zip(test.texts, test.labels, strict=True)]

    monkeypatch.setattr(student_module, "predict", predict)
    return seen


def generate(server: FakeOpenAIServer, **options: Any) -> DatasetGenerator:
    llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k")
    g = DatasetGenerator(llm)
    few = {"fewshot_sampling_strategy": "uniform", "fewshot_examples_per_class": 1}
    g.generate(prompt(), fewshot_dataset=options.pop("fewshot", pool()), fewshot_sampling_column="label",
               num_samples_to_generate=24, max_prompt_calls=40, student_loop=True, student_rounds=3,
               **{**few, **options})  # fmt: skip
    asyncio.run(llm.aclose())
    return g


# --- steering, unit -------------------------------------------------------------------------------


def test_allocation_moves_rows_toward_the_confused_labels_and_starves_none():
    errors = error_counts(["a", "a", "a", "b", "c"], ["b", "b", "a", "b", "c"], ["a", "b", "c"])
    assert errors == {"a": 2.0, "b": 1.0, "c": 0.0}  # a taken for b twice: a missed, b half of it
    assert allocate(errors, 24) == {"a": 12, "b": 8, "c": 4}  # c: half its even share, never less
    assert allocate(error_counts(["p", "n"], ["n", "n"], ["p", "n"]), 12) == {"p": 7, "n": 5}  # two labels
    assert allocate({"a": 0, "b": 0, "c": 0}, 30) == {"a": 10, "b": 10, "c": 10}
    assert apportion({"a": 1.0, "b": 1.0, "c": 1.0}, 10) == {"a": 4, "b": 3, "c": 3}  # ties: label order


def test_nearest_rows_take_each_errors_nearest_in_turn():
    errors = np.array([[1.0, 0.0], [0.0, 1.0]])
    candidates = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.7, 0.3]])
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    assert nearest_rows(errors, candidates, 2) == [0, 2]  # one for each error first
    assert nearest_rows(errors, candidates, 3) == [0, 2, 1]


# --- the loop on the fake server ------------------------------------------------------------------


@pytest.mark.parametrize("layout", [{}, {"fewshot_reuse": 3}])  # shared draws: per row
def test_the_next_round_asks_more_of_the_confused_label_with_the_examples_nearest_its_errors(
    quiet_student, layout
):
    with FakeOpenAIServer(responder=writer()) as server:
        g = generate(server, **layout)
    summary = g.last_run.summary()
    loop = summary["student_loop"]
    first, _, last = loop["rounds"]
    assert [r["rows"] for r in loop["rounds"]] == [8, 16, 24] and summary["rows"] == 24
    missed = sum("quiet" in t for t in quiet_student[0])
    assert missed and first["errors"] == missed  # each quiet test row, taken for negative
    asks = first["next_rows"]
    assert sum(asks.values()) == 8 and asks["positive"] > asks["negative"] > asks["neutral"] >= 1
    examples = first["examples"]
    assert set(examples) == {"positive"}  # only positive rows were missed
    assert len(examples["positive"]) == max(1, missed) and all(
        "quiet" in POOL_TEXTS[i] for i in examples["positive"]
    )
    provenance = {p["row"]: p for p in g.last_run.provenance}
    round_two = [provenance[i] for i in range(8, 16)]
    assert Counter(p["label"] for p in round_two) == Counter(asks)  # the rows asked are the rows made
    shown = [i for p in round_two if p["label"] == "positive" for i in p["fewshot_ids"]]
    assert shown and set(shown) <= set(examples["positive"])  # the nearest to its errors, only
    assert last["accuracy"] is not None and "next_rows" not in last


def test_a_label_missed_once_still_draws_from_half_its_shown_rows(monkeypatch):
    def one_miss(train: Labelled, test: Labelled, labels: Sequence[str], seed: int) -> list[str]:
        first_quiet = next(t for t in test.texts if "quiet" in t)
        return ["negative" if t == first_quiet else g for t, g in zip(test.texts, test.labels, strict=True)]

    monkeypatch.setattr(student_module, "predict", one_miss)
    with FakeOpenAIServer(responder=writer()) as server:
        g = generate(server)
    loop = g.last_run.summary()["student_loop"]
    examples = loop["rounds"][0]["examples"]["positive"]
    shown_positive = 6  # half of the 12 positive pool rows are test rows, never shown
    # one error alone would narrow the prompts to one example, shown again and again
    assert len(examples) == math.ceil(KEEP_SHOWN * shown_positive) == 3
    assert any("quiet" in POOL_TEXTS[i] for i in examples)  # the one nearest the error among them


def test_no_prompt_shows_a_row_the_student_is_tested_on(quiet_student):
    with FakeOpenAIServer(responder=writer()) as server:
        g = generate(server)
    tested = {POOL_TEXTS.index(t) for t in quiet_student[0]}
    assert all(set(test) == set(quiet_student[0]) for test in quiet_student)  # the same rows every round
    shown = {i for p in g.last_run.provenance for i in p["fewshot_ids"]}
    assert shown and not shown & tested
    loop = g.last_run.summary()["student_loop"]
    assert loop["test_rows"] == len(tested) and loop["test_rows"] + loop["shown_rows"] == len(POOL_TEXTS)


def test_a_rerun_from_the_journal_pays_nothing_and_gives_the_same_rows_and_figures(tmp_path, quiet_student):
    with FakeOpenAIServer(responder=writer()) as server:
        first = generate(server, journal_dir=tmp_path / "journal")
    with FakeOpenAIServer(responder=lambda m, b: "never asked") as server:
        again = generate(server, journal_dir=tmp_path / "journal")
        assert server.requests == []
    assert again.last_run.summary()["calls"] == 0
    assert again.last_run.summary()["student_loop"] == first.last_run.summary()["student_loop"]
    assert [p["prompt_hash"] for p in again.last_run.provenance] == [
        p["prompt_hash"] for p in first.last_run.provenance
    ]


def test_too_few_rows_for_a_student_is_a_note_not_a_failure(monkeypatch):
    def cannot(train: Labelled, test: Labelled, labels: Sequence[str], seed: int) -> list[str]:
        raise student_module.TooFewRowsError("the training data has a single class")

    monkeypatch.setattr(student_module, "predict", cannot)
    with FakeOpenAIServer(responder=writer()) as server:
        g = generate(server)
    rounds = g.last_run.summary()["student_loop"]["rounds"]
    assert [r["accuracy"] for r in rounds] == [None, None, None] and "single class" in rounds[0]["note"]
    assert all(sum(r["next_rows"].values()) == 8 for r in rounds[:2])  # steered evenly
    assert "| 1 | 8 | - | - |" in "\n".join(student_loop_section({"student_loop": {"rounds": rounds}}))


# --- bad input: a clear error before any model call -------------------------------------------------


def refused(**arguments: Any) -> str:
    fewshot = arguments.pop("fewshot", pool())
    options = {"student_loop": True, "num_samples_to_generate": 24, "max_prompt_calls": 40, **arguments}
    g = DatasetGenerator(Fake("x"))
    with pytest.raises(ConfigError) as caught:
        g.generate(options.pop("prompt", prompt()), fewshot_dataset=fewshot, **options)
    return str(caught.value)


def test_bad_input_is_refused_with_what_to_do():
    assert "labelled few-shot pool" in refused(fewshot=None)
    unlabelled = Dataset.from_dict({"text": POOL_TEXTS})
    assert "no label column" in refused(fewshot=unlabelled)
    assert "label-conditioned" in refused(prompt=prompt(None))
    annotation = BasePrompt("Label: {}.", label_options=LABELS, generate_data_for_column="label",
                            fewshot_example_columns="text")  # fmt: skip
    assert "annotation" in refused(prompt=annotation, unlabeled_dataset=Dataset.from_dict({"text": ["a"]}))
    small = Dataset.from_dict(
        {
            "text": ["a", "b", "c", "d", "e", "f"],
            "label": ["positive"] * 2 + ["negative"] * 2 + ["neutral"] * 2,
        }
    )
    message = refused(fewshot=small, fewshot_sampling_strategy="uniform", fewshot_examples_per_class=1)
    assert "at least 3 labelled pool rows of each label" in message and "'positive': 2" in message
    assert "rows a round" in refused(num_samples_to_generate=10, student_rounds=4)
    assert "stratified" in refused(fewshot_sampling_strategy="stratified", fewshot_examples_per_class=1)


def test_rows_dropped_are_replaced_with_the_labels_the_loop_asked_for(quiet_student):
    answer = writer()

    def repeats_neutral(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        text = answer(messages, body)
        return "neutral again" if text.startswith("neutral") else text  # a copy after the first

    with FakeOpenAIServer(responder=repeats_neutral) as server:
        g = generate(server)
    report = g.last_run
    asked = {p["row"]: p["label"] for p in report.provenance}
    assert Counter(f.kind for f in report.failures) == {"Duplicate": len(report.failures)}
    topped = [f.index for f in report.failures if f.index >= 24]
    assert topped  # replacements were planned past the 24 rows, each asked for neutral (the only label short)
    assert all("neutral" in str(f.raw) for f in report.failures)
    assert Counter(asked.values())["neutral"] == 1 and report.summary()["calls"] == 40
