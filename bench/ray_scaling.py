"""Requests/s of the local engine and of ``engine="ray"`` with 1 and 2 actors, in one run.

    pip install -e ".[ray]"
    python bench/ray_scaling.py [--requests 2000] [--latency 0.1] [--concurrency 64]
                                [--actors 1 2] [--repeat 1] [--address ADDR]

The fake OpenAI server runs in a separate process (``FakeOpenAIServer.spawn``) with a fixed
latency per request. Every run is one ``DatasetGenerator.generate`` call making ``--requests``
rows of plain unlabeled generation (no journal, no progress bar) through
``OpenAICompatible(..., max_concurrency=C)``; with Ray, each actor has C requests in flight, so
N actors have N x C and the ceiling is N x C / latency.

Printed per run: wall time and requests/s of the whole ``generate`` call, and for Ray also the
time its actors took to start (from submitting the Ray Data job to the first block starting in
an actor) and the requests/s while the blocks ran (the "steady" rate, start-up excluded). Ray's
own start-up (``ray.init`` of a local cluster, or joining ``--address``) is printed first,
separately. Ratios are against the local engine at C. For N > 1 actors, the local engine also
runs with N x C in flight (one process, as many requests in flight as the N actors).
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer

PROMPT = BasePrompt(task_description="Write one short, vivid movie review.", generate_data_for_column="text")


class _Timeline(logging.Handler):
    """Keeps the timing that the Ray executor (``fabricator.execution.ray``) logs after each round."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.last: dict | None = None

    def emit(self, record: logging.LogRecord) -> None:
        timeline = getattr(record, "ray_timeline", None)
        if timeline is not None:
            self.last = dict(timeline)


def run_once(base_url: str, n: int, concurrency: int, timeline: _Timeline, **engine) -> dict:
    llm = OpenAICompatible("fake-model", base_url=base_url, max_concurrency=concurrency)
    generator = DatasetGenerator(llm)
    timeline.last = None
    t0 = time.perf_counter()
    # dedup off: the fake server's canned replies repeat by design; this measures the engine
    dataset = generator.generate(
        PROMPT, max_prompt_calls=n, num_samples_to_generate=n, max_tokens=64, seed=1, dedup=False, **engine
    )
    wall = time.perf_counter() - t0
    report = generator.last_run
    assert report is not None
    if len(dataset) != n or report.failures or report.stats.requests != n:
        raise SystemExit(
            f"{engine or 'local'}: {len(dataset)} rows, {report.stats.requests} requests, "
            f"{len(report.failures)} failures (expected {n}, {n}, 0)"
        )
    out = {"wall": wall, "rate": n / wall, "startup": None, "steady": None}
    if timeline.last is not None:
        t = timeline.last
        out["startup"] = t["first_block"] - t["submitted"]
        out["steady"] = n / max(1e-9, t["last_block"] - t["first_block"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight per engine/actor")
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--address", default=None, help="join this Ray cluster instead of starting one")
    p.add_argument(
        "--no-same-in-flight",
        dest="same_in_flight",
        action="store_false",
        help="skip the local runs with N x C in flight (one process, as many requests in flight as N actors)",
    )
    a = p.parse_args()

    import ray

    logging.getLogger("fabricator").setLevel(logging.INFO)
    timeline = _Timeline()
    logging.getLogger("fabricator").addHandler(timeline)
    logging.getLogger("fabricator").propagate = False
    c, lat, n = a.concurrency, a.latency, a.requests
    print(
        f"cpus={os.cpu_count()} ray={ray.__version__} requests={n} latency={lat * 1000:.0f} ms "
        f"C={c} per engine/actor (fake server in its own process; generate() end to end)"
    )
    t0 = time.perf_counter()
    ray.init(address=a.address, include_dashboard=False, log_to_driver=False)
    print(
        f"ray start-up: {time.perf_counter() - t0:.2f} s "
        f"({'joined ' + a.address if a.address else 'local cluster'}, "
        f"{ray.cluster_resources().get('CPU', 0):g} CPUs)"
    )
    with FakeOpenAIServer.spawn(latency=lat) as srv:
        run_once(srv.base_url, 20, 4, timeline)  # warm-up: imports, first Dataset, first session
        run_once(srv.base_url, 20, 4, timeline, engine="ray", ray_actors=1)  # Ray Data's first job
        for rep in range(a.repeat):
            if a.repeat > 1:
                print(f"--- run {rep + 1} of {a.repeat}")
            print(
                f"{'engine':<14} {'in flight':>9} {'limit/s':>8} {'wall s':>7} {'req/s':>7} "
                f"{'x local':>8} {'actor start s':>14} {'steady req/s':>13} {'x local':>8}"
            )
            local = run_once(srv.base_url, n, c, timeline)
            print(
                f"{'local':<14} {c:>9} {c / lat:>8.0f} {local['wall']:>7.2f} {local['rate']:>7.0f} "
                f"{1.0:>8.2f} {'-':>14} {local['rate']:>13.0f} {1.0:>8.2f}"
            )
            for actors in a.actors:
                if actors > 1 and a.same_in_flight:  # one process with as many requests in flight
                    same = run_once(srv.base_url, n, actors * c, timeline)
                    print(
                        f"{f'local C={actors * c}':<14} {actors * c:>9} {actors * c / lat:>8.0f} "
                        f"{same['wall']:>7.2f} {same['rate']:>7.0f} {same['rate'] / local['rate']:>8.2f} "
                        f"{'-':>14} {same['rate']:>13.0f} {same['rate'] / local['rate']:>8.2f}"
                    )
                r = run_once(srv.base_url, n, c, timeline, engine="ray", ray_actors=actors)
                print(
                    f"{f'ray x{actors}':<14} {actors * c:>9} {actors * c / lat:>8.0f} {r['wall']:>7.2f} "
                    f"{r['rate']:>7.0f} {r['rate'] / local['rate']:>8.2f} {r['startup']:>14.2f} "
                    f"{r['steady']:>13.0f} {r['steady'] / local['rate']:>8.2f}"
                )
        stats = srv.stats()
        print(f"server: {stats['received']} requests, max {stats['max_in_flight']} in flight")
    ray.shutdown()


if __name__ == "__main__":
    main()
