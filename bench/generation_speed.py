"""Generation speed on the embedded model: today's settings against the new defaults, one run.

Writes the quick start's rows (``examples/sentiment``: 24 movie reviews, half positive, half
negative, two examples of the asked label per prompt, temperature 0.9, seed 1) on the embedded
model with two settings, in blocks ``today, new, new, today`` (``--repeat`` times), each block on a
fresh ``LlamaCpp`` server loaded and warmed up before its clock starts, so that both see the same
machine and neither inherits the other's prompt cache:

* ``today``: the settings before issue 29: a new few-shot draw for every row (``fewshot_reuse=1``),
  so only the system prompt and the task's first words repeat from one prompt to the next;
* ``new``: the defaults since issue 29 (no layout option given, ``pipeline.layout``): a block of 4
  rows shares its label and its draw, so all of a block's prompts are one text; one block per
  server slot, dealt round robin, each block's rows pinned to its slot (llama.cpp's ``id_slot``), so
  the slot's prompt cache serves the block after its first row. ``--reuse``/``--slots`` set the
  layout explicitly instead.

Prints, per block, rows/s, wall seconds and, per row, prompt tokens, prompt tokens the server's
cache served, completion tokens and model calls; then each setting's mean rows/s, new / today,
and the machine's core count.

    python bench/generation_speed.py [--repeat 1] [--rows 24] [--reuse N] [--slots 4]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import LlamaCpp
from fabricator.tables import load_table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sentiment"
TASK = "Write a short {} movie review (two or three sentences) in the style of the examples."
#: the recipe's settings that both sides keep
COMMON: dict[str, Any] = {"max_tokens": 120, "temperature": 0.9, "seed": 1}


def settings(reuse: int | None, slots: int) -> dict[str, dict[str, Any]]:
    """Each setting's server slots and generation options (``new``: the defaults, unless ``reuse``)."""
    layout = {"fewshot_reuse": reuse, "fewshot_blocks": slots} if reuse else {}
    return {"today": {"slots": 4, "fewshot_reuse": 1}, "new": {"slots": slots, **layout}}


def run(rows: int, setting: dict[str, Any]) -> dict[str, float]:
    """One block: a fresh server (started before the clock), ``rows`` rows, the run's figures."""
    options = dict(setting)
    llm = LlamaCpp(n_parallel=options.pop("slots"))
    llm.start()
    prompt = BasePrompt(TASK, label_options=["positive", "negative"], generate_data_for_column="text")
    generator = DatasetGenerator(llm)
    started = time.perf_counter()
    dataset = generator.generate(
        prompt,
        load_table(EXAMPLE / "fewshot.jsonl"),
        "uniform",
        2,
        "label",
        num_samples_to_generate=rows,
        max_prompt_calls=rows * 5 // 3,
        **COMMON,
        **options,
    )
    seconds = time.perf_counter() - started
    llm.close()
    assert generator.last_run is not None
    s = generator.last_run.summary()
    n = max(len(dataset), 1)
    return {
        "rows": len(dataset),
        "seconds": seconds,
        "rows_s": len(dataset) / seconds,
        "calls": s["requests"],
        "prompt": s["prompt_tokens"] / n,
        "cached": s["prompt_cache_tokens"] / n,
        "completion": s["completion_tokens"] / n,
        "s_row": seconds / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1, help="blocks today, new, new, today per repeat")
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument(
        "--reuse", type=int, default=None, help="fewshot_reuse of new (default: the defaults)"
    )
    parser.add_argument("--slots", type=int, default=4, help="the new setting's server slots (and blocks)")
    args = parser.parse_args()
    ways = settings(args.reuse, args.slots)
    results: dict[str, list[dict[str, float]]] = {way: [] for way in ways}
    for _ in range(args.repeat):
        for way in ("today", "new", "new", "today"):
            results[way].append(run(args.rows, ways[way]))
            r = results[way][-1]
            print(
                f"  {way}: {r['rows']:.0f} rows in {r['seconds']:.1f} s, {r['calls']:.0f} calls; per row: "
                f"{r['prompt']:.1f} prompt tokens ({r['cached']:.1f} from the cache), "
                f"{r['completion']:.1f} completion tokens",
                flush=True,
            )
    print(f"cores: {os.cpu_count()} (usable: {len(os.sched_getaffinity(0))}); settings: {ways}")
    print(
        f"{'setting':<8}{'rows':>5}{'calls':>6}{'wall s':>8}{'rows/s':>8}{'s/row':>7}"
        f"{'prompt/row':>11}{'cached/row':>11}{'compl/row':>10}"
    )
    for way, runs in results.items():
        for r in runs:
            print(
                f"{way:<8}{r['rows']:>5.0f}{r['calls']:>6.0f}{r['seconds']:>8.1f}{r['rows_s']:>8.3f}"
                f"{r['s_row']:>7.2f}{r['prompt']:>11.1f}{r['cached']:>11.1f}{r['completion']:>10.1f}"
            )
    mean = {way: sum(r["rows_s"] for r in runs) / len(runs) for way, runs in results.items()}
    print(
        f"mean rows/s: today {mean['today']:.3f}, new {mean['new']:.3f}; "
        f"new / today = {mean['new'] / mean['today']:.2f}x"
    )


if __name__ == "__main__":
    main()
