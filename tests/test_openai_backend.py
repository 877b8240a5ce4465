"""OpenAICompatible against the fake OpenAI server (offline, loopback only)."""

from __future__ import annotations

import asyncio
import email.utils
import gc
import socket
import time
import warnings

import pytest

from fabricator import errors
from fabricator.llms.base import LLM, Request
from fabricator.llms.openai import OpenAICompatible, _parse_retry_after
from fabricator.testing import FakeOpenAIServer

pytestmark = pytest.mark.timeout(30)

USER = {"role": "user", "content": "Write one short movie review about a heist film."}


def req(*messages: dict, **kw) -> Request:
    return Request(messages=tuple(messages) or (USER,), **kw)


def run(coro_fn, llm: OpenAICompatible):
    """Run ``coro_fn()`` in a fresh loop and close the backend's session before the loop ends."""

    async def main():
        try:
            return await coro_fn()
        finally:
            await llm.aclose()

    return asyncio.run(main())


def complete(llm: OpenAICompatible, request: Request):
    return run(lambda: llm.complete(request), llm)


def raises(llm: OpenAICompatible, request: Request, cls: type[BaseException]) -> BaseException:
    with pytest.raises(cls) as info:
        complete(llm, request)
    return info.value


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


# --- success ------------------------------------------------------------------------------------


def test_successful_completion(server):
    llm = OpenAICompatible("fake-model", base_url=server.base_url)
    assert isinstance(llm, LLM)
    assert llm.name == "fake-model"
    out = complete(llm, req(temperature=0.3, max_tokens=50))
    assert out.text == "reply to: " + USER["content"][:40]
    assert out.finish_reason == "stop"
    assert out.usage.prompt_tokens == len(USER["content"].split())
    assert out.usage.completion_tokens == len(out.text.split())
    assert out.model == "fake-model"

    seen = server.requests[-1]
    assert seen.body["model"] == "fake-model"
    assert seen.body["messages"] == [USER]
    assert seen.body["temperature"] == 0.3 and seen.body["max_tokens"] == 50
    for absent in ("top_p", "seed", "stop", "response_format"):
        assert absent not in seen.body
    assert "Authorization" not in seen.headers  # no key: no header
    assert seen.headers["Content-Type"] == "application/json"
    assert server.stats["completed"] == 1


def test_optional_params_and_extra_body(server):
    llm = OpenAICompatible("m", base_url=server.base_url + "/", extra_body={"top_k": 40, "cache_prompt": True})
    complete(llm, req(top_p=0.9, seed=7, stop=("\n\n", "END")))
    body = server.requests[-1].body
    assert body["top_p"] == 0.9 and body["seed"] == 7 and body["stop"] == ["\n\n", "END"]
    assert body["top_k"] == 40 and body["cache_prompt"] is True
    assert body["model"] == "m"


def test_missing_usage_gives_zeros():
    llm = OpenAICompatible("m", base_url="http://127.0.0.1:1/v1")
    out = llm._parse(b'{"choices":[{"message":{"role":"assistant","content":"hi"}}]}', 200)
    assert out.text == "hi" and out.finish_reason == "stop"
    assert out.usage.prompt_tokens == 0 and out.usage.completion_tokens == 0
    assert llm._parse(b'{"choices":[{"message":{"content":null},"finish_reason":"stop"}]}', 200).text == ""


def test_prefill_sent_only_when_supported(server):
    prefill = {"role": "assistant", "content": '{"review": "'}
    plain = OpenAICompatible("m", base_url=server.base_url)
    complete(plain, req(USER, prefill))
    assert server.requests[-1].body["messages"] == [USER]

    llama = OpenAICompatible("m", base_url=server.base_url, supports_prefill=True)
    complete(llama, req(USER, prefill))
    assert server.requests[-1].body["messages"] == [USER, prefill]


def test_json_schema_becomes_response_format(server):
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    llm = OpenAICompatible("m", base_url=server.base_url)
    complete(llm, req(json_schema=schema))
    assert server.requests[-1].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls", "retryable", "fatal"),
    [
        ("429", errors.RateLimitError, True, False),
        ("500", errors.ServerError, True, False),
        ("503", errors.ServerError, True, False),
        ("hang", errors.RequestTimeout, True, False),
        ("reset", errors.ConnectionFailed, True, False),
        ("malformed", errors.ServerError, True, False),
        ("400", errors.BadRequestError, False, True),
        ("404", errors.BadRequestError, False, True),
        ("422", errors.BadRequestError, False, True),
    ],
)
def test_fault_maps_to_error(fault, cls, retryable, fatal):
    with FakeOpenAIServer(faults=[fault]) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, timeout=0.3)
        t0 = time.perf_counter()
        err = raises(llm, req(), cls)
        assert time.perf_counter() - t0 < 2
        assert isinstance(err, errors.BackendError)
        assert err.retryable is retryable and err.fatal is fatal
        if fault in ("hang", "reset", "malformed"):
            assert err.__cause__ is not None  # raised from the library error
        if fault.isdigit():
            assert err.status == int(fault)
            assert f"scripted error {fault}" in str(err) or fault in ("429", "500")
        # the next request (no fault scripted) works on the same backend object
        assert complete(llm, req()).finish_reason == "stop"
        assert srv.stats["faults"] == {fault: 1}


def test_bad_request_includes_server_message_and_hint():
    with FakeOpenAIServer(faults=["404"]) as srv:
        err = raises(OpenAICompatible("gpt-nope", base_url=srv.base_url), req(), errors.BadRequestError)
    assert "scripted error 404" in str(err)
    assert "gpt-nope" in err.hint


def test_length_fault_gives_finish_reason_length():
    with FakeOpenAIServer(faults=["length"]) as srv:
        out = complete(OpenAICompatible("m", base_url=srv.base_url), req())
    assert out.finish_reason == "length"
    assert out.usage.completion_tokens == len(out.text.split())


def test_per_request_timeout_overrides_default():
    with FakeOpenAIServer(faults=["hang"]) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, timeout=60)
        t0 = time.perf_counter()
        raises(llm, req(timeout=0.2), errors.RequestTimeout)
        assert time.perf_counter() - t0 < 1.5


def test_retry_after_parsed_from_header():
    with FakeOpenAIServer(faults=["429"], retry_after=1.5) as srv:
        err = raises(OpenAICompatible("m", base_url=srv.base_url), req(), errors.RateLimitError)
    assert err.retry_after == pytest.approx(1.5)
    assert err.status == 429


def test_parse_retry_after_forms():
    assert _parse_retry_after("2") == 2.0
    assert _parse_retry_after(" 0.05 ") == pytest.approx(0.05)
    assert _parse_retry_after("-3") == 0.0
    assert _parse_retry_after(None) is None
    assert _parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= _parse_retry_after(future) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert _parse_retry_after(past) == 0.0


def test_capacity_overflow_answers_429():
    with FakeOpenAIServer(latency=0.2, capacity=2, retry_after=0.1) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url)

        async def burst():
            return await asyncio.gather(*(llm.complete(req()) for _ in range(5)), return_exceptions=True)

        results = run(burst, llm)
    limited = [r for r in results if isinstance(r, errors.RateLimitError)]
    assert len(limited) == 3 and all(r.retry_after == pytest.approx(0.1) for r in limited)
    assert srv.stats["completed"] == 2 and srv.stats["rejected_capacity"] == 3


def test_connection_refused_is_connection_failed():
    llm = OpenAICompatible("m", base_url=f"http://127.0.0.1:{closed_port()}/v1")
    err = raises(llm, req(), errors.ConnectionFailed)
    assert err.retryable and isinstance(err.__cause__, OSError)


# --- keys and authentication --------------------------------------------------------------------


SECRET = "sk-test-SECRET-0123456789abcdef"


def test_wrong_key_is_authentication_error_without_the_key():
    with FakeOpenAIServer(api_key="sk-the-right-one") as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, api_key=SECRET)
        err = raises(llm, req(), errors.AuthenticationError)
        assert srv.requests == [] and srv.stats["unauthorized"] == 1
    assert err.fatal and not err.retryable and err.status == 401
    assert "OPENAI_API_KEY" in err.hint
    for text in (str(err), err.message, err.hint, repr(err), repr(llm), str(llm)):
        assert SECRET not in text
    assert "***" in repr(llm)


def test_missing_key_hint():
    with FakeOpenAIServer(api_key="sk-the-right-one") as srv:
        err = raises(OpenAICompatible("m", base_url=srv.base_url), req(), errors.AuthenticationError)
    assert "no API key was sent" in err.hint


def test_key_from_environment_is_sent(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(api_key=SECRET) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, api_key_env="OPENAI_API_KEY")
        assert SECRET not in repr(llm)
        complete(llm, req())
        assert srv.requests[-1].headers["Authorization"] == f"Bearer {SECRET}"


def test_key_echoed_by_server_is_scrubbed():
    llm = OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", api_key=SECRET)
    body = ('{"error": {"message": "Incorrect API key provided: %s"}}' % SECRET).encode()
    for status in (401, 400, 500):
        err = llm._http_error(status, body, None)
        assert SECRET not in str(err) and "***" in str(err)


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_closed_port_is_backend_unavailable_fast():
    base = f"http://127.0.0.1:{closed_port()}/v1"
    llm = OpenAICompatible("m", base_url=base)
    t0 = time.perf_counter()
    with pytest.raises(errors.BackendUnavailable) as info:
        run(llm.preflight, llm)
    assert time.perf_counter() - t0 < 1.0
    err = info.value
    assert err.fatal and f"cannot reach {base}" in str(err) and "server running" in err.hint
    assert err.__cause__ is not None


def test_preflight_ok_and_404_is_quiet(server):
    llm = OpenAICompatible("m", base_url=server.base_url)
    assert run(llm.preflight, llm) is None
    no_models = OpenAICompatible("m", base_url=server.base_url.replace("/v1", "/other/v1"))
    assert run(no_models.preflight, no_models) is None


def test_preflight_wrong_key_is_authentication_error():
    with FakeOpenAIServer(api_key="sk-right") as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, api_key=SECRET)
        with pytest.raises(errors.AuthenticationError) as info:
            run(llm.preflight, llm)
    assert SECRET not in str(info.value)


# --- concurrency and sessions -------------------------------------------------------------------


def test_many_concurrent_requests():
    with FakeOpenAIServer(latency=0.02) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, max_concurrency=64)
        n, workers = 200, 64

        async def pool():
            queue = list(range(n))
            results = []

            async def worker():
                while queue:
                    i = queue.pop()
                    out = await llm.complete(req({"role": "user", "content": f"item {i}"}))
                    results.append((i, out.text))

            await asyncio.gather(*(worker() for _ in range(workers)))
            return results

        t0 = time.perf_counter()
        results = run(pool, llm)
        elapsed = time.perf_counter() - t0
        stats = srv.stats
    assert sorted(results) == [(i, f"reply to: item {i}") for i in range(n)]
    assert stats["completed"] == n and stats["received"] == n
    assert 32 <= stats["max_in_flight"] <= workers
    assert elapsed < 5


def test_session_recreated_on_a_second_event_loop(server):
    llm = OpenAICompatible("m", base_url=server.base_url)
    sessions = []

    async def call():
        out = await llm.complete(req())
        sessions.append(llm._session)
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        # no aclose(): asyncio.run finalizes the session on its own loop
        assert asyncio.run(call()).finish_reason == "stop"
        assert sessions[0].closed
        assert asyncio.run(call()).finish_reason == "stop"
        assert sessions[1] is not sessions[0]

    # a loop closed without finalizing async generators (nor aclose): the next loop still works.
    # Only the dead loop's sockets are left to the garbage collector (ResourceWarning, ignored).
    loop = asyncio.new_event_loop()
    loop.run_until_complete(call())
    loop.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        assert asyncio.run(call()).finish_reason == "stop"
        gc.collect()
    assert len({id(s) for s in sessions}) == 4
    assert sessions[2].closed and sessions[3].closed
    run(llm.aclose, llm)
    assert llm._session is None


def test_aclose_is_idempotent(server):
    llm = OpenAICompatible("m", base_url=server.base_url)

    async def twice():
        await llm.complete(req())
        session = llm._session
        await llm.aclose()
        await llm.aclose()
        assert session.closed
        return await llm.complete(req())  # usable again after aclose

    assert run(twice, llm).finish_reason == "stop"


def test_spawned_server_process():
    with FakeOpenAIServer.spawn(latency=0.01, faults=[None, "429"]) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url)

        async def two():
            first = await llm.complete(req())
            with pytest.raises(errors.RateLimitError):
                await llm.complete(req())
            return first

        assert run(two, llm).text.startswith("reply to:")
        stats = srv.stats()
    assert stats["received"] == 2 and stats["completed"] == 1 and stats["faults"] == {"429": 1}
