"""NER without lost rows (issue 28): a bad span is dropped and counted, re-asks have their own allowance."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ParseError
from fabricator.formats import Entities
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer

TYPES = ["PER", "ORG", "LOC", "MISC"]


def sentences(n: int) -> Dataset:
    return Dataset.from_dict({"tokens": [["Anna", "met", "Bob", "in", "Rome", str(i)] for i in range(n)]})


def prompt() -> BasePrompt:
    return BasePrompt(
        "Extract the named entities ({}) from the text.",
        label_options=TYPES,
        generate_data_for_column="entities",
        fewshot_example_columns="text",
    )


def entities(*spans: tuple[str, str]) -> str:
    return json.dumps([{"text": text, "type": kind} for text, kind in spans])


def annotate(responder: Any, rows: int, calls: int) -> tuple[Dataset, DatasetGenerator, int]:
    with FakeOpenAIServer(responder=responder) as server:
        llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k")
        g = DatasetGenerator(llm)
        ds = g.generate(
            prompt(), unlabeled_dataset=sentences(rows), max_prompt_calls=calls, output_format=Entities(TYPES)
        )
        asyncio.run(llm.aclose())
        return ds, g, server.stats["completed"]


def tags(ds: Dataset, i: int) -> list[str]:
    names = ds.features["ner_tags"].feature.names
    return [names[t] for t in ds[i]["ner_tags"]]


def test_one_bad_span_is_dropped_and_counted_and_the_rest_kept():
    fmt = Entities(TYPES)
    row = {"tokens": ["Anna", "met", "Bob", "in", "Rome"]}
    answer = entities(("Anna", "PER"), ("Bob", "ALIEN"), ("Paris", "LOC"), ("Rome", "LOC"))
    parsed = fmt.parse(answer, row)
    names = fmt.tag_names
    assert [names[t] for t in parsed["ner_tags"]] == ["B-PER", "O", "O", "O", "B-LOC"]
    assert len(parsed["__dropped_spans"]) == 2  # the unknown type and the span not in the text


def test_an_answer_with_nothing_usable_is_still_an_error():
    fmt = Entities(TYPES)
    row = {"tokens": ["Anna", "met", "Bob"]}
    for answer in ("no entities here, sorry", entities(("Paris", "LOC")), entities(("Bob", "ALIEN"))):
        try:
            fmt.parse(answer, row)
        except ParseError:
            continue
        raise AssertionError(f"{answer!r} parsed")
    assert fmt.parse("[]", row)["ner_tags"] == [0, 0, 0]  # no entities is an answer, not an error


def test_a_partly_bad_answer_keeps_its_row_without_a_re_ask():
    answer = entities(("Anna", "PER"), ("Bob", "ALIEN"), ("Rome", "LOC"))
    ds, g, sent = annotate(lambda messages, body: answer, rows=4, calls=4)
    summary = g.last_run.summary()
    assert len(ds) == 4 and summary["failures"] == 0 and sent == 4
    assert tags(ds, 0) == ["B-PER", "O", "O", "O", "B-LOC", "O"]
    assert summary["dropped_spans"] == 4  # one per sentence, each in its row's provenance
    assert all("ALIEN" in p["dropped_spans"][0] for p in g.last_run.provenance)


def reasked(messages: list[dict[str, str]]) -> bool:
    return sum(m["role"] == "assistant" for m in messages[:-1]) > 0


def test_re_asks_use_their_own_allowance_so_one_call_a_row_annotates_every_row():
    def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        if reasked(messages):
            return entities(("Anna", "PER"))
        last = messages[-1]["content"]
        return "not json" if ("Rome 1" in last or "Rome 3" in last) else entities(("Bob", "PER"))

    ds, g, sent = annotate(answer, rows=8, calls=8)
    summary = g.last_run.summary()
    assert len(ds) == 8 and summary["failures"] == 0  # max_prompt_calls = len(rows): every row annotated
    assert summary["calls"] == 8 and summary["reask_allowance"] == 2 and summary["reasks_beyond_cap"] == 2
    assert sent == 10
    assert tags(ds, 1)[0] == "B-PER" and tags(ds, 0)[2] == "B-PER"


def test_the_allowance_is_bounded():
    def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        return entities(("Anna", "PER")) if reasked(messages) else "not json"

    ds, g, sent = annotate(answer, rows=8, calls=8)
    summary = g.last_run.summary()
    assert summary["reasks_beyond_cap"] == 2 and sent == 10  # 8 first asks and the 2 re-asks allowed
    assert len(ds) == 2 and summary["failures"] == 6
