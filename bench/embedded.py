"""Embedded model speed, two comparisons measured in one run each.

``--compare cache`` (default): llama.cpp's prompt cache on against off. The same label-conditioned
generation requests (the generator's own system prompt and layout, from ``plan_prompts``; one task
description with two attributes, film genre x 3 and detail x 2, times 2 labels: 12 distinct prompts
that share the system prompt and the task's opening) are sent through ``LlamaCpp(cache_prompt=...)``
with ``n_parallel`` slots, temperature 0, ``max_tokens`` 24, in blocks off, on, on, off (times
``--repeat``), each on a fresh server (load and warm-up not timed, so every block starts
with cold slots). Printed per block and per setting: rows, seconds, rows/s, prompt tokens, the
prompt tokens the cache served, completion tokens; then on / off as a ratio of rows/s (> 1: the
cache is faster).

``--compare slots``: the whole generator, 16 label-conditioned sentiment examples (the quick-start
prompt, few-shot examples and seed) with ``LlamaCpp(n_parallel=P)`` against ``n_parallel=1``.

``--compare rows-per-call``: the same generator run with ``rows_per_call=K`` against one row a
call, in blocks one, K, K, one (each on a fresh server), so drift in the machine's speed falls on
both alike. Printed: rows, calls, seconds, rows/s and tokens per block, and K / one as a ratio of
rows/s.

    python bench/embedded.py [--compare cache] [--rows 12] [--repeat 1] [--parallel 4]
    python bench/embedded.py --compare slots [--rows 16] [--parallel 4]
    python bench/embedded.py --compare rows-per-call [--rows 40] [--per-call 5] [--parallel 4]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from pathlib import Path

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import LlamaCpp
from fabricator.llms.base import Request
from fabricator.pipeline.plan import plan_prompts
from fabricator.tables import load_table

FEWSHOT = Path(__file__).resolve().parents[1] / "examples" / "sentiment" / "fewshot.jsonl"
LABELS = ["positive", "negative"]
GENRES = ["comedy", "horror film", "documentary"]
DETAILS = ["the ending", "one actor"]
TASK = (
    "Write a movie review for a sentiment dataset, as an ordinary viewer would post it online: "
    "two sentences, plain language, no title and no star rating. The film is a {genre}, and the "
    "review mentions {detail}. The review is {{}}."
)


# --- prompt cache on / off ---------------------------------------------------------------------


def cache_requests(rows: int, max_tokens: int) -> list[Request]:
    """``rows`` requests cycling through the 12 (genre, detail, label) prompts, interleaved."""
    prompts: list[tuple[dict[str, str], ...]] = []
    for genre, detail in itertools.product(GENRES, DETAILS):
        prompt = BasePrompt(
            TASK.format(genre=genre, detail=detail), label_options=LABELS, generate_data_for_column="text"
        )
        by_label = {item.label: item.messages for item in plan_prompts(prompt, count=8)}
        prompts.extend(by_label[label] for label in LABELS)
    order = [prompts[i % len(prompts)] for i in range(rows)]
    return [Request(messages, temperature=0.0, max_tokens=max_tokens, seed=1) for messages in order]


async def cache_block(cache_prompt: bool, parallel: int, reqs: list[Request]) -> dict[str, float]:
    llm = LlamaCpp(n_parallel=parallel, cache_prompt=cache_prompt)
    await llm.preflight()  # model load and warm-up are not part of the timing
    sem = asyncio.Semaphore(llm.max_concurrency)

    async def one(request: Request):
        async with sem:
            return await llm.complete(request)

    try:
        started = time.perf_counter()
        outs = await asyncio.gather(*(one(r) for r in reqs))
        seconds = time.perf_counter() - started
    finally:
        await llm.aclose()
    return {
        "rows": len(outs),
        "seconds": seconds,
        "prompt": sum(o.usage.prompt_tokens for o in outs),
        "cached": sum(o.usage.cached_tokens for o in outs),
        "completion": sum(o.usage.completion_tokens for o in outs),
        "empty": sum(1 for o in outs if not o.text.strip()),
    }


def compare_cache(rows: int, repeat: int, parallel: int, max_tokens: int) -> None:
    reqs = cache_requests(rows, max_tokens)
    print(
        f"{rows} requests per block ({len(GENRES) * len(DETAILS) * len(LABELS)} distinct prompts), "
        f"{parallel} slots, max_tokens {max_tokens}, temperature 0, CPUs {os.cpu_count()}, "
        f"load average before {os.getloadavg()[0]:.2f}"
    )
    order = [False, True, True, False] * repeat  # ABBA: drift of the machine hits both alike
    header = (
        f"{'block':>5} {'cache':>5} {'rows':>5} {'seconds':>8} {'rows/s':>7} {'prompt tok':>10} "
        f"{'cached':>7} {'completion':>10} {'load':>5}"
    )
    print(header)
    totals: dict[bool, dict[str, float]] = {}
    for block, setting in enumerate(order, start=1):
        r = asyncio.run(cache_block(setting, parallel, reqs))
        print(
            f"{block:>5} {'on' if setting else 'off':>5} {r['rows']:>5.0f} {r['seconds']:>8.1f} "
            f"{r['rows'] / r['seconds']:>7.3f} {r['prompt']:>10,.0f} {r['cached']:>7,.0f} "
            f"{r['completion']:>10,.0f} {os.getloadavg()[0]:>5.2f}",
            flush=True,
        )
        if r["empty"]:
            print(f"      ({r['empty']:.0f} empty answers)")
        total = totals.setdefault(setting, dict.fromkeys(r, 0.0))
        for key, value in r.items():
            total[key] += value
    print("all blocks of each setting together:")
    print(header.replace("block", "     ", 1))
    for setting in (False, True):
        t = totals[setting]
        print(
            f"{'':>5} {'on' if setting else 'off':>5} {t['rows']:>5.0f} {t['seconds']:>8.1f} "
            f"{t['rows'] / t['seconds']:>7.3f} {t['prompt']:>10,.0f} {t['cached']:>7,.0f} "
            f"{t['completion']:>10,.0f}"
        )
    on, off = totals[True], totals[False]
    print(
        f"ratio on / off: {(on['rows'] / on['seconds']) / (off['rows'] / off['seconds']):.2f}x rows/s; "
        f"the cache served {on['cached'] / on['prompt']:.0%} of the prompt tokens with it on, "
        f"{off['cached'] / off['prompt']:.0%} off"
    )


# --- parallel slots against one slot, through the generator -------------------------------------


def slots_run(parallel: int, rows: int, rows_per_call: int = 1) -> dict[str, float]:
    llm = LlamaCpp(n_parallel=parallel)
    llm.start()  # model load and warm-up are not part of the timing
    prompt = BasePrompt(
        "Write a short {} movie review (two or three sentences) in the style of the examples.",
        label_options=LABELS,
        generate_data_for_column="text",
    )
    generator = DatasetGenerator(llm)
    started = time.perf_counter()
    dataset = generator.generate(
        prompt,
        load_table(FEWSHOT),
        "uniform",
        2,
        "label",
        max_prompt_calls=rows * 2,
        num_samples_to_generate=rows,
        max_tokens=120,
        temperature=0.9,
        seed=1,
        rows_per_call=rows_per_call,
    )
    seconds = time.perf_counter() - started
    llm.close()
    assert generator.last_run is not None  # generate() always leaves its report
    stats = generator.last_run.stats
    return {
        "rows": len(dataset),
        "seconds": seconds,
        "rows_s": len(dataset) / seconds,
        "completion_tok_s": stats.completion_tokens / seconds,
        "requests": stats.requests,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
    }


def compare_slots(rows: int, parallel: int) -> None:
    one = slots_run(1, rows)
    many = slots_run(parallel, rows)
    for name, r in ((f"{parallel} slots", many), ("1 slot", one)):
        print(
            f"{name:>8}: {r['rows']} rows in {r['seconds']:.1f} s = {r['rows_s']:.3f} examples/s, "
            f"{r['completion_tok_s']:.1f} completion tok/s, {r['requests']} requests"
        )
    print(f"ratio {parallel} slots / 1 slot: {many['rows_s'] / one['rows_s']:.2f}x examples/s")


def compare_rows_per_call(rows: int, per_call: int, parallel: int) -> None:
    blocks = [(k, slots_run(parallel, rows, k)) for k in (1, per_call, per_call, 1)]
    print(
        f"{'rows a call':>11} {'rows':>5} {'calls':>5} {'seconds':>8} {'rows/s':>7} "
        f"{'prompt tok':>10} {'compl tok':>9}"
    )
    totals: dict[int, dict[str, float]] = {}
    for k, r in blocks:
        print(
            f"{k:>11} {r['rows']:>5.0f} {r['requests']:>5.0f} {r['seconds']:>8.1f} {r['rows_s']:>7.3f} "
            f"{r['prompt_tokens']:>10,.0f} {r['completion_tokens']:>9,.0f}"
        )
        total = totals.setdefault(k, {"rows": 0.0, "seconds": 0.0})
        total["rows"] += r["rows"]
        total["seconds"] += r["seconds"]
    grouped, one = totals[per_call], totals[1]
    ratio = (grouped["rows"] / grouped["seconds"]) / (one["rows"] / one["seconds"])
    print(f"ratio {per_call} rows a call / 1: {ratio:.2f}x rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", choices=["cache", "slots", "rows-per-call"], default="cache")
    parser.add_argument("--rows", type=int, default=None, help="per block (cache: 12) or per run (slots: 16)")
    parser.add_argument("--repeat", type=int, default=1, help="cache: rounds of off, on, on, off blocks")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=24, help="cache only")
    parser.add_argument("--per-call", type=int, default=5, help="rows-per-call: rows a call")
    args = parser.parse_args()
    if args.compare == "slots":
        compare_slots(args.rows or 16, args.parallel)
    elif args.compare == "rows-per-call":
        compare_rows_per_call(args.rows or 40, args.per_call, args.parallel)
    else:
        compare_cache(args.rows or 12, args.repeat, args.parallel, args.max_tokens)


if __name__ == "__main__":
    main()
