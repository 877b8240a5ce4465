"""Issue 29's generation layout: with ``fewshot_reuse`` a block of generated rows shares its label
and its few-shot draw, so every prompt of the block is one text (the server's prompt cache serves
it after the first row), labels stay balanced over blocks, and one row a draw is as before."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from datasets import Dataset

from fabricator import DatasetGenerator
from fabricator.execution.calls import journal_key
from fabricator.llms.base import Request
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.options import GenerationOptions
from fabricator.pipeline.plan import plan_prompts
from fabricator.prompts import BasePrompt
from fabricator.testing.fake_server import FakeOpenAIServer

POOL = Dataset.from_dict(
    {
        "text": [f"good film number {i}" for i in range(6)] + [f"bad film number {i}" for i in range(6)],
        "label": ["positive"] * 6 + ["negative"] * 6,
    }
)
PROMPT = BasePrompt(
    "Write a short {} movie review.", label_options=["positive", "negative"], generate_data_for_column="text"
)


def key(messages) -> str:
    return repr(messages)


def planned(reuse: int, count: int = 12, strategy: str = "uniform"):
    options = GenerationOptions(fewshot_reuse=reuse, seed=4)
    return plan_prompts(PROMPT, POOL, strategy, 2, "label", count=count, options=options)


def test_a_block_shares_label_examples_and_the_whole_prompt():
    items = planned(4, count=16)
    for start in range(0, 16, 4):
        block = items[start : start + 4]
        assert len({i.label for i in block}) == 1
        assert len({i.fewshot_ids for i in block}) == 1
        assert len({key(i.messages) for i in block}) == 1  # one text: all cached after the first row
        label = block[0].label
        assert all(POOL[j]["label"] == label for j in block[0].fewshot_ids)  # examples of its label
    assert Counter(i.label for i in items) == {"positive": 8, "negative": 8}  # balanced by blocks


def test_one_row_a_draw_is_unchanged_and_differs_row_to_row():
    items = planned(1)
    assert len({key(i.messages) for i in items}) > 6
    assert Counter(i.label for i in items) == {"positive": 6, "negative": 6}
    assert all(POOL[j]["label"] == i.label for i in items for j in i.fewshot_ids)


def test_the_plan_is_prefix_stable_with_blocks():
    assert [i.messages for i in planned(4, count=6)] == [i.messages for i in planned(4, count=12)[:6]]


def test_stratified_draws_keep_the_label_of_their_block_too():
    items = planned(3, count=6, strategy="stratified")
    assert items[0].messages == items[1].messages == items[2].messages
    assert items[3].messages == items[4].messages == items[5].messages


def test_a_run_with_blocks_sends_distinct_seeds_and_keeps_balance():
    llm = Fake(lambda text: f"review {abs(hash(text))}")
    generator = DatasetGenerator(llm)
    ds = generator.generate(
        PROMPT,
        POOL,
        "uniform",
        2,
        "label",
        num_samples_to_generate=8,
        max_prompt_calls=8,
        fewshot_reuse=4,
        dedup=False,
    )
    seen = llm.requests
    names = ds.features["label"].names
    assert Counter(names[i] for i in ds["label"]) == {"positive": 4, "negative": 4}
    assert len({r.seed for r in seen}) == 8  # same prompt, different draws of the answer
    assert len({key(r.messages) for r in seen}) == 2


def test_blocks_dealt_round_robin_keep_rows_in_flight_apart():
    options = GenerationOptions(fewshot_reuse=3, fewshot_blocks=4, seed=4)
    items = plan_prompts(PROMPT, POOL, "uniform", 2, "label", count=24, options=options)
    for start in (0, 12):  # two rounds of 4 blocks of 3 rows
        round_ = items[start : start + 12]
        for block in range(4):
            rows = round_[block::4]
            assert len({key(i.messages) for i in rows}) == 1 and len({i.label for i in rows}) == 1
        assert len({key(i.messages) for i in round_[:4]}) == 4  # 4 rows in flight: 4 prompts
        assert [i.slot for i in round_] == [0, 1, 2, 3] * 3  # each block pinned to its own slot
    assert Counter(i.label for i in items) == {"positive": 12, "negative": 12}
    assert [key(i.messages) for i in items[:12]] == [
        key(i.messages) for i in plan_prompts(PROMPT, POOL, "uniform", 2, "label", count=12, options=options)
    ]


def test_without_blocks_no_row_is_pinned_to_a_slot():
    assert {i.slot for i in planned(4, count=8)} == {None}
    assert {i.slot for i in planned(1, count=8)} == {None}


def run_on_server(slot_field: str | None, **options) -> list[dict]:
    """A small generation through the HTTP client against the fake server; the bodies it got."""
    with FakeOpenAIServer(responder=lambda messages, body: f"review {body['seed']}") as srv:
        llm = OpenAICompatible("fake", base_url=srv.base_url, slot_field=slot_field, slots=2)
        DatasetGenerator(llm).generate(
            PROMPT, POOL, "uniform", 2, "label", num_samples_to_generate=8, max_prompt_calls=8, **options
        )
        return [r.body for r in srv.requests]


def test_a_blocks_rows_reach_the_slot_holding_its_prompt():
    bodies = run_on_server("id_slot", fewshot_reuse=2, fewshot_blocks=4)
    assert len(bodies) == 8
    by_prompt: dict[str, set[int]] = {}
    for body in bodies:
        by_prompt.setdefault(key(body["messages"]), set()).add(body["id_slot"])
    assert len(by_prompt) == 4 and all(len(slots) == 1 for slots in by_prompt.values())
    assert sorted(body["id_slot"] for body in bodies) == [0, 0, 0, 0, 1, 1, 1, 1]  # 4 blocks on 2 slots


def test_the_slot_hint_is_sent_only_to_servers_with_slots_and_only_for_blocks():
    assert all("id_slot" not in body for body in run_on_server(None, fewshot_reuse=2, fewshot_blocks=4))
    assert all("id_slot" not in body for body in run_on_server("id_slot"))


class SlottedFake(Fake):
    """A fake backend that, like llama.cpp, serves requests from ``n_parallel`` slots."""

    def __init__(self, slots: int) -> None:
        super().__init__(lambda text: "a review")
        self.n_parallel = slots


def first_items(llm, count: int = 16, **options):
    planned = DatasetGenerator(llm).plan(PROMPT, POOL, "uniform", 2, "label", None, 40, 24, **options)
    return planned.planner().items(0, count)


def test_a_server_with_slots_gets_one_block_of_shared_draws_per_slot_by_default():
    items = first_items(SlottedFake(4))
    assert [i.slot for i in items] == [0, 1, 2, 3] * 4
    for block in range(4):
        rows = items[block::4]
        assert len({key(i.messages) for i in rows}) == 1 and len({i.label for i in rows}) == 1


def test_the_users_layout_and_backends_without_slots_keep_a_draw_per_row():
    for items in (first_items(SlottedFake(4), fewshot_reuse=1), first_items(Fake(lambda text: "x"))):
        assert {i.slot for i in items} == {None}
        assert len({key(i.messages) for i in items}) > 8
    assert {i.slot for i in first_items(SlottedFake(4), fewshot_blocks=2)} == {None}  # reuse left at 1


def test_annotation_keeps_its_own_layout_on_a_server_with_slots():
    rows = Dataset.from_dict({"text": [f"film {i}" for i in range(8)]})
    annotate = BasePrompt("Label the review: {}.", label_options=["positive", "negative"],
                          generate_data_for_column="label", fewshot_example_columns="text")  # fmt: skip
    planned = DatasetGenerator(SlottedFake(4)).plan(
        annotate, POOL, "uniform", 1, "label", rows, 8, 8, tune="off"
    )
    assert {i.slot for i in planned.planner().items(0, 8)} == {None}


def test_the_slot_hint_does_not_change_the_journal_key():
    request = Request(messages=({"role": "user", "content": "Write a review."},), seed=3)
    pinned = replace(request, slot=2)
    assert journal_key("m", pinned, 0) == journal_key("m", request, 0)  # a rerun pays nothing
