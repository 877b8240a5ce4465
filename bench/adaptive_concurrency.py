"""Adaptive concurrency against a server with a capacity: 429s and throughput, adaptive vs fixed.

    python bench/adaptive_concurrency.py [--requests 400] [--capacity 8] [--concurrency 32]
                                         [--latency 0.05] [--repeat 1]

The fake OpenAI server runs in a separate process (``FakeOpenAIServer.spawn``) and answers 429
(``Retry-After: 0.05``) to any request beyond ``--capacity`` at once. One ``generate`` call of
``--requests`` rows is made through ``OpenAICompatible(max_concurrency=C)`` with
``adaptive_concurrency`` on and off, alternately, against the same server in the same run, with
the engine's defaults otherwise (6 retries per call, backoff from 0.5 s). Printed per run: rows
kept, failed rows (retries exhausted), requests the server received, its 429s, wall time and
rows/s (the limit being capacity / latency), then adaptive over fixed for 429s and rows/s.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer
from fabricator.testing.fake_server import SpawnedServer

PROMPT = BasePrompt(task_description="Write one short, vivid movie review.", generate_data_for_column="text")


def run_once(srv: SpawnedServer, n: int, concurrency: int, *, adaptive: bool) -> dict[str, float]:
    """One ``generate`` of ``n`` rows; the server's counters are read before and after."""
    before = srv.stats()
    llm = OpenAICompatible("fake-model", base_url=srv.base_url, max_concurrency=concurrency)
    generator = DatasetGenerator(llm)
    t0 = time.perf_counter()
    dataset = generator.generate(
        PROMPT,
        max_prompt_calls=n,
        num_samples_to_generate=n,
        max_tokens=32,
        seed=1,
        dedup=False,  # the fake server's canned replies repeat by design
        adaptive_concurrency=adaptive,
    )
    wall = time.perf_counter() - t0
    after = srv.stats()
    report = generator.last_run
    assert report is not None
    return {
        "rows": len(dataset),
        "failed": len(report.failures),
        "received": after["received"] - before["received"],
        "429s": after["rejected_capacity"] - before["rejected_capacity"],
        "wall": wall,
        "rate": len(dataset) / wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400, help="rows per run")
    p.add_argument("--capacity", type=int, default=8, help="requests the server serves at once")
    p.add_argument("--concurrency", type=int, default=32, help="max_concurrency of both runs")
    p.add_argument("--latency", type=float, default=0.05, help="server latency per request, seconds")
    p.add_argument("--repeat", type=int, default=1, help="pairs of runs (the order alternates)")
    a = p.parse_args()
    logging.getLogger("fabricator").setLevel(logging.ERROR)  # no "waiting N s" lines between rows
    limit = a.capacity / a.latency
    print(
        f"cpus={os.cpu_count()} rows={a.requests} capacity={a.capacity} max_concurrency={a.concurrency} "
        f"latency={a.latency * 1000:.0f} ms (limit {limit:.0f} rows/s; fake server in its own process)"
    )
    columns = ("rows", 5), ("failed", 6), ("received", 8), ("429s", 6), ("wall s", 7), ("rows/s", 7)
    print(f"{'':9} " + " ".join(f"{name:>{width}}" for name, width in columns) + f" {'of limit':>8}")
    with FakeOpenAIServer.spawn(latency=a.latency, capacity=a.capacity, retry_after=0.05) as srv:
        run_once(srv, 10, 2, adaptive=False)  # warm-up: imports, first Dataset, first session
        for rep in range(a.repeat):
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"--- pair {rep + 1} of {a.repeat} (load average {load:.2f})")
            order = (True, False) if rep % 2 == 0 else (False, True)
            runs = {mode: run_once(srv, a.requests, a.concurrency, adaptive=mode) for mode in order}
            for mode in (True, False):
                r = runs[mode]
                print(
                    f"{'adaptive' if mode else 'fixed':9} {r['rows']:>5} {r['failed']:>6} {r['received']:>8} "
                    f"{r['429s']:>6} {r['wall']:>7.2f} {r['rate']:>7.1f} {r['rate'] / limit:>8.2f}"
                )
            on, off = runs[True], runs[False]
            share = on["429s"] / off["429s"] if off["429s"] else float("nan")
            print(
                f"adaptive / fixed: 429s {on['429s']} / {off['429s']} = {share:.2f}; "
                f"rows/s {on['rate']:.1f} / {off['rate']:.1f} = {on['rate'] / off['rate']:.2f}x"
            )


if __name__ == "__main__":
    main()
