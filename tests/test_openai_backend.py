"""OpenAICompatible against the fake OpenAI server (offline, loopback only)."""

from __future__ import annotations

import asyncio
import email.utils
import errno
import gc
import socket
import warnings

import pytest

from fabricator import errors
from fabricator.llms.base import LLM, Request
from fabricator.llms.openai import OpenAICompatible, parse_retry_after
from fabricator.testing import FakeOpenAIServer, RawAnswer

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


def no_open_connection(stats: dict) -> bool:
    return stats["open_connections"] == 0


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
    llm = OpenAICompatible(
        "m", base_url=server.base_url + "/", extra_body={"top_k": 40, "cache_prompt": True}
    )
    complete(llm, req(top_p=0.9, seed=7, stop=("\n\n", "END")))
    body = server.requests[-1].body
    assert body["top_p"] == 0.9 and body["seed"] == 7 and body["stop"] == ["\n\n", "END"]
    assert body["top_k"] == 40 and body["cache_prompt"] is True
    assert body["model"] == "m"


def test_sparse_answers_parse_with_defaults():
    answers = iter(
        [
            RawAnswer({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}),  # no usage
            RawAnswer({"choices": [{"message": {"content": None}, "finish_reason": "stop"}]}),
            RawAnswer({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "?"}}),
        ]
    )
    with FakeOpenAIServer(responder=lambda messages, body: next(answers)) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url)
        first, empty, odd_usage = (complete(llm, req()) for _ in range(3))
    assert first.text == "hi" and first.finish_reason == "stop" and first.model == "m"
    assert first.usage.prompt_tokens == 0 and first.usage.completion_tokens == 0
    assert empty.text == "" and empty.finish_reason == "stop"
    assert odd_usage.text == "x" and odd_usage.usage.total_tokens == 0


def test_error_inside_a_200_answer_is_a_retryable_server_error():
    # some proxies answer 200 with an error body instead of a completion
    upstream = RawAnswer({"error": {"message": "upstream model crashed"}})
    with FakeOpenAIServer(responder=lambda messages, body: upstream) as srv:
        err = raises(OpenAICompatible("m", base_url=srv.base_url), req(), errors.ServerError)
    assert "malformed response" in str(err) and "upstream model crashed" in str(err)
    assert err.status == 200 and err.retryable and not err.fatal


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
        err = raises(llm, req(), cls)
        assert srv.stats["completed"] == 0  # the error came before any answer (a hang: 3600 s early)
        assert isinstance(err, errors.BackendError)
        assert err.retryable is retryable and err.fatal is fatal
        if fault in ("hang", "reset", "malformed"):
            assert err.__cause__ is not None  # raised from the library error
        if fault == "hang":
            assert "within 0.3 s" in str(err)  # the backend's own timeout, not the server's answer
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
    with FakeOpenAIServer(faults=["hang"]) as srv:  # the server holds the request for an hour
        llm = OpenAICompatible("m", base_url=srv.base_url, timeout=60)
        err = raises(llm, req(timeout=0.2), errors.RequestTimeout)
        assert srv.stats["received"] == 1 and srv.stats["completed"] == 0  # the client gave up first
    assert "within 0.2 s" in str(err) and err.retryable


def test_retry_after_parsed_from_header():
    with FakeOpenAIServer(faults=["429"], retry_after=1.5) as srv:
        err = raises(OpenAICompatible("m", base_url=srv.base_url), req(), errors.RateLimitError)
    assert err.retry_after == pytest.approx(1.5)
    assert err.status == 429


def test_parse_retry_after_forms():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.05 ") == pytest.approx(0.05)
    assert parse_retry_after("-3") == 0.0
    for nothing in (None, "", "soon", "nan"):
        assert parse_retry_after(nothing) is None
    now = 1_700_000_000.0  # an HTTP date counts from ``now``: no dependence on the real clock
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_capacity_overflow_answers_429():
    # the two admitted requests are held until all five arrived, so three always find it full
    with FakeOpenAIServer(hold_until=5, capacity=2, retry_after=0.1) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url)

        async def burst():
            return await asyncio.gather(*(llm.complete(req()) for _ in range(5)), return_exceptions=True)

        results = run(burst, llm)
    limited = [r for r in results if isinstance(r, errors.RateLimitError)]
    assert len(limited) == 3 and all(r.retry_after == pytest.approx(0.1) for r in limited)
    assert srv.stats["completed"] == 2 and srv.stats["rejected_capacity"] == 3
    assert srv.stats["max_in_flight"] == 2


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
    statuses = iter([401, 400, 500])

    def echo_key(messages: list, body: dict) -> RawAnswer:  # a server quoting the key it got
        return RawAnswer({"error": {"message": f"Incorrect API key provided: {SECRET}"}}, next(statuses))

    with FakeOpenAIServer(responder=echo_key) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, api_key=SECRET)
        for cls in (errors.AuthenticationError, errors.BadRequestError, errors.ServerError):
            err = raises(llm, req(), cls)
            assert "Incorrect API key provided: ***" in str(err)
            for text in (str(err), err.message, err.hint or "", repr(err)):
                assert SECRET not in text


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_closed_port_is_backend_unavailable_fast():
    base = f"http://127.0.0.1:{closed_port()}/v1"
    llm = OpenAICompatible("m", base_url=base)
    with pytest.raises(errors.BackendUnavailable) as info:
        run(llm.preflight, llm)
    err = info.value
    assert err.fatal and f"cannot reach {base}" in str(err) and "server running" in err.hint
    # fast: the refusal itself is reported, not a connect timeout waited out
    assert isinstance(err.__cause__, OSError) and err.__cause__.errno == errno.ECONNREFUSED
    assert "timed out" not in str(err)


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
    # The first 64 requests are held until all 64 arrived: only a client that really sends 64 at
    # once gets past them. capacity=64 answers 429 to any request beyond max_concurrency.
    limit = 64
    with FakeOpenAIServer(hold_until=limit, capacity=limit) as srv:
        llm = OpenAICompatible("m", base_url=srv.base_url, max_concurrency=limit)
        n, workers = 200, 96

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

        results = run(pool, llm)
        stats = srv.stats
    assert sorted(results) == [(i, f"reply to: item {i}") for i in range(n)]
    assert stats["completed"] == n and stats["received"] == n and stats["rejected_capacity"] == 0
    assert stats["max_in_flight"] == limit  # as many at once as allowed, and never more
    assert stats["connections"] == limit  # kept alive and reused, not one per request


def test_session_recreated_on_a_second_event_loop(server):
    llm = OpenAICompatible("m", base_url=server.base_url)

    def call() -> str:
        return asyncio.run(llm.complete(req())).finish_reason

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        # no aclose(): asyncio.run finalizes the session on its own loop, closing its connection
        assert call() == "stop"
        assert server.wait_for(no_open_connection)
        assert call() == "stop"  # a loop of its own: a new session, a new connection
        assert server.wait_for(no_open_connection)
    assert [r.connection for r in server.requests] == [0, 1]

    # a loop closed without finalizing async generators (nor aclose): the next loop still works.
    # Only the dead loop's sockets are left to the garbage collector (ResourceWarning, ignored).
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(llm.complete(req())).finish_reason == "stop"
    loop.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        assert call() == "stop"
        gc.collect()
    assert [r.connection for r in server.requests] == [0, 1, 2, 3]
    assert server.wait_for(no_open_connection)  # the dead loop's socket is released too


def test_aclose_closes_the_connection_and_is_idempotent(server):
    llm = OpenAICompatible("m", base_url=server.base_url)

    async def twice():
        await llm.complete(req())
        assert server.stats["open_connections"] == 1
        await llm.aclose()
        await llm.aclose()
        # while this loop still runs: closed by aclose, not by the loop's end
        closed = await asyncio.to_thread(server.wait_for, no_open_connection)
        return closed, await llm.complete(req())  # usable again after aclose

    closed, out = run(twice, llm)
    assert closed and out.finish_reason == "stop"
    assert [r.connection for r in server.requests] == [0, 1]  # the second call opened a new one


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
