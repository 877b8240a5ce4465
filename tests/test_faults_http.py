"""Fault handling over real HTTP on loopback: FakeOpenAIServer (thread) + OpenAICompatible + generator.

Every scripted fault kind on some requests: the run completes, nothing is silently dropped
(requested rows = returned rows + failures, each failure kept with its error), a rejected key
stops the run at once without retries and without showing the key, a closed port fails fast, and
a 429 asking for an hour's wait fails its row instead of stalling the run. The engine's waits run
on a virtual clock (``FakeClock``): the tests assert which waits happened, never how long they took.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter

import pytest

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import AuthenticationError, BackendUnavailable
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeClock, FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)

PROMPT = BasePrompt(task_description="Write one short movie review.", generate_data_for_column="text")
ROWS = 24
CONCURRENCY = 4
TIMEOUT = 3.0  # timeout_per_prompt: the "hang" fault runs past it; a slow answer on a busy machine does not


def responder(messages: list, body: dict) -> str:
    """A distinct, deterministic review per request (long enough for the "length" fault to cut)."""
    return f"A gripping heist film, seed {body.get('seed')}, with a twist nobody sees coming."


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clock() -> FakeClock:
    """The engine the generator builds waits (backoff, Retry-After) on virtual time."""
    return FakeClock()


def generate(
    server: FakeOpenAIServer, *, max_retries: int, calls: int = ROWS + 1, clock: FakeClock | None = None, **kw
):
    """ROWS rows; ``calls`` model calls at most (HTTP retries apart): one per row, plus the re-ask
    of the answer the "length" fault cuts short. Waits run on ``clock`` (virtual time)."""
    llm = OpenAICompatible("fake-model", base_url=server.base_url, max_concurrency=CONCURRENCY)
    generator = DatasetGenerator(llm, clock=clock or FakeClock())
    dataset = generator.generate(
        PROMPT,
        max_prompt_calls=calls,
        num_samples_to_generate=ROWS,
        timeout_per_prompt=TIMEOUT,
        max_retries=max_retries,
        seed=3,
        **kw,
    )
    return dataset, generator.last_run


# Faults only on request numbers >= CONCURRENCY: the first requests succeed, so a dropped
# connection is a failed row rather than "server unreachable" (see the engine).
ERROR_FAULTS = {4: "429", 6: "500", 8: "hang", 10: "reset", 12: "malformed", 17: "500"}
ALL_FAULTS = {**ERROR_FAULTS, 14: "length"}


def test_every_fault_kind_is_retried_and_the_run_completes(clock: FakeClock):
    with FakeOpenAIServer(latency=0.005, faults=ALL_FAULTS, retry_after=1.0, responder=responder) as srv:
        dataset, report = generate(srv, max_retries=3, clock=clock)
        stats, received = srv.stats, list(srv.requests)
    assert len(dataset) == ROWS and report.rows == ROWS
    assert report.failures == []
    assert stats["faults"] == dict(Counter(ALL_FAULTS.values()))
    # every error fault cost exactly one engine retry; "length" is an answer, not an error, but one
    # cut off before its first sentence ended, so that row asked once more (a new sample)
    assert report.stats.retries == len(ERROR_FAULTS)
    assert stats["received"] == ROWS + len(ERROR_FAULTS) + 1 == report.stats.requests
    cut = next(r for r in received if r.fault == "length")
    assert f"seed {cut.body['seed']}," not in "\n".join(dataset["text"])  # the fragment is not data
    # one wait per retry: jittered backoff (0.25-0.75 s before a first retry, 0.5-1.5 s before a
    # second), and the 429's Retry-After (1 s; request 4 is a first ask, so its backoff is shorter)
    # honoured exactly
    assert len(clock.sleeps) == len(ERROR_FAULTS)
    assert clock.sleeps.count(1.0) == 1
    assert all(0.25 <= s <= 1.5 for s in clock.sleeps), clock.sleeps
    n429 = next(n for n, f in ALL_FAULTS.items() if f == "429")
    seed = received[n429].body["seed"]
    assert any(r.number > n429 and r.body["seed"] == seed for r in received)  # and then retried


def test_exhausted_retries_fail_rows_that_are_all_accounted_for():
    with FakeOpenAIServer(latency=0.005, faults=ALL_FAULTS, responder=responder) as srv:
        dataset, report = generate(srv, max_retries=0)
        stats = srv.stats
    failures = report.failures
    # nothing silently dropped: every requested row is returned or kept as a failure
    assert report.requested == ROWS
    assert len(dataset) + len(failures) == ROWS
    assert report.rows == len(dataset)
    assert len(failures) == len(ERROR_FAULTS)
    assert Counter(f.kind for f in failures) == {
        "RateLimitError": 1,
        "ServerError": 3,
        "RequestTimeout": 1,
        "ConnectionFailed": 1,
    }
    assert len({f.index for f in failures}) == len(failures)
    assert all(f.error for f in failures)
    errors = "\n".join(f.error for f in failures)
    for needle in ("429", "500", "malformed", f"within {TIMEOUT:g} s", "connection"):
        assert needle in errors
    # no engine retries: one request per row, plus the re-ask of the answer cut off by "length"
    assert stats["received"] == ROWS + 1 == report.stats.requests
    assert report.stats.retries == 0
    assert report.summary()["failures"] == len(failures)
    failed = report.failures_dataset()
    assert len(failed) == len(failures) and set(failed["kind"]) == {f.kind for f in failures}


def test_rejected_key_stops_at_once_without_retries_or_showing_the_key(clock: FakeClock):
    secret, wrong = "sk-right-5f2b9c0e11aa", "sk-wrong-77d1e0c4b3ff"
    with FakeOpenAIServer(latency=0.01, api_key=secret) as srv:
        llm = OpenAICompatible("fake-model", base_url=srv.base_url, api_key=wrong, max_concurrency=8)
        with pytest.raises(AuthenticationError) as info:
            DatasetGenerator(llm, clock=clock).generate(
                PROMPT, max_prompt_calls=50, num_samples_to_generate=50, max_retries=6
            )
        stats = srv.stats
    assert clock.sleeps == []  # at once: not a single backoff wait
    assert stats["received"] <= 1  # chat requests: the preflight already stopped the run
    text = f"{info.value}\n{info.value.message}\n{info.value.hint}\n{info.value!r}"
    assert wrong not in text and secret not in text
    assert "401" in info.value.message


def test_rejected_key_on_a_chat_request_is_not_retried(clock: FakeClock):
    # the server accepts /v1/models but answers 401 to the first chat request
    with FakeOpenAIServer(latency=0.01, faults={0: "401"}) as srv:
        llm = OpenAICompatible(
            "fake-model", base_url=srv.base_url, api_key="sk-not-shown-0001", max_concurrency=1
        )
        generator = DatasetGenerator(llm, clock=clock)
        with pytest.raises(AuthenticationError) as info:
            generator.generate(PROMPT, max_prompt_calls=50, num_samples_to_generate=50, max_retries=6)
        stats = srv.stats
    assert clock.sleeps == []
    assert stats["received"] == 1
    assert generator.last_run.stats.retries == 0
    assert "sk-not-shown-0001" not in f"{info.value}{info.value!r}"


def test_unreachable_server_fails_fast(clock: FakeClock):
    llm = OpenAICompatible("fake-model", base_url=f"http://127.0.0.1:{closed_port()}/v1")
    generator = DatasetGenerator(llm, clock=clock)
    with pytest.raises(BackendUnavailable) as info:
        generator.generate(PROMPT, max_prompt_calls=20, num_samples_to_generate=20)
    # fast: no chat request sent, no backoff waited (one connection refused is enough)
    assert generator.last_run.stats.requests == 0 and clock.sleeps == []
    assert info.value.hint and "base_url" in info.value.hint


@pytest.mark.timeout(30)  # safety net only: the old code sleeps the full hour here
def test_a_429_asking_for_an_hour_fails_its_row_instead_of_stalling_the_run(clock: FakeClock, caplog):
    with FakeOpenAIServer(latency=0.005, faults={5: "429"}, retry_after=3600, responder=responder) as srv:
        with caplog.at_level(logging.WARNING, logger="fabricator"):
            dataset, report = generate(srv, max_retries=6, calls=ROWS, clock=clock)
        stats = srv.stats
    assert clock.sleeps == [] and clock.now() == 0.0  # the run did not wait for the server
    assert stats["received"] == ROWS and report.stats.retries == 0  # the 429 was not retried either
    assert len(dataset) == ROWS - 1
    [failure] = report.failures
    assert failure.kind == "RateLimitError"
    assert "3600 s" in failure.error and "max_retry_wait=60" in failure.error
    assert any("3600 s" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
