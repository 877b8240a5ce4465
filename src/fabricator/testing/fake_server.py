"""A fake OpenAI-compatible chat server for tests and benchmarks (loopback only).

Two ways to run it:

* in-process, on a background thread with its own event loop::

      with FakeOpenAIServer(latency=0.01) as srv:
          llm = OpenAICompatible("fake", base_url=srv.base_url)
          ...
          srv.stats            # counters, readable from the test thread
          srv.requests[-1]     # what the server received (body and headers)

* in a separate process, so a benchmark client does not share the GIL with it::

      with FakeOpenAIServer.spawn(latency=0.1) as srv:
          ... srv.base_url ...; srv.stats()   # fetched over HTTP from GET /_stats

  or from a shell: ``python -m fabricator.testing.fake_server --port 8080 --latency 0.1``.

Scripted faults are keyed by the request number (0-based, counting every
``POST /v1/chat/completions`` the server received). ``faults`` is a list (``faults[n]``; ``None``
or ``""`` means "no fault", requests past the end get none), a dict ``{n: fault}``, or a callable
``f(n) -> fault | None``. Faults:

``"429"``        answer 429 with ``Retry-After: <retry_after>``
``"500"``        answer 500 with an OpenAI-style error body (any other 3-digit status works too,
                 e.g. ``"400"``, ``"404"``, ``"503"``)
``"hang"``       sleep ``hang_seconds`` (longer than any sane client timeout) before answering
``"reset"``      drop the connection (TCP RST) without answering
``"malformed"``  answer 200 with a body that is not JSON
``"length"``     a normal answer, cut short, with ``finish_reason: "length"``

A ``responder`` returns the reply text, or a :class:`RawAnswer` to send an exact status and body
(an answer without ``usage``, an error inside a 200, a key echoed in an error message...).

``hold_until=n`` holds every admitted chat request until ``n`` requests have been received, then
answers them all (the gate opens once): a test proves that a client sends ``n`` requests at once
by what the server saw (``max_in_flight``), not by how long the run took.

Why one file of ~600 lines: ``spawn`` runs this file as a script in a child process that must not
import ``fabricator`` (and ``datasets`` with it: seconds of start-up per benchmark run), so the
server, its fault scripting and its process wrapper stand alone here, with no package imports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypedDict

from aiohttp import web

if TYPE_CHECKING:
    from typing_extensions import Unpack

FAULTS = ("429", "500", "hang", "reset", "malformed", "length")


@dataclass(frozen=True)
class RawAnswer:
    """A responder's exact answer: ``body`` (a dict sent as JSON, or text sent as is) with ``status``.

    For testing how a client copes with what real servers send besides the happy path.
    """

    body: dict[str, Any] | str
    status: int = 200
    headers: Mapping[str, str] | None = None


Responder = Callable[[list, dict], str | RawAnswer]
TokenProbs = Callable[[list, dict], Mapping[str, float] | Sequence[Mapping[str, float]]]
RawLogprobs = Callable[[list, dict], Mapping[str, float]]
FaultScript = Sequence[str | None] | Mapping[int, str] | Callable[[int], str | None] | None

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def default_responder(messages: list, body: dict) -> str:
    """Deterministic reply: ``reply to: <first 40 chars of the last user message>``."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return "reply to: " + str(message.get("content", ""))[:40]
    return "reply to: "


def _count_words(text: Any) -> int:
    if isinstance(text, str):
        return len(text.split())
    if isinstance(text, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return sum(_count_words(p.get("text", "")) for p in text if isinstance(p, dict))
    return 0


def _raw_content(given: Mapping[str, float], top_n: int) -> list[dict[str, Any]]:
    """One answer position with ``given`` log-probabilities as they are (first token first)."""
    pairs = list(given.items())
    return [
        {
            "token": pairs[0][0],
            "logprob": pairs[0][1],
            "bytes": list(pairs[0][0].encode()),
            "top_logprobs": [
                {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in pairs[:top_n]
            ],
        }
    ]


def _parts(text: str) -> list[dict[str, str]]:
    """``text`` as content parts: a reasoning part (not the answer), then two text parts."""
    cut = text.find(" ") + 1 or len(text)
    return [
        {"type": "reasoning", "text": "Thinking it over first."},
        {"type": "text", "text": text[:cut]},
        {"type": "text", "text": text[cut:]},
    ]


def _cut(text: str, max_tokens: Any, fault: str | None) -> tuple[str, str]:
    """The answer and its finish reason: cut at ``max_tokens`` words, or halved by ``"length"``."""
    words = text.split()
    if fault == "length":
        return " ".join(words[: max(1, len(words) // 2)]), "length"
    if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
        return " ".join(words[:max_tokens]), "length"
    return text, "stop"


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP RST, answering nothing."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    raise asyncio.CancelledError  # nothing more to send on this connection


@dataclass
class ReceivedRequest:
    """One chat request as the server saw it."""

    number: int
    body: dict
    headers: dict[str, str]
    fault: str | None = None
    #: which client connection carried it (0-based, numbered in order of first use)
    connection: int = 0


@dataclass
class _Counters:
    received: int = 0
    completed: int = 0
    rejected_capacity: int = 0
    unauthorized: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    faults: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class ServerBehaviour:
    """How the fake server answers: speed, capacity, key, scripted faults, log-probabilities, usage."""

    latency: float = 0.0
    capacity: int | None = None  # concurrent requests admitted, then 429
    responder: Responder | None = None  # ``None``: ``default_responder``
    api_key: str | None = None
    faults: FaultScript = None
    retry_after: float | str = 0.05
    hang_seconds: float = 3600.0
    model: str = "fake-model"
    record: bool = True  # keep every chat request received in ``requests``
    hold_until: int | None = None
    hold_timeout: float = 10.0  # a safety valve only: the gate normally opens first
    #: asked for ``logprobs``: the likely tokens at the first answer position (or at each), as
    #: probabilities; ``None``: certain of each word of the answer
    token_probs: TokenProbs | None = None
    #: ``False``: never send ``logprobs``, even when asked (Ollama, many TGI/vLLM set-ups)
    serve_logprobs: bool = True
    #: asked for ``logprobs``: ``{token: log-probability}`` at the first answer position, sent
    #: exactly as given (NaN, Infinity, 1000: what a buggy server sends); wins over ``token_probs``
    raw_logprobs: RawLogprobs | None = None
    #: ``usage(prompt_tokens, completion_tokens)`` -> the ``usage`` object sent (``None``: leave it
    #: out, as servers without usage do; negative or odd counts as a buggy server sends them)
    usage: Callable[[int, int], Any] | None = None
    #: send ``message.content`` as a list of content parts (a reasoning part, then the answer
    #: split in two text parts), as some APIs do for reasoning models
    content_parts: bool = False


class BehaviourOptions(TypedDict, total=False):
    """``ServerBehaviour``'s fields as keyword arguments of ``FakeOpenAIServer``."""

    latency: float
    capacity: int | None
    responder: Responder | None
    api_key: str | None
    faults: FaultScript
    retry_after: float | str
    hang_seconds: float
    model: str
    record: bool
    hold_until: int | None
    hold_timeout: float
    token_probs: TokenProbs | None
    serve_logprobs: bool
    raw_logprobs: RawLogprobs | None
    usage: Callable[[int, int], Any] | None
    content_parts: bool


class FakeOpenAIServer:
    """An aiohttp.web server on 127.0.0.1 speaking a small subset of the OpenAI API.

    ``behaviour`` says how it answers; keyword ``options`` override its fields one by one
    (``FakeOpenAIServer(latency=0.01, faults=["429"])``).
    """

    def __init__(
        self,
        behaviour: ServerBehaviour | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Unpack[BehaviourOptions],
    ) -> None:
        self.behaviour = b = replace(behaviour or ServerBehaviour(), **options)
        self.responder: Responder = b.responder or default_responder
        self.host = host
        self.port = port
        #: every chat request received (when ``record``), in arrival order
        self.requests: list[ReceivedRequest] = []
        self._gate: asyncio.Event | None = None
        self._transports: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._auth = f"Bearer {b.api_key}" if b.api_key is not None else None
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- public ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (safe to read from any thread).

        ``connections``: client connections that carried a chat request; ``open_connections``:
        client connections open right now (any path), so a test sees whether a client closed its
        sockets.
        """
        runner = self._runner
        server = runner.server if runner is not None else None
        open_connections = len(server.connections) if server is not None else 0
        with self._lock:
            c = self._counters
            return {
                "received": c.received,
                "completed": c.completed,
                "rejected_capacity": c.rejected_capacity,
                "unauthorized": c.unauthorized,
                "in_flight": c.in_flight,
                "max_in_flight": c.max_in_flight,
                "connections": c.connections,
                "open_connections": open_connections,
                "faults": dict(c.faults),
            }

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> bool:
        """Poll ``stats`` until ``predicate(stats)`` holds; ``False`` if it still fails after ``timeout``.

        For what the server learns asynchronously (a client closing its connection). The timeout
        only bounds a failing test; a passing one returns as soon as the server has seen it.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self.stats):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def reset_stats(self) -> None:
        with self._lock:
            in_flight = self._counters.in_flight
            self._counters = _Counters(in_flight=in_flight)
            self._transports.clear()
            self.requests.clear()

    # async use, inside a running loop: ``async with FakeOpenAIServer() as srv``
    async def astart(self) -> FakeOpenAIServer:
        self._gate = asyncio.Event() if self.behaviour.hold_until is not None else None
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        self._more_routes(app)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    def _more_routes(self, app: web.Application) -> None:
        """Routes a server built on this one adds (``FakeBatchServer``: files and batches)."""

    async def astop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    # sync use: a background thread with its own loop
    def start(self) -> FakeOpenAIServer:
        if self._thread is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.astart())
            except BaseException as exc:  # report start-up failures to the caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread.join()
            self._thread = None
            loop.close()
            raise failure[0]
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self.astop(), loop)
            try:
                fut.result(10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(10)
        if not loop.is_running():
            loop.close()
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def spawn(
        cls,
        *,
        latency: float = 0.0,
        capacity: int | None = None,
        api_key: str | None = None,
        faults: Sequence[str | None] | None = None,
        retry_after: float = 0.05,
        model: str = "fake-model",
        port: int = 0,
    ) -> SpawnedServer:
        """Run the server in a child process (no ``responder``: only picklable-free options).

        The child runs this file as a script (it imports nothing from ``fabricator``), so it starts
        without loading the toolkit's heavy dependencies.
        """
        args = [
            sys.executable,
            os.path.abspath(__file__),
            "--port",
            str(port),
            "--latency",
            repr(float(latency)),
            "--retry-after",
            repr(float(retry_after)),
            "--model",
            model,
            "--no-record",
        ]
        if capacity is not None:
            args += ["--capacity", str(capacity)]
        if api_key is not None:
            args += ["--api-key-env", "FAKE_SERVER_API_KEY"]
        if faults:
            args += ["--faults", ",".join(f or "" for f in faults)]
        return SpawnedServer(args, api_key)

    # --- handlers -------------------------------------------------------------------------------

    def _fault_for(self, n: int) -> str | None:
        script = self.behaviour.faults
        if script is None:
            return None
        if callable(script):
            fault = script(n)
        elif isinstance(script, Mapping):
            fault = script.get(n)
        else:
            fault = script[n] if n < len(script) else None
        if fault and fault not in FAULTS and not (len(fault) == 3 and fault.isdigit()):
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        return fault or None

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self._auth is None or request.headers.get("Authorization") == self._auth:
            return None
        with self._lock:
            self._counters.unauthorized += 1
        body = {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
        return web.Response(status=401, body=_dumps(body), content_type="application/json")

    def _error(self, status: int, message: str, headers: dict | None = None) -> web.Response:
        body = {
            "error": {
                "message": message,
                "type": "server_error" if status >= 500 else "invalid_request_error",
            }
        }
        return web.Response(
            status=status, body=_dumps(body), content_type="application/json", headers=headers
        )

    def _connection_number(self, request: web.Request) -> int:
        transport = request.transport
        if transport is None:
            return -1
        with self._lock:
            number = self._transports.get(transport)
            if number is None:
                number = self._transports[transport] = self._counters.connections
                self._counters.connections += 1
            return number

    async def _hold(self) -> None:
        gate = self._gate
        if gate is None or gate.is_set():
            return
        try:
            await asyncio.wait_for(gate.wait(), self.behaviour.hold_timeout)
        except asyncio.TimeoutError:  # never reached: answer anyway, the counts tell the test
            gate.set()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        n, connection = self._arrive(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        fault = self._fault_for(n)
        try:
            body = json.loads(await request.read())
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            return self._error(400, "request body must be JSON with 'messages'")
        if self.behaviour.record:
            self.requests.append(ReceivedRequest(n, body, dict(request.headers), fault, connection))
        if not self._enter(fault):
            return self._error(429, "server at capacity, retry later", self._retry_after())
        try:
            await self._hold()
            failed = await self._scripted_fault(fault, request)
            if failed is not None:
                return failed
            response, done = self._answer(n, messages, body, fault)
            if done:
                with self._lock:
                    self._counters.completed += 1
            return response
        finally:
            with self._lock:
                self._counters.in_flight -= 1

    def _arrive(self, request: web.Request) -> tuple[int, int]:
        """Number the request (opening the ``hold_until`` gate at its count) and its connection."""
        with self._lock:
            n = self._counters.received
            self._counters.received += 1
        hold_until = self.behaviour.hold_until
        if self._gate is not None and hold_until is not None and n + 1 >= hold_until:
            self._gate.set()
        return n, self._connection_number(request)

    def _enter(self, fault: str | None) -> bool:
        """Admit one request in flight (``False``: over capacity, counted as rejected)."""
        capacity = self.behaviour.capacity
        with self._lock:
            counters = self._counters
            if capacity is not None and counters.in_flight >= capacity:
                counters.rejected_capacity += 1
                return False
            counters.in_flight += 1
            counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
            if fault:
                counters.faults[fault] += 1
            return True

    def _retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.behaviour.retry_after)}

    async def _scripted_fault(self, fault: str | None, request: web.Request) -> web.Response | None:
        """The scripted fault's answer (``None``: answer normally), after the latency it adds."""
        if fault == "429":
            return self._error(429, "Rate limit reached for requests", self._retry_after())
        if fault == "500":
            return self._error(500, "The server had an error while processing your request.")
        if fault and fault.isdigit():
            status = int(fault)
            return self._error(
                status, f"scripted error {status}", self._retry_after() if status == 503 else None
            )
        if fault == "reset":
            _reset(request)
        if fault == "hang":
            await asyncio.sleep(self.behaviour.hang_seconds)
        if self.behaviour.latency:
            await asyncio.sleep(self.behaviour.latency)
        if fault == "malformed":
            return web.Response(status=200, text="<html>this is not json", content_type="application/json")
        return None

    def _answer(self, n: int, messages: list, body: dict, fault: str | None) -> tuple[web.Response, bool]:
        """The responder's answer as a chat completion, and whether it counts as completed."""
        reply = self.responder(messages, body)
        if isinstance(reply, RawAnswer):
            raw_body = reply.body if isinstance(reply.body, str) else _dumps(reply.body)
            exact = web.Response(
                status=reply.status,
                body=raw_body.encode(),
                content_type="application/json",
                headers=reply.headers,
            )
            return exact, reply.status < 300
        text, finish = _cut(reply, body.get("max_tokens"), fault)
        answer = self._completion(n, messages, body, text, finish)
        return web.Response(body=_dumps(answer), content_type="application/json"), True

    def _completion(self, n: int, messages: list, body: dict, text: str, finish: str) -> dict[str, Any]:
        """The ``chat.completion`` object for ``text``, with log-probabilities and usage as set up."""
        b = self.behaviour
        words = len(text.split())
        prompt_tokens = sum(_count_words(m.get("content")) for m in messages if isinstance(m, dict))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": _parts(text) if b.content_parts else text},
            "finish_reason": finish,
        }
        if body.get("logprobs") and b.serve_logprobs:
            choice["logprobs"] = {"content": self._logprobs(messages, body, text)}
        answer = {
            "id": f"chatcmpl-fake-{n}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model") or b.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": words,
                "total_tokens": prompt_tokens + words,
            },
        }
        if b.usage is not None:
            shown = b.usage(prompt_tokens, words)
            if shown is None:
                del answer["usage"]
            else:
                answer["usage"] = shown
        return answer

    def _logprobs(self, messages: list, body: dict, text: str) -> list[dict[str, Any]]:
        """``logprobs.content`` as OpenAI and llama.cpp's server send it (top ``top_logprobs`` kept)."""
        top_n = int(body.get("top_logprobs") or 0)
        b = self.behaviour
        if b.raw_logprobs is not None:
            return _raw_content(b.raw_logprobs(messages, body), top_n)
        if b.token_probs is None:
            positions: list[Mapping[str, float]] = [{w: 1.0} for w in re.findall(r"\s*\S+", text)]
        else:
            given = b.token_probs(messages, body)
            positions = [given] if isinstance(given, Mapping) else list(given)
        content = []
        for probs in positions:
            ranked = sorted(((t, math.log(p)) for t, p in probs.items() if p > 0), key=lambda x: -x[1])
            content.append(
                {
                    "token": ranked[0][0],
                    "logprob": ranked[0][1],
                    "bytes": list(ranked[0][0].encode()),
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in ranked[:top_n]
                    ],
                }
            )
        return content

    async def _models(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body = {
            "object": "list",
            "data": [{"id": self.behaviour.model, "object": "model", "created": 0, "owned_by": "fabricator"}],
        }
        return web.Response(body=_dumps(body), content_type="application/json")

    async def _stats(self, request: web.Request) -> web.Response:
        stats = self.stats
        stats["open_connections"] = max(0, stats["open_connections"] - 1)  # not the one asking
        return web.Response(body=_dumps(stats), content_type="application/json")


class SpawnedServer:
    """Handle on a fake server running in a child process (see ``FakeOpenAIServer.spawn``)."""

    def __init__(self, args: list[str], api_key: str | None) -> None:
        env = dict(os.environ)
        if api_key is not None:  # via the environment, never on the command line
            env["FAKE_SERVER_API_KEY"] = api_key
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"fake server did not start (said {line!r})")
        self.base_url = line.split(" ", 1)[1]
        self.port = int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stats(self) -> dict[str, Any]:
        root = self.base_url[: -len("/v1")]
        with urllib.request.urlopen(f"{root}/_stats", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> SpawnedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    import signal

    p = argparse.ArgumentParser(
        prog="python -m fabricator.testing.fake_server",
        description="Fake OpenAI-compatible chat server (loopback).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    p.add_argument("--capacity", type=int, default=None, help="max concurrent requests, then 429")
    p.add_argument("--retry-after", type=float, default=0.05)
    p.add_argument("--model", default="fake-model")
    p.add_argument("--api-key-env", default=None, help="require the key held in this env variable")
    p.add_argument(
        "--faults", default=None, help="comma-separated faults by request number, e.g. ',429,,500'"
    )
    p.add_argument("--no-record", action="store_true", help="do not keep received requests in memory")
    a = p.parse_args(argv)
    api_key = os.environ[a.api_key_env] if a.api_key_env else None
    faults = a.faults.split(",") if a.faults else None
    server = FakeOpenAIServer(
        latency=a.latency,
        capacity=a.capacity,
        api_key=api_key,
        faults=faults,
        retry_after=a.retry_after,
        model=a.model,
        host=a.host,
        port=a.port,
        record=not a.no_record,
    )

    async def serve() -> None:
        await server.astart()
        print(f"LISTENING {server.base_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.astop()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
