"""Generation pilots (issue 28, part 2): a pilot per candidate setting, a student per pilot scored on
held-out pool rows, the best setting used for the run; on the fake server."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.card_student import student_loop_section
from fabricator.errors import ConfigError
from fabricator.evaluation.student import embeddings as embeddings_module
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.options import SamplingOptions
from fabricator.pipeline.resolve import resolve_task
from fabricator.pipeline.student_loop import student as student_module
from fabricator.pipeline.student_loop.pilots import pilot_calls, pilot_candidates
from fabricator.pipeline.student_loop.student import Labelled
from fabricator.testing import FakeOpenAIServer

LABELS = ["positive", "negative"]
POOL = Dataset.from_dict(
    {
        "text": [f"good film {i}" for i in range(10)] + [f"bad film {i}" for i in range(10)],
        "label": ["positive"] * 10 + ["negative"] * 10,
    }
)


def prompt() -> BasePrompt:
    return BasePrompt("Write a {} review.", label_options=LABELS, generate_data_for_column="text")


def teacher() -> Any:
    """Rows say how their prompt showed the examples: as earlier turns, or inline."""
    counter = itertools.count()

    def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        asked = re.findall(r"Write an? (\w+) review", messages[-1]["content"])[-1]
        turns = sum(m["role"] == "user" for m in messages) > 1
        return f"{'turns' if turns else 'inline'} {asked} {next(counter)}"

    return answer


@pytest.fixture(autouse=True)
def letter_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    def letters(texts: Sequence[str], **_: Any) -> Any:
        vectors = np.ones((len(texts), 2), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(embeddings_module, "embed_texts", letters)


@pytest.fixture
def turns_student(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """A student that reads every test row right when trained on rows written as turns, else
    every other one; the test texts it was given."""
    seen: list[tuple[str, ...]] = []

    def predict(train: Labelled, test: Labelled, labels: Sequence[str], seed: int) -> list[str]:
        seen.append(test.texts)
        good = all(t.startswith("turns") for t in train.texts)
        flip = {"positive": "negative", "negative": "positive"}
        return [g if good or i % 2 else flip[g] for i, g in enumerate(test.labels)]

    monkeypatch.setattr(student_module, "predict", predict)
    return seen


def generate(server: FakeOpenAIServer, **options: Any) -> DatasetGenerator:
    llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k")
    g = DatasetGenerator(llm)
    few = {
        "fewshot_sampling_strategy": "uniform",
        "fewshot_examples_per_class": 1,
        "fewshot_sampling_column": "label",
    }
    g.generate(prompt(), fewshot_dataset=POOL, num_samples_to_generate=8, max_prompt_calls=12, pilots=True,
               pilot_rows=8, verify=False, rows_per_call=1, **few, **options)  # fmt: skip
    asyncio.run(llm.aclose())
    return g


def test_candidates_leave_what_the_user_set_alone():
    def names(**sampling: Any) -> list[str]:
        task = resolve_task(prompt(), POOL, "uniform", 1, "label", sampling=SamplingOptions(**sampling))
        return [p.name for p in pilot_candidates(task)]

    assert names() == ["yours", "as-turns", "near-duplicates", "verified", "5-a-call"]
    assert names(verify=False, rows_per_call=1, dedup_minhash=0.5) == ["yours", "as-turns"]
    assert "as-turns" not in names(rows_per_call=2)  # a grouped prompt shows its examples inline


def test_the_setting_whose_student_is_clearly_better_is_used_for_the_run(turns_student):
    with FakeOpenAIServer(responder=teacher()) as server:
        g = generate(server)
    report = g.last_run
    pilots = report.summary()["pilots"]
    table = {c["setting"]: c for c in pilots["candidates"]}
    assert set(table) == {"yours", "as-turns", "near-duplicates"}  # verify and rows_per_call were set
    assert table["as-turns"]["accuracy"] == 1.0 and table["yours"]["accuracy"] == 0.5
    assert pilots["chosen"] == "as-turns" and pilots["calls"] == sum(c["calls"] for c in table.values())
    assert report.rows == 8 and all(p["fewshot_ids"] for p in report.provenance)
    data_calls = report.summary()["calls"]
    assert data_calls == 8  # the run itself: one call a row, the pilots' calls apart
    card = "\n".join(student_loop_section(report.summary()))
    assert "Chosen: `as-turns` (1.000)" in card and "| `yours` | 8 | " in card


def test_pilots_never_show_a_test_row_and_a_rerun_pays_nothing(tmp_path, turns_student):
    with FakeOpenAIServer(responder=teacher()) as server:
        first = generate(server, journal_dir=tmp_path / "journal")
        pilots = server.requests[:-8]  # the run's own 8 calls come last (it may show any pool row)
        shown = {line for r in pilots for m in r.body["messages"] for line in m["content"].splitlines()}
    tested = set(turns_student[0])
    assert tested and not {f"text: {t}" for t in tested} & shown and not tested & shown
    with FakeOpenAIServer(responder=lambda m, b: "never asked") as server:
        again = generate(server, journal_dir=tmp_path / "journal")
        assert server.requests == []
    before, after = first.last_run.summary()["pilots"], again.last_run.summary()["pilots"]
    assert after["calls"] == 0 < before["calls"]  # calls made: journaled answers are free
    scores = [(c["setting"], c["rows"], c["accuracy"]) for c in before["candidates"]]
    assert [(c["setting"], c["rows"], c["accuracy"]) for c in after["candidates"]] == scores
    assert after["chosen"] == before["chosen"] and again.last_run.summary()["calls"] == 0
    assert before["candidates"][2]["calls"] == 0  # near duplicates: the prompts of "yours", in the journal


def test_too_few_pilot_rows_is_refused_before_any_call():
    three = BasePrompt("Write a {} review.", label_options=["a", "b", "c"], generate_data_for_column="text")
    pool = Dataset.from_dict({"text": [f"t{i}" for i in range(12)], "label": ["a", "b", "c"] * 4})
    with pytest.raises(
        ConfigError, match=r"pilot_rows=4 is too few: a student needs 2 rows of each of 3 labels"
    ):
        DatasetGenerator(Fake("x")).generate(
            three, fewshot_dataset=pool, fewshot_sampling_column="label", num_samples_to_generate=8,
            max_prompt_calls=8, pilots=True, pilot_rows=4,
        )  # fmt: skip


def test_pilots_then_the_student_loop_in_one_run(turns_student):
    with FakeOpenAIServer(responder=teacher()) as server:
        g = generate(server, student_loop=True, student_rounds=2)
    summary = g.last_run.summary()
    assert summary["pilots"]["chosen"] == "as-turns"
    assert [r["accuracy"] for r in summary["student_loop"]["rounds"]] == [1.0, 1.0]  # rows written as turns
    card = "\n".join(student_loop_section(summary))
    assert card.index("## Pilots") < card.index("## Student in the loop")


def test_the_plan_counts_the_calls_the_pilots_may_make(turns_student):
    few = ("uniform", 1, "label")
    options = {"pilots": True, "pilot_rows": 8, "verify": False, "rows_per_call": 1}
    planned = DatasetGenerator(Fake(lambda text: "x")).plan(prompt(), POOL, *few, None, 12, 8, **options)
    bound = pilot_calls(planned.task)
    assert bound == 3 * (8 + 2)  # three candidates, each 8 rows and a quarter to spare
    with FakeOpenAIServer(responder=teacher()) as server:
        made = generate(server).last_run.summary()["pilots"]["calls"]
    assert 0 < made <= bound
    plain = DatasetGenerator(Fake(lambda text: "x")).plan(prompt(), POOL, *few, None, 12, 8)
    assert pilot_calls(plain.task) == 0
