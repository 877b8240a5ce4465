"""Embedded model throughput through the whole generator: parallel slots vs one slot.

Generates the same label-conditioned sentiment examples (the quick-start example's prompt, few-shot
examples and seed) with ``LlamaCpp(n_parallel=P)`` and with ``LlamaCpp(n_parallel=1)`` in one
run, and prints examples/s and tokens/s of each and their ratio.

    python bench/embedded.py [--rows 16] [--parallel 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import LlamaCpp
from fabricator.tables import load_table

FEWSHOT = Path(__file__).resolve().parents[1] / "examples" / "sentiment" / "fewshot.jsonl"


def run(parallel: int, rows: int) -> dict[str, float]:
    llm = LlamaCpp(n_parallel=parallel)
    llm.start()  # model load and warm-up are not part of the timing
    prompt = BasePrompt(
        "Write a short {} movie review (two or three sentences) in the style of the examples.",
        label_options=["positive", "negative"],
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
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    one = run(1, args.rows)
    many = run(args.parallel, args.rows)
    for name, r in ((f"{args.parallel} slots", many), ("1 slot", one)):
        print(
            f"{name:>8}: {r['rows']} rows in {r['seconds']:.1f} s = {r['rows_s']:.3f} examples/s, "
            f"{r['completion_tok_s']:.1f} completion tok/s, {r['requests']} requests"
        )
    print(f"ratio {args.parallel} slots / 1 slot: {many['rows_s'] / one['rows_s']:.2f}x examples/s")


if __name__ == "__main__":
    main()
