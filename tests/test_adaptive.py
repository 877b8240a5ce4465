"""Adaptive concurrency (issue 15, item 5): fewer requests in flight while the server answers 429/503.

The AIMD gate on scripted outcomes (halve on repeated overloads, one more after a level's worth of
successes, within floor and ceiling, one decrease per level however many stale 429s arrive), then
the engine against ``FakeOpenAIServer`` with a capacity that answers 429 above it: started at 4x
the capacity, the run settles near the capacity and gets fewer 429s than a fixed pool. Waits run
on virtual time (``FakeClock``); no assertion depends on how long anything took.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError, ConnectionFailed, RateLimitError, RequestTimeout, ServerError
from fabricator.execution.adaptive import AdaptiveLimit, Outcome, outcome_of
from fabricator.execution.engine import Engine
from fabricator.llms import Fake
from fabricator.llms.base import Request
from fabricator.llms.openai import OpenAICompatible
from fabricator.progress import ProgressReporter
from fabricator.testing import FakeClock, FakeOpenAIServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def run_calls(gate: AdaptiveLimit, outcomes: list[Outcome]) -> list[int]:
    """One call after another with these outcomes; the level after each."""

    async def go() -> list[int]:
        levels = []
        for outcome in outcomes:
            gate.release(await gate.acquire(), outcome)
            levels.append(gate.level)
        return levels

    return asyncio.run(go())


# --- the gate on scripted outcomes ----------------------------------------------------------------


def test_repeated_overloads_halve_the_level_down_to_the_floor():
    gate = AdaptiveLimit(64, clock=FakeClock())
    levels = run_calls(gate, ["overload"] * 14)
    assert levels == [64, 32, 32, 16, 16, 8, 8, 4, 4, 2, 2, 1, 1, 1]
    assert gate.history == [64, 32, 16, 8, 4, 2, 1] and gate.lowered


def test_a_single_overload_or_overloads_far_apart_leave_the_level_alone():
    clock = FakeClock()
    gate = AdaptiveLimit(16, overloads=2, window=10.0, clock=clock)
    assert run_calls(gate, ["overload"]) == [16]
    clock.advance(11.0)  # the first is forgotten: not "repeated"
    assert run_calls(gate, ["overload"]) == [16]
    clock.advance(5.0)  # within the window of the second
    assert run_calls(gate, ["overload"]) == [8]


def test_overloads_from_calls_sent_at_an_old_level_count_once():
    """A burst of 429s from calls all sent at 32 is one signal, not five halvings."""

    async def go(gate: AdaptiveLimit) -> None:
        tickets = [await gate.acquire() for _ in range(32)]
        for ticket in tickets[:24]:
            gate.release(ticket, "overload")

    gate = AdaptiveLimit(32, clock=FakeClock())
    asyncio.run(go(gate))
    assert gate.level == 16 and gate.history == [32, 16]


def test_successes_probe_back_up_one_at_a_time_never_above_the_ceiling():
    gate = AdaptiveLimit(8, clock=FakeClock())
    run_calls(gate, ["overload"] * 2)
    assert gate.level == 4
    # a level's worth of successes per step: 4 at 4, 5 at 5, ...; errors other than overloads are neutral
    assert run_calls(gate, ["success"] * 3 + ["error"] * 5 + ["success"]) == [4] * 8 + [5]
    run_calls(gate, ["success"] * (5 + 6 + 7))
    assert gate.level == 8
    run_calls(gate, ["success"] * 50)
    assert gate.level == 8 and gate.history == [8, 4, 5, 6, 7, 8] and not gate.lowered


def test_fixed_step_of_successes():
    gate = AdaptiveLimit(10, successes_per_step=2, clock=FakeClock())
    run_calls(gate, ["overload"] * 2)
    assert run_calls(gate, ["success"] * 4) == [5, 6, 6, 7]


def test_the_gate_bounds_the_calls_in_flight_and_serves_waiters_in_order():
    async def go() -> tuple[list[str], int]:
        gate = AdaptiveLimit(4, clock=FakeClock())
        t = [await gate.acquire() for _ in range(4)]
        gate.release(t.pop(), "overload")
        gate.release(t.pop(), "overload")  # level 2, two still in flight
        order: list[str] = []

        async def waiter(name: str) -> None:
            ticket = await gate.acquire()
            order.append(name)
            gate.release(ticket, "success")

        tasks = [asyncio.ensure_future(waiter(n)) for n in "abc"]
        cancelled = asyncio.ensure_future(waiter("x"))
        await asyncio.sleep(0)
        assert order == [] and gate.in_flight == 2  # full: everyone waits
        cancelled.cancel()
        gate.release(t.pop(), "success")  # one place frees: the first waiter goes, then the next
        await asyncio.gather(*tasks)
        await asyncio.gather(cancelled, return_exceptions=True)
        return order, gate.in_flight

    order, in_flight = asyncio.run(go())
    assert order == ["a", "b", "c"] and in_flight == 1  # the cancelled waiter took no place


def test_what_counts_as_overload():
    assert outcome_of(None) == "success"
    assert outcome_of(RateLimitError("429", status=429)) == "overload"
    assert outcome_of(ServerError("503", status=503)) == "overload"
    assert outcome_of(ServerError("500", status=500)) == "error"
    assert outcome_of(RequestTimeout("slow")) == "error"
    assert outcome_of(ConnectionFailed("down")) == "error"


def test_bad_settings_are_config_errors():
    for kwargs in ({"ceiling": 0}, {"ceiling": 4, "decrease": 1.0}, {"ceiling": 4, "overloads": 0}):
        with pytest.raises(ConfigError) as caught:
            AdaptiveLimit(**kwargs)  # type: ignore[arg-type]
        assert caught.value.hint


# --- the engine ---------------------------------------------------------------------------------


def test_a_429_is_still_retried_and_answered_with_the_gate_lowered():
    failures = {n: RateLimitError("429", status=429, retry_after=0.1) for n in range(4)}
    llm = Fake("ok", failures=failures, latency=0.001, max_concurrency=8)  # all four in flight at once
    engine = Engine(llm, clock=FakeClock(), max_retries=6)
    request = Request(messages=({"role": "user", "content": "Write."},))
    results: list[str] = []

    async def handler(i: int) -> str:
        return (await engine.call(request, "")).text

    asyncio.run(engine.map(range(4), handler, lambda i, text: results.append(text)))
    assert results == ["ok"] * 4 and engine.stats.retries == 4 and engine.stats.failed_requests == 0
    # four 429s from calls sent at 8 halve it once; the four answered retries step it up by one
    assert engine.gate is not None and engine.gate.history == [8, 4, 5]


def test_the_progress_bar_shows_the_lowered_level():
    screen = io.StringIO()
    reporter = ProgressReporter(console=Console(file=screen, force_terminal=True, width=160))
    reporter.start(10)
    reporter.concurrency(12, 64)
    reporter.stop()
    assert "in flight 12/64" in screen.getvalue()
    screen = io.StringIO()
    reporter = ProgressReporter(console=Console(file=screen, force_terminal=True, width=160))
    reporter.start(10)
    reporter.concurrency(64, 64)  # back at the ceiling: nothing to say
    reporter.stop()
    assert "in flight" not in screen.getvalue()


CAPACITY = 4
CEILING = 4 * CAPACITY
CALLS = 160


def run_engine(srv: FakeOpenAIServer, *, adaptive: bool) -> tuple[Engine, dict]:
    """CALLS calls through one engine at CEILING workers; the server's counters after."""

    async def go() -> Engine:
        llm = OpenAICompatible("fake-model", base_url=srv.base_url, max_concurrency=CEILING)
        engine = Engine(llm, concurrency=CEILING, max_retries=200, clock=FakeClock(), adaptive=adaptive)
        done: list[int] = []

        async def handler(i: int) -> str:
            request = Request(messages=({"role": "user", "content": f"Write review {i}."},), max_tokens=8)
            return (await engine.call(request, "")).text

        try:
            await engine.map(range(CALLS), handler, lambda i, _: done.append(i))
        finally:
            await llm.aclose()
        assert sorted(done) == list(range(CALLS))
        return engine

    srv.reset_stats()
    engine = asyncio.run(go())
    return engine, srv.stats


def test_started_at_4x_capacity_the_run_settles_near_it_with_fewer_429s():
    with FakeOpenAIServer(latency=0.005, capacity=CAPACITY, retry_after=0.01, record=False) as srv:
        adaptive, adaptive_stats = run_engine(srv, adaptive=True)
        fixed, fixed_stats = run_engine(srv, adaptive=False)
    assert adaptive.stats.failed_requests == fixed.stats.failed_requests == 0
    assert adaptive_stats["completed"] == fixed_stats["completed"] == CALLS
    gate = adaptive.gate
    assert gate is not None and fixed.gate is None
    # the first overloads lower the level, and it never climbs back to the ceiling (how far it probes
    # up between overloads depends on how the machine schedules the requests: not asserted)
    assert gate.history[0] == CEILING and len(gate.history) > 1
    assert max(gate.history[1:]) < CEILING and min(gate.history) >= 1
    assert adaptive_stats["max_in_flight"] == CAPACITY  # it still used all the server has
    # far fewer 429s than a fixed pool of CEILING (each 429 also counts as an engine retry)
    assert adaptive_stats["rejected_capacity"] < fixed_stats["rejected_capacity"]
    assert adaptive.stats.retries < fixed.stats.retries


def test_the_option_turns_adaptation_off():
    prompt = BasePrompt(task_description="Write one short movie review.", generate_data_for_column="text")

    def rejected(adaptive: bool) -> int:
        with FakeOpenAIServer(latency=0.005, capacity=2, retry_after=0.01, record=False) as srv:
            llm = OpenAICompatible("fake-model", base_url=srv.base_url, max_concurrency=8)
            data = DatasetGenerator(llm, clock=FakeClock()).generate(
                prompt,
                max_prompt_calls=40,
                num_samples_to_generate=40,
                dedup=False,
                max_retries=200,
                adaptive_concurrency=adaptive,
            )
            assert len(data) == 40
            return int(srv.stats["rejected_capacity"])

    assert rejected(True) < rejected(False)
