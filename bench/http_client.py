"""Throughput of OpenAICompatible.complete against the fake server in a separate process.

    python bench/http_client.py [--requests 2000] [--latency 0.1] [--workers 64 256]

For each pool size N, N worker tasks pull from a shared counter and call ``complete`` directly
(no engine). The ideal rate is N / latency; the ratio shows how close the client gets. Client CPU
is ``time.process_time()`` of this process divided by the number of requests (the server runs in
its own process and is not counted; its CPU is shown separately when /proc is available).
Each run is preceded by one un-timed request per worker so that connections are open.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from fabricator.llms.base import Request
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


async def pool(llm: OpenAICompatible, n_requests: int, workers: int) -> int:
    left = n_requests
    done = 0

    async def worker(w: int) -> None:
        nonlocal left, done
        while left > 0:
            left -= 1
            request = Request(
                messages=({"role": "user", "content": f"write review {left} for worker {w}"},), max_tokens=64
            )
            out = await llm.complete(request)
            if out.text:
                done += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))
    return done


async def measure(base_url: str, n_requests: int, workers: int, server_pid: int) -> dict:
    llm = OpenAICompatible("fake-model", base_url=base_url, max_concurrency=workers)
    try:
        await pool(llm, workers, workers)  # warm-up: open the connections
        srv0 = proc_cpu_seconds(server_pid)
        cpu0, t0 = time.process_time(), time.perf_counter()
        done = await pool(llm, n_requests, workers)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        srv1 = proc_cpu_seconds(server_pid)
    finally:
        await llm.aclose()
    return {
        "done": done,
        "wall": wall,
        "cpu_ms": 1000 * cpu / n_requests,
        "srv_cpu_ms": None if srv0 is None or srv1 is None else 1000 * (srv1 - srv0) / n_requests,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--workers", type=int, nargs="+", default=[64, 256])
    a = p.parse_args()
    print(
        f"cpus={os.cpu_count()} requests={a.requests} server latency={a.latency * 1000:.0f} ms "
        f"(fake server in a separate process)"
    )
    print(
        f"{'N':>5} {'req/s':>9} {'limit':>9} {'ratio':>6} {'client CPU ms/req':>18} {'server CPU ms/req':>18}"
    )
    with FakeOpenAIServer.spawn(latency=a.latency) as srv:
        for n in a.workers:
            r = asyncio.run(measure(srv.base_url, a.requests, n, srv.pid))
            assert r["done"] == a.requests, r
            rate, limit = a.requests / r["wall"], n / a.latency
            srv_cpu = "n/a" if r["srv_cpu_ms"] is None else f"{r['srv_cpu_ms']:.3f}"
            print(
                f"{n:>5} {rate:>9.0f} {limit:>9.0f} {rate / limit:>6.2f} {r['cpu_ms']:>18.3f} {srv_cpu:>18}"
            )


if __name__ == "__main__":
    main()
