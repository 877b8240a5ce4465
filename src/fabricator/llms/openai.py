"""OpenAI-compatible chat backend over aiohttp (OpenAI, vLLM, llama.cpp server, Ollama, ...).

One POST per ``complete`` call and no retries here: the engine owns retries and pacing, so this
module only maps each failure onto ``fabricator.errors`` with the right ``retryable``/``fatal``
flag. The hot path is kept lean (one shared session per event loop, stdlib json, no validation
models): about 0.1-0.2 ms of client CPU per request.

Answers are checked as they enter, so nothing a server sends can crash a run: the body is bounded
(``max_response_bytes``), redirects are not followed (the key would go with them), the text is a
string or the joined text parts with invalid Unicode replaced, log-probabilities are finite and
<= 0 or dropped, and token counts are counts or marked missing (``Completion.notes`` says which;
the engine counts them). Credentials in ``base_url`` never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from fabricator.errors import (
    AuthenticationError,
    BackendError,
    BackendUnavailable,
    BadRequestError,
    ConnectionFailed,
    PromptTooLong,
    RateLimitError,
    RequestTimeout,
    ServerError,
)
from fabricator.llms.base import (
    LOGPROBS_INVALID,
    TEXT_REPAIRED,
    USAGE_MISSING,
    Completion,
    Request,
    TokenChoice,
    Usage,
    clean_text,
    valid_logprobs,
)
from fabricator.llms.http_errors import (
    CONTEXT_OVERFLOW,
    error_text,
    one_line,
    parse_retry_after,
    url_secrets,
)
from fabricator.llms.keys import is_openai, resolve_key
from fabricator.redact import redact_url

__all__ = ["OpenAICompatible", "parse_retry_after"]

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads
_PREFLIGHT_TIMEOUT = 5.0
_NO_USAGE = Usage()
#: the largest answer body read (bigger: a ``ServerError``, not a memory blow-up)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: how much of an error answer is read for its message
_ERROR_BODY_BYTES = 64 * 1024
#: seconds to open a connection (the request's own timeout bounds the answer)
CONNECT_TIMEOUT = 10.0
#: content part types whose ``text`` is the answer (others: reasoning, images... are left out)
_TEXT_PARTS = (None, "text", "output_text")
_UNREAD = object()  # a body not yet decoded (``_parse``: not JSON at all)
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
# aiohttp >= 3.10 tells a connect timeout apart from a read timeout
_ConnectTimeout: Any = getattr(aiohttp, "ConnectionTimeoutError", ())


async def _close_at_loop_shutdown(session: aiohttp.ClientSession):
    """Async generator whose ``finally`` closes ``session``.

    ``asyncio.run`` (and ``asyncio.Runner``) finalize open async generators before closing the
    loop, so a session left open by a caller that never awaited ``aclose()`` is still closed on
    its own loop instead of leaking sockets.
    """
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


def _count(value: Any) -> int | None:
    """A token count as the server gave it, or ``None`` when it is not one (missing, < 0, text...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0 or value == float("inf") or int(value) != value:
        return None
    return int(value)


def _usage(usage: Any) -> Usage | None:
    """Token counts of an answer (with the prompt tokens served from cache, where the server says);
    ``None`` when the server gave none, or counts that are not counts (the engine estimates them)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Usage(prompt, completion, min(cached or 0, prompt))


def _logprobs(raw: Any) -> tuple[tuple[TokenChoice, ...] | None, bool]:
    """The ``logprobs.content`` of a chat answer as checked ``TokenChoice``s (``None`` when absent),
    and whether a set was sent but dropped as invalid (NaN, inf, > 0, not numbers).

    Read as ever, then all values checked at once (a sum is finite only if every value is), so the
    common, valid case costs little more than reading it.
    """
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, list):
        return None, False
    try:
        choices = tuple(
            TokenChoice(
                str(position["token"]),
                float(position["logprob"]),
                tuple((str(t["token"]), float(t["logprob"])) for t in position.get("top_logprobs") or ()),
            )
            for position in content
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, True
    values = [v for c in choices for _, v in c.top]
    values += [c.logprob for c in choices]
    if not values or (math.isfinite(sum(values)) and max(values) <= 0.0):  # sum: never raises
        return choices, False
    checked = valid_logprobs(choices)  # slow path: finds the bad value, or takes float noise as 0
    return checked, checked is None


def _part_text(part: Any) -> str | None:
    """The answer text of one content part (``None``: a part that is not answer text)."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
        return part["text"]
    return None


def _content_text(content: Any) -> str | None:
    """The answer text of ``message.content``: a string, or its text parts joined (some servers send
    a list of parts for reasoning models); ``None`` when it is neither."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text for text in map(_part_text, content) if text is not None)
    return None


def _json_type(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words (for messages)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _label(value: Any, default: str) -> str:
    """A short string field of the answer (``finish_reason``, ``model``), or ``default``."""
    return clean_text(value)[0] if isinstance(value, str) and value else default


class OpenAICompatible:
    """An ``LLM`` backend for any server that speaks ``POST {base_url}/chat/completions``.

    The key is ``api_key``, else the variable ``api_key_env`` names, else ``OPENAI_API_KEY`` when
    ``base_url`` is OpenAI's own host: that key is never sent to another server unless named.
    """

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        *,
        max_concurrency: int = 16,
        timeout: float = 120.0,
        supports_prefill: bool = False,
        extra_body: dict | None = None,
        api_key_env: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.name = model
        self.model = model
        self.base_url = base_url.rstrip("/")
        #: what messages and logs show: ``base_url`` without its credentials
        self.shown_url = redact_url(self.base_url)
        self._secrets = url_secrets(self.base_url)
        self.max_concurrency = int(max_concurrency)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_response_bytes = int(max_response_bytes)
        self.supports_prefill = bool(supports_prefill)
        self.supports_json_schema = True
        self.extra_body = dict(extra_body) if extra_body else {}
        key, self._key_source = resolve_key(self.shown_url, api_key, api_key_env)
        self.__key = key or None  # name-mangled; never shown by repr, logs or errors
        self._url = self.base_url + "/chat/completions"
        self._shown_chat_url = self.shown_url + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.__key:
            self._headers["Authorization"] = f"Bearer {self.__key}"
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._proxy = self._env_proxy(self.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._session_keeper: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the HTTP session (e.g. to a Ray actor): a copy opens its own."""
        state = dict(self.__dict__)
        state.update(_session=None, _session_loop=None, _session_keeper=None)
        return state

    def __repr__(self) -> str:
        key = "'***'" if self.__key else "None"
        return (
            f"{type(self).__name__}(model={self.name!r}, base_url={self.shown_url!r}, "
            f"api_key={key}, max_concurrency={self.max_concurrency})"
        )

    # --- session --------------------------------------------------------------------------------

    @staticmethod
    def _env_proxy(base_url: str) -> str | None:
        """The proxy from HTTP(S)_PROXY/NO_PROXY for ``base_url``, resolved once (never for loopback)."""
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        if host in _LOOPBACK or host.startswith("127."):
            return None
        proxy = urllib.request.getproxies_environment().get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
            return proxy
        return None

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """The whole request within ``seconds``; the connection within ``connect_timeout`` of them
        (a black-holed host fails fast); no gap between reads longer than ``seconds``."""
        t = self._timeouts.get(seconds)
        if t is None:
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(
                total=seconds, connect=min(self.connect_timeout, seconds), sock_read=seconds
            )
        return t

    async def _new_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        self._drop_session()
        connector = aiohttp.TCPConnector(
            limit=self.max_concurrency,
            limit_per_host=0,  # the total limit is the only bound
            keepalive_timeout=60.0,
            use_dns_cache=True,
            ttl_dns_cache=300,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=self._timeout(self.timeout),
            json_serialize=_dumps,
            raise_for_status=False,
        )
        keeper = _close_at_loop_shutdown(session)
        await keeper.__anext__()  # runs to its ``yield`` without suspending: no race between callers
        self._session, self._session_loop, self._session_keeper = session, loop, keeper
        log.debug("new HTTP session for %s", self.shown_url)
        return session

    def _drop_session(self) -> None:
        """Forget the current session; make sure a session of a dead loop raises no warnings."""
        session, loop = self._session, self._session_loop
        self._session = self._session_loop = self._session_keeper = None
        if session is None or session.closed:
            return
        if loop is not None and loop.is_closed():
            # Its loop is gone (closed without finalizing async generators): nothing can be
            # awaited there any more. Mark connector and session closed so neither warns; the
            # sockets are released when their transports are collected.
            connector = session.connector
            try:
                if connector is not None:
                    connector._close()  # sync part of close(); a no-op on a closed loop
            except Exception:  # pragma: no cover - best effort
                pass
            session.detach()
        # A live loop (another thread) closes it through the keeper's finalizer.

    async def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or self._session_loop is not loop or session.closed:
            session = await self._new_session(loop)
        return session

    async def aclose(self) -> None:
        session, loop = self._session, self._session_loop
        if session is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is running:
            self._session = self._session_loop = self._session_keeper = None
            await session.close()
        else:
            self._drop_session()

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
        body: dict[str, Any] = dict(self.extra_body) if self.extra_body else {}
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
        return _dumps(body).encode()

    async def complete(self, request: Request) -> Completion:
        session = self._session
        if session is None or self._session_loop is not asyncio.get_running_loop() or session.closed:
            session = await self._get_session()
        payload = self._body(request)
        seconds = request.timeout or self.timeout
        url = self._url
        try:
            async with session.post(
                url, data=payload, timeout=self._timeout(seconds), proxy=self._proxy, allow_redirects=False
            ) as resp:
                status = resp.status
                if status >= 300:
                    raw = await _read_some(resp, _ERROR_BODY_BYTES)
                    raise self._http_error(status, raw, resp.headers.get("Retry-After"), resp.headers)
                raw = await self._read(resp)
        except BackendError:
            raise
        except _ConnectTimeout as exc:
            raise ConnectionFailed(
                f"cannot connect to {self.shown_url}: "
                f"no connection within {min(self.connect_timeout, seconds):g} s",
                hint="is the server running and reachable? check base_url",
            ) from exc
        except asyncio.TimeoutError as exc:
            raise RequestTimeout(
                f"no answer from {self._shown_chat_url} within {seconds:g} s",
                hint="raise the timeout, lower max_concurrency, or check that the server is not overloaded",
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise BadRequestError(f"invalid URL {self._shown_chat_url!r}", hint="check base_url") from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailed(
                self._scrub(f"cannot connect to {self.shown_url}: {exc.os_error or exc}"),
                hint="is the server running? check base_url",
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:  # disconnected, reset, truncated payload
            raise ConnectionFailed(
                self._scrub(f"connection to {self.shown_url} failed: {type(exc).__name__}: {exc}"),
            ) from exc
        except ValueError as exc:  # aiohttp refusing the request itself (a key and URL credentials)
            raise BadRequestError(
                self._scrub(one_line(f"cannot send a request to {self.shown_url}: {exc}")),
                hint="check base_url and api_key (pass credentials in one of them, not both)",
            ) from exc
        return self._parse(raw, status)

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole answer body, refused past ``max_response_bytes`` (never held in memory whole)."""
        limit = self.max_response_bytes
        length = resp.content_length
        if length is not None and length > limit:
            raise self._too_large(f"says {length:,} bytes")
        data = bytearray()
        async for chunk in resp.content.iter_any():
            data += chunk
            if len(data) > limit:
                raise self._too_large("is longer")
        return bytes(data)

    def _too_large(self, how: str) -> ServerError:
        error = ServerError(
            f"the answer from {self._shown_chat_url} {how} than the {self.max_response_bytes:,}-byte "
            "limit (max_response_bytes)",
            hint="lower max_tokens, or check that base_url points to a chat completions server",
        )
        error.retryable = False  # the same request would bring the same flood
        return error

    def _malformed(self, raw: bytes, data: Any, status: int, why: str | None = None) -> ServerError:
        """A 2xx body that is not a chat completion, said in one line."""
        if why is None and isinstance(data, dict) and "error" in data:  # proxies sending errors with 200
            detail = ": " + error_text(raw)
        elif why is None:
            snippet = error_text(raw, 120) if raw.strip() else "(empty body)"
            kind = "not JSON" if data is _UNREAD else f"a JSON {_json_type(data)} without choices[0].message"
            detail = f" ({kind}; body: {snippet})"
        else:
            detail = f" ({why})"
        return ServerError(
            self._scrub(one_line(f"malformed response from {self._shown_chat_url}{detail}", 500)),
            status=status,
            hint="check that base_url points to an OpenAI-compatible /v1 endpoint",
        )

    def _parse(self, raw: bytes, status: int) -> Completion:
        data: Any = _UNREAD
        try:
            data = _loads(raw)
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            raise self._malformed(raw, data, status) from exc
        text = _content_text(content)
        if text is None:
            error = self._malformed(
                raw, data, status, f"message.content is a JSON {_json_type(content)}, not text"
            )
            error.retryable = False  # the row fails, kept with its error: asking again would pay again
            raise error
        notes: list[str] = []
        text, repaired = clean_text(text)
        if repaired:
            notes.append(TEXT_REPAIRED)
        logprobs, invalid = _logprobs(choice.get("logprobs"))
        if invalid:
            notes.append(LOGPROBS_INVALID)
        usage = _usage(data.get("usage"))
        if usage is None:
            notes.append(USAGE_MISSING)
        return Completion(
            text,
            _label(choice.get("finish_reason"), "stop"),
            usage or _NO_USAGE,
            _label(data.get("model"), self.name),
            logprobs,
            tuple(notes),
        )

    def _http_error(
        self, status: int, raw: bytes, retry_after_header: str | None, headers: Any = None
    ) -> BackendError:
        msg = self._scrub(error_text(raw))
        where = self._shown_chat_url
        if 300 <= status < 400:
            target = headers.get("Location", "") if headers is not None else ""
            to = f" to {self._scrub(redact_url(one_line(target, 200)))}" if target else ""
            return BadRequestError(
                f"{status} from {where}: the server redirects{to}; redirects are not followed "
                "(the request and its key would go elsewhere)",
                status=status,
                hint="set base_url to the address the server redirects to",
            )
        if status == 429:
            retry_after = parse_retry_after(retry_after_header)
            return RateLimitError(
                f"429 rate limited by {where}: {msg}",
                status=status,
                retry_after=retry_after,
                hint="lower max_concurrency or wait; the engine retries after Retry-After",
            )
        if status in (401, 403):
            if self.__key:
                hint = f"the server rejected the API key: check {self._key_source}"
            elif is_openai(self.base_url):
                hint = "no API key was sent: set OPENAI_API_KEY or pass api_key=..."
            else:  # OPENAI_API_KEY is never sent to other hosts unless named
                hint = (
                    "no API key was sent: name the variable holding this server's key with "
                    "api_key_env (recipe: model.api_key_env) or pass api_key=..."
                )
            return AuthenticationError(f"{status} from {where}: {msg}", status=status, hint=hint)
        if status == 408:
            return RequestTimeout(f"408 from {where}: {msg}", status=status)
        if status >= 500:
            return ServerError(
                f"{status} from {where}: {msg}",
                status=status,
                retry_after=parse_retry_after(retry_after_header),
            )
        if status == 400 and CONTEXT_OVERFLOW.search(msg):
            return PromptTooLong(
                f"400 from {where}: {msg}",
                status=status,
                hint="shorten the prompt (fewer few-shot examples) or raise the context size",
            )
        if 400 <= status < 500:
            hint = (
                f"check the model name {self.name!r} and base_url {self.shown_url!r}"
                if status == 404
                else f"check the model name {self.name!r} and the request parameters"
            )
            return BadRequestError(f"{status} from {where}: {msg}", status=status, hint=hint)
        return ServerError(f"unexpected HTTP {status} from {where}: {msg}", status=status)

    async def preflight(self) -> None:
        """Check that the server answers at all (``GET {base_url}/models``, 5 s).

        Raises ``BackendUnavailable`` when nothing can be reached and ``AuthenticationError`` on
        401/403; any other answer (404 from servers without ``/models``, 503 while a model loads)
        counts as "reachable".
        """
        session = await self._get_session()
        url = self.base_url + "/models"
        timeout = aiohttp.ClientTimeout(total=None, connect=_PREFLIGHT_TIMEOUT, sock_read=_PREFLIGHT_TIMEOUT)
        try:
            async with session.get(url, timeout=timeout, proxy=self._proxy, allow_redirects=False) as resp:
                status = resp.status
                raw = await _read_some(resp, _ERROR_BODY_BYTES) if status in (401, 403) else b""
        except aiohttp.InvalidURL as exc:
            raise BackendUnavailable(
                f"invalid base_url {self.shown_url!r}", hint="check base_url (e.g. http://127.0.0.1:8080/v1)"
            ) from exc
        except _ConnectTimeout as exc:
            raise BackendUnavailable(
                f"cannot reach {self.shown_url}: connect timed out after {_PREFLIGHT_TIMEOUT:g} s",
                hint="is the server running? check base_url",
            ) from exc
        except asyncio.TimeoutError:
            log.warning(
                "%s did not answer GET /models within %g s; going on", self.shown_url, _PREFLIGHT_TIMEOUT
            )
            return
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
            raise BackendUnavailable(
                self._scrub(one_line(f"cannot reach {self.shown_url}: {cause}")),
                hint="is the server running? check base_url",
            ) from exc
        if status in (401, 403):
            raise self._http_error(status, raw, None)
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
