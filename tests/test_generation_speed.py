"""Issue 29's generation layout: with ``fewshot_reuse`` a block of generated rows shares its label
and its few-shot draw, so every prompt of the block is one text (the server's prompt cache serves
it after the first row), labels stay balanced over blocks, and one row a draw is as before."""

from __future__ import annotations

from collections import Counter

from datasets import Dataset

from fabricator import DatasetGenerator
from fabricator.llms.fake import Fake
from fabricator.options import GenerationOptions
from fabricator.pipeline.plan import plan_prompts
from fabricator.prompts import BasePrompt

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
    assert Counter(i.label for i in items) == {"positive": 12, "negative": 12}
    assert [key(i.messages) for i in items[:12]] == [
        key(i.messages) for i in plan_prompts(PROMPT, POOL, "uniform", 2, "label", count=12, options=options)
    ]
