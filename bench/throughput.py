"""End-to-end throughput of ``DatasetGenerator.generate`` over HTTP (the "Throughput engine" check).

    python bench/throughput.py [--requests 2000] [--latency 0.1] [--concurrency 64 256]
                               [--sequential 50] [--repeat 3] [--reference] [--profile FILE]

The fake OpenAI server runs in a separate process (``FakeOpenAIServer.spawn``) with a fixed
latency per request. For each concurrency C, one ``generate`` call makes ``--requests`` rows of
plain unlabeled generation (``max_prompt_calls = num_samples_to_generate = requests``, no
journal, no progress bar) through ``OpenAICompatible(..., max_concurrency=C)``: planning, prompt
building, the preflight, the engine, HTTP, parsing and the final ``datasets.Dataset`` are all
inside the timed call, and so is opening the HTTP session and its C connections, as in real use.

Printed per C: achieved requests/s, the limit C / latency, their ratio, and the client CPU per
request (``time.process_time()`` of this process over the call, divided by the requests; the
server's CPU is in its own process and not counted). The sequential baseline (C = 1, one call at
a time as the paper's toolkit does) runs ``--sequential`` requests; the speed-up is the rate at C
over the baseline rate.

``--reference`` also times, in the same run and against the same server, a bare pool of C tasks
calling ``OpenAICompatible.complete`` with the very requests the generator sends (cold
connections too, no engine, no generator): "vs bare" is the generator's rate over that rate, the
share of the HTTP client's own throughput that the generator keeps. On a shared or small machine
the absolute ratios move with the load (the load average is printed); "vs bare" moves much less.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import time

from fabricator import SYSTEM_PROMPT, BasePrompt, DatasetGenerator
from fabricator.llms.base import Request
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer

PROMPT = BasePrompt(task_description="Write one short, vivid movie review.", generate_data_for_column="text")
MAX_TOKENS = 64


def run_once(base_url: str, n: int, concurrency: int, *, profile: cProfile.Profile | None = None) -> dict:
    """One ``generate`` call of ``n`` rows at ``concurrency``; wall time and client CPU."""
    llm = OpenAICompatible("fake-model", base_url=base_url, max_concurrency=concurrency)
    generator = DatasetGenerator(llm)
    cpu0, t0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    # dedup off: the fake server's canned replies repeat by design; this measures the engine
    dataset = generator.generate(
        PROMPT, max_prompt_calls=n, num_samples_to_generate=n, max_tokens=MAX_TOKENS, seed=1, dedup=False
    )
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    report = generator.last_run
    assert report is not None
    requests = report.stats.requests
    if len(dataset) != n or report.failures or requests != n:
        raise SystemExit(
            f"run at C={concurrency} made {len(dataset)} rows with {requests} requests "
            f"and {len(report.failures)} failures (expected {n}, {n}, 0)"
        )
    return {"requests": requests, "wall": wall, "rate": requests / wall, "cpu_ms": 1000 * cpu / requests}


def run_bare(base_url: str, n: int, concurrency: int) -> dict:
    """The reference: C tasks calling ``complete`` directly with the generator's requests."""
    messages = tuple(PROMPT.get_messages(system=SYSTEM_PROMPT, prefill=False))

    async def pool() -> None:
        llm = OpenAICompatible("fake-model", base_url=base_url, max_concurrency=concurrency)
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await llm.complete(
                    Request(messages=messages, temperature=0.8, max_tokens=MAX_TOKENS, seed=left)
                )

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await llm.aclose()

    cpu0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(pool())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"requests": n, "wall": wall, "rate": n / wall, "cpu_ms": 1000 * cpu / n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="rows (= requests) per concurrent run")
    p.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    p.add_argument("--sequential", type=int, default=50, help="requests of the C=1 baseline (0: skip)")
    p.add_argument("--repeat", type=int, default=1, help="repeat the whole measurement")
    p.add_argument("--reference", action="store_true", help="also time a bare complete() pool")
    p.add_argument("--profile", help="write cProfile stats of the concurrent generator runs here")
    a = p.parse_args()
    logging.getLogger("fabricator").setLevel(logging.WARNING)
    print(
        f"cpus={os.cpu_count()} rows={a.requests} server latency={a.latency * 1000:.0f} ms "
        f"(fake server in a separate process; DatasetGenerator.generate end to end)"
    )
    profile = cProfile.Profile() if a.profile else None
    header = (
        f"{'':7} {'C':>4} {'requests':>8} {'wall s':>7} {'req/s':>8} {'limit':>6} {'ratio':>6} "
        f"{'CPU ms/req':>11} {'speed-up':>9}" + (f" {'vs bare':>8}" if a.reference else "")
    )
    with FakeOpenAIServer.spawn(latency=a.latency) as srv:
        run_once(srv.base_url, 20, 4)  # warm-up: imports, first Dataset, first session
        for rep in range(a.repeat):
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"--- run {rep + 1} of {a.repeat} (load average {load:.2f})")
            print(header)
            base: dict | None = None

            def line(name: str, c: int, r: dict, base: dict | None, bare: dict | None = None) -> None:
                """One table row; ``base`` (the C=1 run) is passed, not captured from the loop."""
                limit = c / a.latency
                speedup = f"{r['rate'] / base['rate']:>8.1f}x" if base else f"{'':>9}"
                vs = f" {r['rate'] / bare['rate']:>8.2f}" if bare else ""
                print(
                    f"{name:7} {c:>4} {r['requests']:>8} {r['wall']:>7.2f} {r['rate']:>8.1f} "
                    f"{limit:>6.0f} {r['rate'] / limit:>6.2f} {r['cpu_ms']:>11.3f} {speedup}{vs}"
                )

            if a.sequential:
                base = run_once(srv.base_url, a.sequential, 1)
                line("gen", 1, base, base)
            for c in a.concurrency:
                bare = run_bare(srv.base_url, a.requests, c) if a.reference else None
                r = run_once(srv.base_url, a.requests, c, profile=profile)
                if bare:
                    line("bare", c, bare, base)
                line("gen", c, r, base, bare)
    if profile is not None:
        profile.dump_stats(a.profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
