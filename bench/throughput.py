"""End-to-end throughput of ``DatasetGenerator.generate`` over HTTP (the "Throughput engine" check).

    python bench/throughput.py [--requests 2000] [--latency 0.1] [--concurrency 64 256]
                               [--sequential 50] [--repeat 1] [--profile FILE]

The fake OpenAI server runs in a separate process (``FakeOpenAIServer.spawn``) with a fixed
latency per request. For each concurrency C, one ``generate`` call makes ``--requests`` rows of
plain unlabeled generation (``max_prompt_calls = num_samples_to_generate = requests``, no
journal, no progress bar) through ``OpenAICompatible(..., max_concurrency=C)``: planning, prompt
building, the engine, HTTP, parsing and the final ``datasets.Dataset`` are all inside the timed
call (the HTTP session and its connections are opened inside it too, as in real use).

Printed per C: achieved requests/s, the limit C / latency, their ratio, and the client CPU per
request (``time.process_time()`` of this process over the call, divided by the requests; the
server's CPU is in its own process and not counted). The sequential baseline (C = 1, one call at
a time as the paper's toolkit does) runs ``--sequential`` requests; the speed-up is the rate at C
over the baseline rate.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import time

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer

PROMPT = BasePrompt(task_description="Write one short, vivid movie review.",
                    generate_data_for_column="text")


def run_once(base_url: str, n: int, concurrency: int, *, profile: cProfile.Profile | None = None) -> dict:
    """One ``generate`` call of ``n`` rows at ``concurrency``; wall time and client CPU."""
    llm = OpenAICompatible("fake-model", base_url=base_url, max_concurrency=concurrency)
    generator = DatasetGenerator(llm)
    cpu0, t0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    dataset = generator.generate(PROMPT, max_prompt_calls=n, num_samples_to_generate=n,
                                 max_tokens=64, seed=1)
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    report = generator.last_run
    assert report is not None
    requests = report.stats.requests
    if len(dataset) != n or report.failures or requests != n:
        raise SystemExit(f"run at C={concurrency} made {len(dataset)} rows with {requests} requests "
                         f"and {len(report.failures)} failures (expected {n}, {n}, 0)")
    return {"rows": len(dataset), "requests": requests, "wall": wall, "rate": requests / wall,
            "cpu_ms": 1000 * cpu / requests}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="rows (= requests) per concurrent run")
    p.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    p.add_argument("--sequential", type=int, default=50, help="requests of the C=1 baseline (0: skip)")
    p.add_argument("--repeat", type=int, default=1, help="repeat the whole measurement")
    p.add_argument("--profile", help="write cProfile stats of the concurrent runs here")
    a = p.parse_args()
    logging.getLogger("fabricator").setLevel(logging.WARNING)
    print(f"cpus={os.cpu_count()} rows={a.requests} server latency={a.latency * 1000:.0f} ms "
          f"(fake server in a separate process; DatasetGenerator.generate end to end)")
    profile = cProfile.Profile() if a.profile else None
    with FakeOpenAIServer.spawn(latency=a.latency) as srv:
        run_once(srv.base_url, 20, 4)  # warm-up: imports, first Dataset, first session
        for rep in range(a.repeat):
            if a.repeat > 1:
                print(f"--- run {rep + 1} of {a.repeat}")
            print(f"{'C':>5} {'requests':>8} {'wall s':>7} {'req/s':>8} {'limit':>7} {'ratio':>6} "
                  f"{'client CPU ms/req':>18} {'speed-up':>9}")
            base = None
            if a.sequential:
                base = run_once(srv.base_url, a.sequential, 1)
                limit = 1 / a.latency
                print(f"{1:>5} {base['requests']:>8} {base['wall']:>7.2f} {base['rate']:>8.1f} "
                      f"{limit:>7.0f} {base['rate'] / limit:>6.2f} {base['cpu_ms']:>18.3f} {1.0:>8.1f}x")
            for c in a.concurrency:
                r = run_once(srv.base_url, a.requests, c, profile=profile)
                limit = c / a.latency
                speedup = f"{r['rate'] / base['rate']:>8.1f}x" if base else f"{'n/a':>9}"
                print(f"{c:>5} {r['requests']:>8} {r['wall']:>7.2f} {r['rate']:>8.1f} {limit:>7.0f} "
                      f"{r['rate'] / limit:>6.2f} {r['cpu_ms']:>18.3f} {speedup}")
    if profile is not None:
        profile.dump_stats(a.profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
