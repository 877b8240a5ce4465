"""OpenAI-compatible chat backend over aiohttp (OpenAI, vLLM, llama.cpp server, Ollama, ...).

One POST per ``complete`` call and no retries here: the engine owns retries and pacing, so this
module only maps each failure onto ``fabricator.errors`` (``openai_errors``) with the right
``retryable``/``fatal`` flag. The hot path is kept lean (one shared session per event loop, stdlib
json, no validation models): about 0.1-0.2 ms of client CPU per request.

Answers are checked as they enter (``openai_answers``), so nothing a server sends can crash a run:
the body is bounded (``max_response_bytes``) and redirects are not followed (the key would go with
them). Credentials in ``base_url`` never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import aiohttp
from typing_extensions import Unpack

from ..errors import BackendError
from ..redact import redact_url
from .base import AsyncClosing, Capabilities, Completion, Request
from .http_errors import parse_retry_after, url_secrets
from .http_session import LoopSession, env_proxy
from .keys import is_openai, resolve_key
from .openai_answers import completion_of, content_text, json_type
from .openai_batch import OpenAIBatches
from .openai_errors import (
    TRANSPORT_ERRORS,
    UNREAD,
    ConnectTimeout,
    Endpoint,
    malformed,
    status_error,
    too_large,
    transport_error,
    unreachable,
)

__all__ = ["HTTPSettings", "OpenAICompatible", "parse_retry_after"]

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads
_PREFLIGHT_TIMEOUT = 5.0
#: the largest answer body read (bigger: a ``ServerError``, not a memory blow-up)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: how much of an error answer is read for its message
_ERROR_BODY_BYTES = 64 * 1024
#: seconds to open a connection (the request's own timeout bounds the answer)
CONNECT_TIMEOUT = 10.0


class HTTPOptions(TypedDict, total=False):
    """The keyword settings of ``OpenAICompatible`` (see ``HTTPSettings``)."""

    max_concurrency: int
    timeout: float
    supports_prefill: bool
    extra_body: dict[str, Any] | None
    api_key_env: str | None
    connect_timeout: float
    max_response_bytes: int
    slot_field: str | None
    slots: int


@dataclass(frozen=True)
class HTTPSettings:
    """How ``OpenAICompatible`` talks to its server, beyond the address, the model and the key."""

    #: requests in flight at most (the connection pool's size too)
    max_concurrency: int = 16
    #: seconds for a whole request, unless the request sets its own
    timeout: float = 120.0
    #: the server continues a trailing assistant message (llama.cpp, vLLM); else it is dropped
    supports_prefill: bool = False
    #: keys merged into every request body (e.g. ``{"cache_prompt": True}``)
    extra_body: Mapping[str, Any] | None = None
    #: the variable holding this server's key (unset: ``OPENAI_API_KEY``, for OpenAI's host only)
    api_key_env: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT
    max_response_bytes: int = MAX_RESPONSE_BYTES
    #: the body key that pins a request to a server slot (llama.cpp: ``id_slot``), set from
    #: ``Request.slot`` modulo ``slots``; ``None``: the hint is not sent
    slot_field: str | None = None
    slots: int = 1

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")


class OpenAICompatible(AsyncClosing):
    """An ``LLM`` backend for any server that speaks ``POST {base_url}/chat/completions``.

    The key is ``api_key``, else the variable ``api_key_env`` names, else ``OPENAI_API_KEY`` when
    ``base_url`` is OpenAI's own host: that key is never sent to another server unless named.
    The other keywords are ``HTTPSettings``.
    """

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        **options: Unpack[HTTPOptions],
    ) -> None:
        settings = HTTPSettings(**options)
        self.settings = settings
        self.name = self.model = model
        self.base_url = base_url.rstrip("/")
        #: what messages and logs show: ``base_url`` without its credentials
        self.shown_url = redact_url(self.base_url)
        self._secrets = url_secrets(self.base_url)
        self.max_concurrency = int(settings.max_concurrency)
        self.timeout = float(settings.timeout)
        self.max_response_bytes = int(settings.max_response_bytes)
        self.supports_prefill = bool(settings.supports_prefill)
        self.capabilities = Capabilities(
            logprobs=True, json_schema=True, prefill=self.supports_prefill, preflight=True, batch_api=True
        )
        self.supports_json_schema = self.capabilities.json_schema
        key, key_source = resolve_key(self.shown_url, api_key, settings.api_key_env)
        self.__key = key or None  # name-mangled; never shown by repr, logs or errors
        self.endpoint = Endpoint(
            self.shown_url,
            model,
            float(settings.connect_timeout),
            key_source if self.__key else None,
            is_openai(self.base_url),
            self._scrub,
        )
        self._url = self.base_url + "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._proxy = env_proxy(self.base_url)
        self._sessions = LoopSession(
            self.shown_url, headers, self.max_concurrency, self._timeout(self.timeout)
        )

    @property
    def _session(self) -> aiohttp.ClientSession | None:
        return self._sessions.session

    @property
    def _session_loop(self) -> asyncio.AbstractEventLoop | None:
        return self._sessions.loop

    def __repr__(self) -> str:
        key = "'***'" if self.__key else "None"
        return (
            f"{type(self).__name__}(model={self.name!r}, base_url={self.shown_url!r}, "
            f"api_key={key}, max_concurrency={self.max_concurrency})"
        )

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """The whole request within ``seconds``; the connection within ``connect_timeout`` of them
        (a black-holed host fails fast); no gap between reads longer than ``seconds``."""
        t = self._timeouts.get(seconds)
        if t is None:
            connect = min(self.endpoint.connect_timeout, seconds)
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(
                total=seconds, connect=connect, sock_read=seconds
            )
        return t

    async def aclose(self) -> None:
        await self._sessions.aclose()

    def batches(self) -> OpenAIBatches:
        """This server's batch API (``Capabilities.batch_api``): the same bodies, half the price."""
        return OpenAIBatches(self.base_url, self._sessions, self.endpoint, self._body, self._proxy)

    # --- calls ----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` without the key or the URL's credentials (for messages and logs)."""
        key = self.__key
        if key and key in text:
            text = text.replace(key, "***")
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def _body(self, request: Request) -> bytes:
        messages = request.messages
        if messages and not self.supports_prefill and messages[-1].get("role") == "assistant":
            messages = messages[:-1]
        body: dict[str, Any] = dict(self.settings.extra_body) if self.settings.extra_body else {}
        body["model"] = self.name
        body["messages"] = messages
        body["temperature"] = request.temperature
        body["max_tokens"] = request.max_tokens
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
            }
        if request.logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.logprobs
        if request.slot is not None and self.settings.slot_field:
            body[self.settings.slot_field] = request.slot % max(self.settings.slots, 1)
        return _dumps(body).encode()

    async def complete(self, request: Request) -> Completion:
        session = self._sessions.current() or await self._sessions.get()
        payload = self._body(request)
        seconds = request.timeout or self.timeout
        try:
            async with session.post(
                self._url,
                data=payload,
                timeout=self._timeout(seconds),
                proxy=self._proxy,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                if status >= 300:
                    raw = await _read_some(resp, _ERROR_BODY_BYTES)
                    retry_after = resp.headers.get("Retry-After")
                    raise status_error(self.endpoint, status, raw, retry_after, resp.headers)
                raw = await self._read(resp)
        except BackendError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.endpoint, exc, seconds) from exc
        return self._parse(raw, status)

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole answer body, refused past ``max_response_bytes`` (never held in memory whole)."""
        limit = self.max_response_bytes
        length = resp.content_length
        if length is not None and length > limit:
            raise too_large(self.endpoint, f"says {length:,} bytes", limit)
        data = bytearray()
        async for chunk in resp.content.iter_any():
            data += chunk
            if len(data) > limit:
                raise too_large(self.endpoint, "is longer", limit)
        return bytes(data)

    def _parse(self, raw: bytes, status: int) -> Completion:
        data: Any = UNREAD
        try:
            data = _loads(raw)
            choice = data["choices"][0]
            content = choice["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            raise malformed(self.endpoint, raw, data, status) from exc
        text = content_text(content)
        if text is None:
            why = f"message.content is a JSON {json_type(content)}, not text"
            error = malformed(self.endpoint, raw, data, status, why)
            error.retryable = False  # the row fails, kept with its error: asking again would pay again
            raise error
        return completion_of(data, choice, text, self.name)

    async def preflight(self) -> None:
        """Check that the server answers at all (``GET {base_url}/models``, 5 s).

        Raises ``BackendUnavailable`` when nothing can be reached and ``AuthenticationError`` on
        401/403; any other answer (404 from servers without ``/models``, 503 while a model loads)
        counts as "reachable".
        """
        session = await self._sessions.get()
        url = self.base_url + "/models"
        timeout = aiohttp.ClientTimeout(total=None, connect=_PREFLIGHT_TIMEOUT, sock_read=_PREFLIGHT_TIMEOUT)
        try:
            async with session.get(url, timeout=timeout, proxy=self._proxy, allow_redirects=False) as resp:
                status = resp.status
                raw = await _read_some(resp, _ERROR_BODY_BYTES) if status in (401, 403) else b""
        except TRANSPORT_ERRORS as exc:
            if isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, ConnectTimeout):
                log.warning(
                    "%s did not answer GET /models within %g s; going on", self.shown_url, _PREFLIGHT_TIMEOUT
                )
                return
            raise unreachable(self.endpoint, exc, _PREFLIGHT_TIMEOUT) from exc
        if status in (401, 403):
            raise status_error(self.endpoint, status, raw, None)
        if status >= 300:
            log.debug("GET %s/models answered %d; treating the server as reachable", self.shown_url, status)


async def _read_some(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body (an error page: enough for its message, never all of it)."""
    data = bytearray()
    async for chunk in resp.content.iter_any():
        data += chunk[: limit - len(data)]
        if len(data) >= limit:
            break
    return bytes(data)
