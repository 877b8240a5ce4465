"""Parallel slots of the embedded backend: examples/s with ``n_parallel=4`` against ``n_parallel=1``.

    python bench/embedded_slots.py [--requests 16] [--max-tokens 80] [--slots 1 4] [--repeat 1]
                                   [--threads N]

For each slot count, one ``LlamaCpp(n_parallel=N)`` (the embedded Qwen2.5-Coder-1.5B Q4_K_M GGUF,
assembled into the cache on first use) is started and warmed up outside the timing; then the same
``--requests`` short generation requests (dataset-writer system prompt, an answer-prefix prefill,
temperature 0.8, fixed seeds, ``max_tokens`` 80) run with at most N in flight (the backend's
``max_concurrency``). Timed: from the first request to the last answer. Printed per slot count:
examples/s, generated tokens/s, prompt and generated tokens, and the server start-up time; then
the ratio of each slot count's rates to the first one's, all from the same run. With
``--repeat K`` the slot counts alternate (1, 4, 1, 4, ...) and the medians are reported, which
evens out drift on a shared machine. The load average is printed: on a small shared VM the
absolute rates move with other jobs, the ratio much less.

Generated lengths differ slightly between slot counts (batched decoding is not bit-identical), so
tokens/s is the fairer speed and examples/s the one users see.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from fabricator.llms.base import Request
from fabricator.llms.embedded import LlamaCpp

SYSTEM = "You are a data generator. Output only the requested text, nothing else."
TASKS = [
    ("Generate a negative movie review.", "Review:"),
    ("Generate a positive movie review.", "Review:"),
    ("Generate a question about science.", "Question:"),
    ("Generate a short news headline about sports.", "Headline:"),
]


def requests(n: int, max_tokens: int) -> list[Request]:
    out = []
    for i in range(n):
        user, prefill = TASKS[i % len(TASKS)]
        msgs = (
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": prefill},
        )
        out.append(Request(msgs, temperature=0.8, max_tokens=max_tokens, seed=1000 + i))
    return out


async def run_one(n_parallel: int, reqs: list[Request], threads: int | None) -> dict[str, float]:
    llm = LlamaCpp(n_parallel=n_parallel, n_threads=threads)
    t0 = time.perf_counter()
    await llm.preflight()  # load, warm up
    startup = time.perf_counter() - t0
    sem = asyncio.Semaphore(llm.max_concurrency)

    async def one(r: Request):
        async with sem:
            return await llm.complete(r)

    try:
        t1 = time.perf_counter()
        outs = await asyncio.gather(*(one(r) for r in reqs))
        wall = time.perf_counter() - t1
    finally:
        await llm.aclose()
    gen = sum(o.usage.completion_tokens for o in outs)
    prompt = sum(o.usage.prompt_tokens for o in outs)
    empty = sum(1 for o in outs if not o.text.strip())
    return {
        "wall": wall,
        "examples_s": len(outs) / wall,
        "tok_s": gen / wall,
        "gen": gen,
        "prompt": prompt,
        "startup": startup,
        "empty": empty,
        "threads": llm.n_threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=80)
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: usable CPUs)")
    args = ap.parse_args()

    reqs = requests(args.requests, args.max_tokens)
    print(
        f"{args.requests} requests, max_tokens {args.max_tokens}, CPUs {os.cpu_count()}, "
        f"load average before {os.getloadavg()[0]:.2f}"
    )
    results: dict[int, list[dict[str, float]]] = {n: [] for n in args.slots}
    for k in range(args.repeat):
        for n in args.slots:
            r = asyncio.run(run_one(n, reqs, args.threads))
            results[n].append(r)
            print(
                f"  run {k + 1} n_parallel={n}: {r['examples_s']:.3f} examples/s, {r['tok_s']:.1f} tok/s "
                f"({r['gen']:.0f} generated tokens in {r['wall']:.1f} s; start-up {r['startup']:.1f} s; "
                f"{r['empty']:.0f} empty; load {os.getloadavg()[0]:.2f})",
                flush=True,
            )

    med = {n: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for n, rs in results.items()}
    base = args.slots[0]
    print(f"\nmedian of {args.repeat} run(s), llama.cpp threads {med[base]['threads']:.0f}:")
    print(
        f"{'n_parallel':>10} {'examples/s':>11} {'gen tok/s':>10} {'prompt tok':>11} {'gen tok':>8} "
        f"{'wall s':>7} {'start s':>8} {'x examples/s':>13} {'x tok/s':>8}"
    )
    for n in args.slots:
        m = med[n]
        print(
            f"{n:>10} {m['examples_s']:>11.3f} {m['tok_s']:>10.1f} {m['prompt']:>11.0f} {m['gen']:>8.0f} "
            f"{m['wall']:>7.1f} {m['startup']:>8.1f} {m['examples_s'] / med[base]['examples_s']:>13.2f} "
            f"{m['tok_s'] / med[base]['tok_s']:>8.2f}"
        )
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
