"""The engine on virtual time: rate limits, Retry-After waits and their cap (issue 11, case 7)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys

import pytest
from rich.console import Console

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError, RateLimitError, ServerError
from fabricator.execution.engine import Engine
from fabricator.llms import Fake
from fabricator.llms.base import Request
from fabricator.progress import ProgressReporter
from fabricator.testing import FakeClock

REQUEST = Request(messages=({"role": "user", "content": "Write."},))


def call(engine: Engine) -> str:
    return asyncio.run(engine.call(REQUEST, "")).text


def waits(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fabricator" and r.levelno == logging.WARNING]


def test_generate_respects_a_rate_limit_and_counts_tokens_and_cost():
    clock = FakeClock()  # the generator's engine and rate limiter run on it
    asked_at: list[float] = []

    def answer(prompt: str) -> str:
        asked_at.append(clock.now())
        return f"words {len(prompt)} here"

    g = DatasetGenerator(Fake(answer, max_concurrency=8), clock=clock)
    g.generate(
        BasePrompt("Write."),
        max_prompt_calls=6,
        num_samples_to_generate=6,
        requests_per_minute=120,
        prices=(1.0, 2.0),
        dedup=False,
    )
    stats = g.last_run.stats
    assert asked_at == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])  # burst of 2, then 2 per second
    assert stats.requests == 6
    assert stats.completion_tokens == 6 * 3 and stats.prompt_tokens > 0
    assert abs(stats.cost_usd - (stats.prompt_tokens * 1.0 + stats.completion_tokens * 2.0) / 1e6) < 1e-12


def test_retry_after_beyond_max_retry_wait_fails_the_request_at_once(caplog):
    clock = FakeClock()
    llm = Fake(
        "ok", failures={0: RateLimitError("429 slow down", status=429, retry_after=3600.0)}, name="teacher"
    )
    engine = Engine(llm, clock=clock)  # max_retry_wait defaults to 60 s
    with caplog.at_level(logging.WARNING, logger="fabricator"), pytest.raises(RateLimitError) as info:
        call(engine)
    assert clock.now() == 0.0 and clock.sleeps == []  # no stall: not a virtual second waited
    assert llm.calls == 1 and engine.stats.retries == 0 and engine.stats.failed_requests == 1
    assert info.value.retryable is False
    message = info.value.message
    assert "3600 s" in message and "max_retry_wait=60" in message and "teacher" in message
    assert "raise max_retry_wait" in message
    assert any("3600 s" in w for w in waits(caplog))


def test_a_retry_after_within_the_cap_is_announced_then_honoured(caplog):
    clock = FakeClock()
    llm = Fake(
        "ok", failures={0: RateLimitError("429 slow down", status=429, retry_after=30.0)}, name="teacher"
    )
    engine = Engine(llm, clock=clock)
    with caplog.at_level(logging.WARNING, logger="fabricator"):
        assert call(engine) == "ok"
    assert clock.sleeps == [30.0] and clock.now() == 30.0  # exactly what the server asked
    assert llm.calls == 2 and engine.stats.retries == 1
    assert waits(caplog) == ["rate limited by teacher: waiting 30 s (Retry-After) before retry 1 of 6"]


def test_short_waits_are_not_announced(caplog):
    clock = FakeClock()
    llm = Fake("ok", failures={0: RateLimitError("429", status=429, retry_after=2.0), 1: "500"})
    engine = Engine(llm, clock=clock)
    with caplog.at_level(logging.WARNING, logger="fabricator"):
        assert call(engine) == "ok"
    assert llm.calls == 3 and clock.sleeps[0] == 2.0 and len(clock.sleeps) == 2
    assert waits(caplog) == []


def test_max_retry_wait_is_configurable():
    def run(cap: float | None, retry_after: float) -> FakeClock:
        clock = FakeClock()
        failure = ServerError("503 busy", status=503, retry_after=retry_after)
        engine = Engine(Fake("ok", failures={0: failure}), clock=clock, max_retry_wait=cap)
        assert call(engine) == "ok"
        return clock

    assert run(None, 3600.0).now() == 3600.0  # no cap: wait as long as the server asks
    assert run(7200.0, 3600.0).now() == 3600.0
    with pytest.raises(ServerError, match="max_retry_wait=10 s"):  # a 503 with Retry-After is capped too
        run(10.0, 11.0)


def test_our_own_backoff_never_waits_longer_than_the_cap():
    clock = FakeClock()
    engine = Engine(
        Fake("ok", failures={n: "500" for n in range(4)}), clock=clock, backoff_base=100.0, max_retry_wait=1.5
    )
    assert call(engine) == "ok"
    assert len(clock.sleeps) == 4 and max(clock.sleeps) <= 1.5


def test_a_bad_max_retry_wait_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        Engine(Fake("ok"), max_retry_wait=-1)
    assert info.value.hint and "max_retry_wait" in info.value.hint


def test_a_refused_wait_becomes_a_failure_row_and_the_run_goes_on():
    llm = Fake(
        "A fine film.", failures={1: RateLimitError("429", status=429, retry_after=3600.0)}, max_concurrency=1
    )
    g = DatasetGenerator(llm)
    dataset = g.generate(BasePrompt("Write."), max_prompt_calls=3, num_samples_to_generate=3, dedup=False)
    report = g.last_run
    # one call per row, no waiting: the refused wait is kept as data and the rows after it are made
    assert len(dataset) == 2 and llm.calls == 3
    assert [f.kind for f in report.failures] == ["RateLimitError"]
    assert "3600 s" in report.failures[0].error and "max_retry_wait=60" in report.failures[0].error


def test_a_wait_announced_during_the_progress_bar_is_printed_above_it():
    """A live bar redraws over lines written behind rich's back: the warning must go through it."""
    screen = io.StringIO()
    reporter = ProgressReporter(console=Console(file=screen, force_terminal=True, width=120))
    handler = logging.StreamHandler(sys.stderr)  # as logging.basicConfig makes it, before the bar
    logger = logging.getLogger("fabricator")
    logger.addHandler(handler)
    try:
        reporter.start(3)
        logger.warning("rate limited by teacher: waiting 42 s (Retry-After) before retry 1 of 6")
        reporter.stop()
    finally:
        logger.removeHandler(handler)
    assert "waiting 42 s (Retry-After)" in screen.getvalue()
    assert handler.stream is sys.stderr  # given back when the bar stops
