"""Prompt planning speed: 100,000 prompts from a 100,000-row few-shot pool, stratified sampling.

Ours: the pool is indexed by label once, each draw is O(k). Baseline (the paper toolkit's
approach, measured in the same run): each prompt filters the whole pool per label with
``Dataset.filter`` and shuffles/selects. The baseline is timed on a few prompts and reported
as a rate, since 100,000 of them would take hours.

    python bench/prompt_building.py [--rows 100000] [--prompts 100000] [--baseline-prompts 10]
"""

from __future__ import annotations

import argparse
import random
import time

from datasets import Dataset, disable_progress_bars

from fabricator import SYSTEM_PROMPT
from fabricator.llms import Fake
from fabricator.pipeline.plan import Planner
from fabricator.pipeline.resolve import resolve_task
from fabricator.prompts import BasePrompt

LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def make_pool(n: int) -> Dataset:
    rng = random.Random(0)
    words = [
        "the",
        "a",
        "market",
        "team",
        "game",
        "stock",
        "science",
        "rocket",
        "election",
        "vote",
        "goal",
        "price",
        "chip",
    ]
    return Dataset.from_dict(
        {
            "text": [" ".join(rng.choices(words, k=12)) for _ in range(n)],
            "label": [LABELS[i % 4] for i in range(n)],
        }
    )


def ours(pool: Dataset, prompts: int, k: int) -> tuple[float, float]:
    prompt = BasePrompt(
        "Classify the news as one of: {}.",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    unlabeled = Dataset.from_dict({"text": [f"headline {i}" for i in range(prompts)]})
    t0 = time.perf_counter()
    task = resolve_task(prompt, pool, "stratified", k, "label", unlabeled, llm=Fake())
    t1 = time.perf_counter()
    items = Planner(task, SYSTEM_PROMPT).items(0, prompts)
    t2 = time.perf_counter()
    assert len(items) == prompts
    return t1 - t0, t2 - t1


def baseline(pool: Dataset, prompts: int, k: int) -> float:
    """Per call: filter the pool for each label, shuffle, select k (as the paper's sampler)."""
    prompt = BasePrompt(
        "Classify the news as one of: {}.",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    t0 = time.perf_counter()
    for i in range(prompts):
        parts = [
            pool.filter(lambda ex, lab=lab: ex["label"] == lab).shuffle(seed=i).select(range(k))
            for lab in LABELS
        ]
        examples = [row for part in parts for row in part]
        prompt.get_prompt_text(LABELS, examples, {"text": f"headline {i}"})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--baseline-prompts", type=int, default=10)
    parser.add_argument("-k", type=int, default=2, help="examples per class")
    args = parser.parse_args()
    disable_progress_bars()
    pool = make_pool(args.rows)
    index_s, plan_s = ours(pool, args.prompts, args.k)
    ours_rate = args.prompts / (index_s + plan_s)
    base_s = baseline(pool, args.baseline_prompts, args.k)
    base_rate = args.baseline_prompts / base_s
    print(f"pool {args.rows:,} rows, stratified, k={args.k} per class x {len(LABELS)} classes")
    print(
        f"ours:     {args.prompts:,} prompts in {index_s + plan_s:.2f} s "
        f"(index {index_s:.2f} s + plan {plan_s:.2f} s) = {ours_rate:,.0f} prompts/s"
    )
    print(
        f"baseline: {args.baseline_prompts} prompts in {base_s:.2f} s = {base_rate:,.2f} prompts/s "
        "(per-call Dataset.filter)"
    )
    print(
        f"ratio ours/baseline: {ours_rate / base_rate:,.0f}x   target >= 10,000 prompts/s: "
        f"{'met' if ours_rate >= 10_000 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
