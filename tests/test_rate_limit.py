"""Rate limits on virtual time: when each request may start, in order, whatever the machine's load."""

from __future__ import annotations

import asyncio

import pytest

from fabricator.execution.clock import SYSTEM_CLOCK, Clock
from fabricator.execution.engine import Engine
from fabricator.execution.ratelimit import RateLimiter, TokenBucket
from fabricator.llms import Fake
from fabricator.llms.base import Request
from fabricator.testing import FakeClock


def test_the_fake_and_the_real_clock_are_both_clocks():
    assert isinstance(FakeClock(), Clock) and isinstance(SYSTEM_CLOCK, Clock)
    assert RateLimiter().clock is SYSTEM_CLOCK and TokenBucket(60).clock is SYSTEM_CLOCK


def test_fake_clock_wakes_concurrent_sleepers_in_deadline_order():
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async def go() -> None:
        await asyncio.gather(nap("c", 3.0), nap("a", 1.0), nap("b", 2.0), nap("a2", 1.0))

    asyncio.run(go())
    assert woke == [("a", 1.0), ("a2", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.now() == 3.0  # concurrent sleeps overlap: 3 virtual seconds, not 7


def test_requests_per_minute_paces_requests_one_after_another():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=120, clock=clock)  # 2 per second, bursting 2
    starts: list[float] = []

    async def go() -> None:
        for _ in range(10):
            await limiter.acquire(1)
            starts.append(clock.now())

    asyncio.run(go())
    assert starts == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])


def test_requests_per_minute_paces_concurrent_requests_in_order():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=600, clock=clock)  # 10 per second, bursting 10
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire(1)
        starts.append(clock.now())

    async def go() -> None:
        await asyncio.gather(*(one() for _ in range(25)))

    asyncio.run(go())
    assert starts == sorted(starts)
    assert starts == pytest.approx([0.0] * 10 + [0.1 * k for k in range(1, 16)])


def test_tokens_per_minute_is_settled_with_the_true_usage():
    def run(settle: bool) -> list[float]:
        clock = FakeClock()
        limiter = RateLimiter(tokens_per_minute=6000, clock=clock)  # 100 tokens per second, bucket 100

        async def go() -> list[float]:
            starts = []
            for _ in range(5):
                await limiter.acquire(100)  # estimated
                starts.append(clock.now())
                if settle:
                    limiter.settle(100, 10)  # the answer used only 10: 90 come back
            return starts

        return asyncio.run(go())

    # settled: each next request waits only for the 10 tokens really used
    assert run(settle=True) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert run(settle=False) == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


def test_a_request_bigger_than_the_bucket_still_goes_alone():
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock)  # 10 per second, bucket of 10

    async def go() -> list[float]:
        starts = []
        for _ in range(3):
            await limiter.acquire(1000)
            starts.append(clock.now())
        return starts

    assert asyncio.run(go()) == pytest.approx([0.0, 1.0, 2.0])


def test_the_engine_paces_concurrent_calls_through_its_limiter():
    clock = FakeClock()
    llm = Fake("ok", max_concurrency=8)
    started: list[float] = []

    async def handler(n: int) -> str:
        completion = await engine.call(Request(messages=({"role": "user", "content": f"row {n}"},)), "")
        started.append(clock.now())
        return completion.text

    results: dict[int, str] = {}
    engine = Engine(llm, rate_limiter=RateLimiter(requests_per_minute=120, clock=clock), clock=clock)
    asyncio.run(engine.map(list(range(6)), handler, results.__setitem__))
    assert llm.calls == 6 and results == {n: "ok" for n in range(6)}
    assert started == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])
    assert engine.stats.elapsed == pytest.approx(2.0)  # the stats read the same (virtual) clock
    assert engine.stats.as_dict()["elapsed_s"] == pytest.approx(2.0)
