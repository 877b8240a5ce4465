"""NER with a labelled pool (issue 28, part 4): the nearest examples by default, tuned by pool F1."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.card_method import tuning_lines
from fabricator.app.plan import tuning_line
from fabricator.formats import Entities
from fabricator.llms.openai import OpenAICompatible
from fabricator.options import MAX_PLANNED
from fabricator.pipeline.prepare import RunPlan
from fabricator.pipeline.tune import spans as spans_module
from fabricator.pipeline.tune.span_choice import clearly_better_f1, sentence_f1
from fabricator.pipeline.tune.spans import SpanPlan
from fabricator.testing import FakeOpenAIServer

TYPES = ["PER", "ORG", "LOC", "MISC"]
WORDS = {"Anna": "PER", "Bob": "PER", "Rome": "LOC", "Paris": "LOC"}


def sentence(i: int, tag: str) -> tuple[list[str], list[str]]:
    """Sentence ``i`` (``tag``: p for the pool, r for the rows): a person, a place or nothing."""
    if i % 3 == 0:
        return ["nothing", "here", f"{tag}{i}"], ["O", "O", "O"]
    if i % 3 == 1:
        return ["Anna" if tag == "p" else "Bob", "saw", "it", f"{tag}{i}"], ["B-PER", "O", "O", "O"]
    place = "Rome" if tag == "p" else "Paris"
    return ["it", "rained", "in", place, f"{tag}{i}"], ["O", "O", "O", "B-LOC", "O"]


def pool(n: int = 120) -> Dataset:
    made = [sentence(i, "p") for i in range(n)]
    return Dataset.from_dict({"tokens": [t for t, _ in made], "ner_tags": [g for _, g in made]})


def rows(n: int) -> Dataset:
    return Dataset.from_dict({"tokens": [sentence(i, "r")[0] for i in range(n)]})


def prompt() -> BasePrompt:
    return BasePrompt(
        "Extract the named entities ({}) from the text.",
        label_options=TYPES,
        generate_data_for_column="entities",
        fewshot_example_columns="text",
    )


def texts_in(messages: list[dict[str, str]]) -> tuple[str, list[str]]:
    """The sentence being annotated and the example sentences shown (the ``text:`` lines)."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    found = re.findall(r"^text: (.*)$", user, flags=re.MULTILINE)
    return found[-1], found[:-1]


def right(text: str, swap: bool = False) -> str:
    """The sentence's entities (``swap``: persons and places the wrong way round)."""
    flip = {"PER": "LOC", "LOC": "PER"}
    found = [(w, WORDS[w]) for w in text.split() if w in WORDS]
    return json.dumps([{"text": w, "type": flip[t] if swap else t} for w, t in found])


def always_right(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
    return right(texts_in(messages)[0])


def examples_mislead(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
    """Zero-shot the model is right; shown examples, it mixes persons and places up."""
    row, shown = texts_in(messages)
    return right(row, swap=bool(shown))


@pytest.fixture(autouse=True)
def encode_with_letters(letter_encoder: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "similar" embeds with letter counts (no model load); the embedder counts as installed."""
    monkeypatch.setattr(spans_module, "embedder_available", lambda: True)


class SmallContext(OpenAICompatible):
    """A backend that says its context a request (as the embedded model does)."""

    context_tokens = 0

    def __init__(self, context: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.context_tokens = context


def backend(server: FakeOpenAIServer, context: int | None = None) -> OpenAICompatible:
    kw = {"model": "m", "base_url": server.base_url, "api_key": "k"}
    return SmallContext(context, **kw) if context else OpenAICompatible(**kw)


def plan(server: FakeOpenAIServer, n: int, context: int | None = None, **options: Any) -> RunPlan:
    g = DatasetGenerator(backend(server, context))
    return g.plan(prompt(), options.pop("fewshot", pool()), options.pop("strategy", None),
                  options.pop("per_class", None), unlabeled_dataset=rows(n), max_prompt_calls=n,
                  output_format=Entities(TYPES), **options)  # fmt: skip


def run(server: FakeOpenAIServer, n: int, **options: Any) -> tuple[Dataset, DatasetGenerator]:
    llm = backend(server)
    g = DatasetGenerator(llm)
    ds = g.generate(prompt(), options.pop("fewshot", pool()), options.pop("strategy", None),
                    options.pop("per_class", None), unlabeled_dataset=rows(n), max_prompt_calls=n,
                    output_format=Entities(TYPES), **options)  # fmt: skip
    asyncio.run(llm.aclose())
    assert isinstance(ds, Dataset)
    return ds, g


def shown(server: FakeOpenAIServer, keep: Callable[[str], bool]) -> list[tuple[str, list[str]]]:
    asked = [texts_in(r.body["messages"]) for r in server.requests]
    return [(row, examples) for row, examples in asked if keep(row)]


def is_pool(text: str) -> bool:
    return re.search(r"\bp\d+$", text) is not None


# --- the default ----------------------------------------------------------------------------------


def test_a_pool_and_nothing_else_shows_each_sentence_its_six_nearest_pool_sentences():
    with FakeOpenAIServer(responder=always_right) as server:
        planned = plan(server, 40)
        ds, g = run(server, 40)
        asked = shown(server, lambda row: not is_pool(row))
    task = planned.task
    assert task.strategy == "similar" and task.sampling.fewshot_examples == 6
    assert isinstance(planned.tuning, SpanPlan) and planned.tuning.skipped  # 40 rows: too few to tune
    line = tuning_line(planned.tuning)
    assert line.startswith("not tuned: tune_budget=0.1") and "its 6 nearest pool sentences" in line
    assert len(ds) == 40 and len(asked) == 40 and all(len(examples) == 6 for _, examples in asked)
    # the nearest: a sentence about a place is shown the pool's sentences about a place
    examples = next(e for r, e in asked if "Paris" in r)
    assert all("Rome" in e for e in examples)
    assert "tuning" not in g.last_run.summary()


def test_fewer_examples_where_the_context_would_not_hold_six():
    with FakeOpenAIServer(responder=always_right) as server:
        roomy = plan(server, 40, context=4000)
        tight = plan(server, 40, context=170 + 256)  # 6 examples: ~196 tokens, and a 256-token answer
    assert roomy.task.sampling.fewshot_examples == 6
    assert tight.task.strategy == "similar" and 1 <= (tight.task.sampling.fewshot_examples or 0) < 6
    assert (
        isinstance(tight.tuning, SpanPlan)
        and tight.tuning.default.examples == tight.task.sampling.fewshot_examples
    )


def test_without_the_embedder_one_shared_draw_of_six_and_a_warning_naming_the_extra(monkeypatch, caplog):
    monkeypatch.setattr(spans_module, "embedder_available", lambda: False)
    with (
        caplog.at_level(logging.WARNING, logger="fabricator"),
        FakeOpenAIServer(responder=always_right) as server,
    ):
        planned = plan(server, 40)
        run(server, 40)
        asked = shown(server, lambda row: not is_pool(row))
    assert planned.task.strategy is None and planned.task.sampling.fewshot_examples == 6
    assert planned.task.sampling.fewshot_reuse == MAX_PLANNED
    assert "fabricator-data[student]" in caplog.text
    draws = {tuple(examples) for _, examples in asked}
    assert len(draws) == 1 and len(next(iter(draws))) == 6  # one draw, shared by every sentence
    assert isinstance(planned.tuning, SpanPlan) and "one shared random draw of 6" in tuning_line(
        planned.tuning
    )


def test_explicit_options_win():
    with FakeOpenAIServer(responder=always_right) as server:
        two_near = plan(server, 40, strategy="similar", fewshot_examples=2)
        three = plan(server, 40, per_class=3)
        reuse = plan(server, 40, fewshot=pool(8), fewshot_reuse=4)
    assert two_near.tuning is None and two_near.task.sampling.fewshot_examples == 2
    assert three.tuning is None and three.task.strategy is None and three.task.per_class == 3
    assert reuse.tuning is None and reuse.task.strategy is None and reuse.task.per_class is None  # whole pool


def test_tune_off_keeps_the_whole_pool_in_every_prompt_as_before():
    with FakeOpenAIServer(responder=always_right) as server:
        planned = plan(server, 10, fewshot=pool(5), tune="off")
        run(server, 10, fewshot=pool(5), tune="off")
        asked = shown(server, lambda row: True)
    assert planned.tuning is None and planned.task.strategy is None and not planned.task.per_class
    assert len(asked) == 10 and all(len(examples) == 5 for _, examples in asked)


def test_a_pool_with_tag_ids_is_read_by_their_names():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))})
    made = [sentence(i, "p") for i in range(30)]
    ids = Dataset.from_dict(
        {"tokens": [t for t, _ in made], "ner_tags": [[names.index(x) for x in g] for _, g in made]}, features
    )
    with FakeOpenAIServer(responder=always_right) as server:
        planned = plan(server, 10, fewshot=ids)
    assert isinstance(planned.tuning, SpanPlan) and planned.tuning.tags[1] == ("B-PER", "O", "O", "O")
    assert planned.task.strategy == "similar"


# --- tuning: folds, budget, choice, journal ---------------------------------------------------------


def test_tuning_stays_within_its_budget_and_no_held_out_sentence_sees_itself():
    with FakeOpenAIServer(responder=always_right) as server:
        planned = plan(server, 200, tune_budget=0.5)
        _, g = run(server, 200, tune_budget=0.5)
        held = shown(server, is_pool)
    tuning = planned.tuning
    assert isinstance(tuning, SpanPlan) and not tuning.skipped
    assert [c.name for c in tuning.candidates] == ["zero-shot", "shared-6", "similar-6"]
    assert tuning.rows >= 10 and tuning.calls <= tuning.budget == 100
    for fold in tuning.folds:
        assert not set(fold.held) & set(fold.rest)
    summary = g.last_run.summary()
    assert summary["tuning"]["rows"] == tuning.rows and summary["tuning"]["calls"] <= tuning.budget
    assert summary["calls"] == 200  # tuning's calls come on top of max_prompt_calls
    assert held and all(row not in examples for row, examples in held)
    # all three candidates equally right: the default (nearest examples) stays
    assert summary["tuning"]["chosen"] == "similar-6" and summary["tuning"]["metric"] == "f1"
    assert [c["f1"] for c in summary["tuning"]["candidates"]] == [1.0, 1.0, 1.0]  # each answer read back
    assert all(c["rows"] == tuning.rows for c in summary["tuning"]["candidates"])
    assert "tuning chose similar-6" not in tuning_line(tuning) and "similar-6" in tuning_line(tuning)


def test_tuning_calls_count_the_re_asks_of_the_held_out_sentences():
    def first_answer_bad(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        again = any(m["role"] == "assistant" for m in messages[:-1])
        return always_right(messages, body) if again else "not json"

    with FakeOpenAIServer(responder=first_answer_bad) as server:
        planned = plan(server, 200, tune_budget=0.5)
        _, g = run(server, 200, tune_budget=0.5)
        sent = server.stats["completed"]
    tuning = g.last_run.summary()["tuning"]
    assert isinstance(planned.tuning, SpanPlan) and tuning["calls"] <= planned.tuning.calls <= 100
    assert tuning["calls"] + g.last_run.summary()["calls"] + g.last_run.summary()["reasks_beyond_cap"] == sent


def test_too_small_a_budget_tunes_nothing_and_the_plan_says_why():
    with FakeOpenAIServer(responder=always_right) as server:
        planned = plan(server, 200)  # 10 % of 200 calls: 20, too few for 3 candidates
    assert isinstance(planned.tuning, SpanPlan) and not planned.tuning.candidates
    assert "(at least 10 needed)" in tuning_line(planned.tuning)
    assert planned.task.strategy == "similar" and planned.tuning.calls == 0


def test_a_clearly_better_candidate_wins():
    with FakeOpenAIServer(responder=examples_mislead) as server:
        ds, g = run(server, 200, tune_budget=0.5)
        main = shown(server, lambda row: not is_pool(row))
    tuning = g.last_run.summary()["tuning"]
    assert tuning["chosen"] == "zero-shot" and tuning["f1"] == 1.0
    f1 = {c["setting"]: c["f1"] for c in tuning["candidates"]}
    assert f1["similar-6"] == f1["shared-6"] == 0.0
    assert all(not examples for _, examples in main)  # the run is zero-shot
    card = "\n".join(tuning_lines(tuning))  # the card states the choice and its table
    assert "`zero-shot`, entity F1 1.00 ±" in card and "| `similar-6` | 0.000 |" in card
    names = ds.features["ner_tags"].feature.names
    assert [names[t] for t in ds[1]["ner_tags"]] == ["B-PER", "O", "O", "O"]


def test_a_rerun_pays_nothing(tmp_path):
    with FakeOpenAIServer(responder=always_right) as server:
        _, first = run(server, 200, tune_budget=0.5, journal_dir=tmp_path)
        before = server.stats["completed"]
        _, again = run(server, 200, tune_budget=0.5, journal_dir=tmp_path)
        assert server.stats["completed"] == before  # tuning's folds and the run from the journal
    assert first.last_run.summary()["tuning"]["calls"] > 0
    assert again.last_run.summary()["tuning"]["calls"] == 0
    assert again.last_run.summary()["tuning"]["chosen"] == first.last_run.summary()["tuning"]["chosen"]


# --- the paired test ----------------------------------------------------------------------------


def test_the_sign_test_on_per_sentence_f1():
    assert sentence_f1((0, 0, 0)) == 1.0 and sentence_f1((1, 2, 2)) == 0.5 and sentence_f1((0, 1, 0)) == 0.0
    right_one, wrong_one = (1, 1, 1), (0, 1, 1)
    assert clearly_better_f1([right_one] * 10, [wrong_one] * 10)
    assert not clearly_better_f1([right_one] * 10, [right_one] * 10)  # ties count for neither
    assert not clearly_better_f1([right_one, wrong_one] * 5, [wrong_one, right_one] * 5)
