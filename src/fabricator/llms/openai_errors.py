"""An OpenAI-compatible server's failures as ``fabricator.errors``, each said in one line with a fix.

The engine decides what to retry from the error type, so the mapping here is the whole policy:
429 and 5xx and timeouts retry, 401/403 and other 4xx stop, redirects are refused (the key would
go with them). Messages show the endpoint without its credentials (``Endpoint.scrub``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import (
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
from ..redact import redact_url
from .http_errors import CONTEXT_OVERFLOW, error_text, one_line, parse_retry_after
from .openai_answers import json_type

# aiohttp >= 3.10 tells a connect timeout apart from a read timeout
ConnectTimeout: Any = getattr(aiohttp, "ConnectionTimeoutError", ())
_UNREAD = object()  # a body not yet decoded (``malformed``: not JSON at all)


@dataclass(frozen=True)
class Endpoint:
    """What an error may say about the server: its URL without credentials, the model, the key."""

    shown_url: str
    model: str
    connect_timeout: float
    #: ``None``: no key was sent; else where the key came from (a variable's name, never the key)
    key_source: str | None
    openai_host: bool
    scrub: Callable[[str], str]

    @property
    def chat_url(self) -> str:
        return self.shown_url + "/chat/completions"


def _auth_hint(where: Endpoint) -> str:
    if where.key_source is not None:
        return f"the server rejected the API key: check {where.key_source}"
    if where.openai_host:
        return "no API key was sent: set OPENAI_API_KEY or pass api_key=..."
    # OPENAI_API_KEY is never sent to other hosts unless named
    return (
        "no API key was sent: name the variable holding this server's key with "
        "api_key_env (recipe: model.api_key_env) or pass api_key=..."
    )


def _redirect(where: Endpoint, status: int, headers: Mapping[str, str] | None) -> BackendError:
    target = headers.get("Location", "") if headers is not None else ""
    to = f" to {where.scrub(redact_url(one_line(target, 200)))}" if target else ""
    return BadRequestError(
        f"{status} from {where.chat_url}: the server redirects{to}; redirects are not followed "
        "(the request and its key would go elsewhere)",
        status=status,
        hint="set base_url to the address the server redirects to",
    )


def status_error(
    where: Endpoint,
    status: int,
    raw: bytes,
    retry_after: str | None,
    headers: Mapping[str, str] | None = None,
) -> BackendError:
    """The error an HTTP status (>= 300) with body ``raw`` means."""
    msg = where.scrub(error_text(raw))
    said = f"{status} from {where.chat_url}: {msg}"
    if 300 <= status < 400:
        return _redirect(where, status, headers)
    if status == 429:
        return RateLimitError(
            f"429 rate limited by {where.chat_url}: {msg}",
            status=status,
            retry_after=parse_retry_after(retry_after),
            hint="lower max_concurrency or wait; the engine retries after Retry-After",
        )
    if status in (401, 403):
        return AuthenticationError(said, status=status, hint=_auth_hint(where))
    if status == 408:
        return RequestTimeout(said, status=status)
    if status >= 500:
        return ServerError(said, status=status, retry_after=parse_retry_after(retry_after))
    if status == 400 and CONTEXT_OVERFLOW.search(msg):
        hint = "shorten the prompt (fewer few-shot examples) or raise the context size"
        return PromptTooLong(said, status=status, hint=hint)
    if 400 <= status < 500:
        hint = f"check the model name {where.model!r} and " + (
            f"base_url {where.shown_url!r}" if status == 404 else "the request parameters"
        )
        return BadRequestError(said, status=status, hint=hint)
    return ServerError(f"unexpected HTTP {status} from {where.chat_url}: {msg}", status=status)


def transport_error(where: Endpoint, exc: BaseException, seconds: float) -> BackendError:
    """The error a failed request means when no answer came (or aiohttp refused to send it)."""
    if isinstance(exc, ConnectTimeout):
        return ConnectionFailed(
            f"cannot connect to {where.shown_url}: "
            f"no connection within {min(where.connect_timeout, seconds):g} s",
            hint="is the server running and reachable? check base_url",
        )
    if isinstance(exc, asyncio.TimeoutError):
        return RequestTimeout(
            f"no answer from {where.chat_url} within {seconds:g} s",
            hint="raise the timeout, lower max_concurrency, or check that the server is not overloaded",
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return BadRequestError(f"invalid URL {where.chat_url!r}", hint="check base_url")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectionFailed(
            where.scrub(f"cannot connect to {where.shown_url}: {exc.os_error or exc}"),
            hint="is the server running? check base_url",
        )
    if isinstance(exc, (aiohttp.ClientError, OSError)):  # disconnected, reset, truncated payload
        return ConnectionFailed(
            where.scrub(f"connection to {where.shown_url} failed: {type(exc).__name__}: {exc}")
        )
    # aiohttp refusing the request itself (a key and URL credentials)
    return BadRequestError(
        where.scrub(one_line(f"cannot send a request to {where.shown_url}: {exc}")),
        hint="check base_url and api_key (pass credentials in one of them, not both)",
    )


#: what a request may fail with before any answer: mapped by ``transport_error``
TRANSPORT_ERRORS = (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError)


def unreachable(where: Endpoint, exc: BaseException, seconds: float) -> BackendUnavailable:
    """The preflight's error: the server cannot be reached at all."""
    if isinstance(exc, aiohttp.InvalidURL):
        return BackendUnavailable(
            f"invalid base_url {where.shown_url!r}", hint="check base_url (e.g. http://127.0.0.1:8080/v1)"
        )
    if isinstance(exc, ConnectTimeout):
        return BackendUnavailable(
            f"cannot reach {where.shown_url}: connect timed out after {seconds:g} s",
            hint="is the server running? check base_url",
        )
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    return BackendUnavailable(
        where.scrub(one_line(f"cannot reach {where.shown_url}: {cause}")),
        hint="is the server running? check base_url",
    )


def too_large(where: Endpoint, how: str, limit: int) -> ServerError:
    error = ServerError(
        f"the answer from {where.chat_url} {how} than the {limit:,}-byte limit (max_response_bytes)",
        hint="lower max_tokens, or check that base_url points to a chat completions server",
    )
    error.retryable = False  # the same request would bring the same flood
    return error


def malformed(where: Endpoint, raw: bytes, data: Any, status: int, why: str | None = None) -> ServerError:
    """A 2xx body that is not a chat completion, said in one line (``data``: ``UNREAD`` if not JSON)."""
    if why is None and isinstance(data, dict) and "error" in data:  # proxies sending errors with 200
        detail = ": " + error_text(raw)
    elif why is None:
        snippet = error_text(raw, 120) if raw.strip() else "(empty body)"
        kind = "not JSON" if data is _UNREAD else f"a JSON {json_type(data)} without choices[0].message"
        detail = f" ({kind}; body: {snippet})"
    else:
        detail = f" ({why})"
    return ServerError(
        where.scrub(one_line(f"malformed response from {where.chat_url}{detail}", 500)),
        status=status,
        hint="check that base_url points to an OpenAI-compatible /v1 endpoint",
    )


UNREAD = _UNREAD

__all__ = [
    "TRANSPORT_ERRORS",
    "UNREAD",
    "ConnectTimeout",
    "Endpoint",
    "malformed",
    "status_error",
    "too_large",
    "transport_error",
    "unreachable",
]
