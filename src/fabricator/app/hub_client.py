"""The HTTP client ``huggingface_hub`` uses during a push, with limits it does not have by itself.

``huggingface_hub`` makes its client with no timeout at all, follows redirects and reads whole
answers, so a Hub endpoint that accepts and never answers hangs a push forever and an endless
answer fills the memory. While ``limited(limits)`` is active, every request of the shared client
gets connect/read timeouts (also when the library passes ``timeout=None``), a redirect is an
error, and an answer is read up to ``limits.max_bytes`` and ``limits.total`` seconds. Outside it
the client behaves as the library's own (``load_dataset`` from the Hub is not capped).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from ..errors import FabricatorError
from ..redact import redact_url
from .http_limits import HttpLimits

__all__ = ["HubAnswerError", "limited"]

_active: list[HttpLimits] = []  # the limits of the push in progress (none: the library's own)
_installed = False


class HubAnswerError(FabricatorError):
    """The Hub endpoint answered with a redirect or a body too large or too slow to read."""


class _CappedStream(httpx2.SyncByteStream):
    """The answer's bytes, stopped past ``max_bytes`` or ``total`` seconds."""

    def __init__(self, inner: httpx2.SyncByteStream, limits: HttpLimits, url: str) -> None:
        self._inner, self._limits, self._url = inner, limits, url
        self._deadline = time.monotonic() + limits.total

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limits.max_bytes:
                raise HubAnswerError(
                    self._limits.too_large(f"the Hub at {self._url}"), hint=self._limits.too_large_hint()
                )
            if time.monotonic() > self._deadline:
                raise HubAnswerError(
                    f"the Hub at {self._url} took more than {self._limits.total:g} s to send one answer",
                    hint="check HF_ENDPOINT and the network, or raise --timeout",
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _where(request: httpx2.Request) -> str:
    return redact_url(f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}")


def _on_request(request: httpx2.Request) -> None:
    """Fill in the timeouts the library left open (``None``) with the push's."""
    if not _active:
        return
    limits = _active[-1]
    wanted = {
        "connect": limits.connect,
        "read": limits.timeout,
        "write": limits.timeout,
        "pool": limits.timeout,
    }
    given = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {k: min(v, given.get(k) or v) for k, v in wanted.items()}


def _on_response(response: httpx2.Response) -> None:
    """Refuse redirects and announced oversized answers; cap the rest as it is read."""
    if not _active:
        return
    limits, where = _active[-1], _where(response.request)
    if 300 <= response.status_code < 400:
        target = redact_url(response.headers.get("location", "elsewhere"))
        raise HubAnswerError(
            f"the Hub at {where} answered HTTP {response.status_code}, a redirect to {target}",
            hint="set HF_ENDPOINT to the Hub's final address (redirects are not followed)",
        )
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise HubAnswerError(limits.too_large(f"the Hub at {where}"), hint=limits.too_large_hint())
    response.stream = _CappedStream(response.stream, limits, where)  # type: ignore[arg-type]


def _library_hook() -> list[Any]:
    """The library's own request hook (offline mode, request ids), where this version has it."""
    try:
        from huggingface_hub.utils._http import hf_request_event_hook
    except ImportError:  # pragma: no cover - another huggingface_hub layout
        return []
    return [hf_request_event_hook]


def _client() -> httpx2.Client:
    return httpx2.Client(
        event_hooks={"request": [*_library_hook(), _on_request], "response": [_on_response]},
        follow_redirects=True,  # as the library's; refused by _on_response while a push runs
        timeout=None,
    )


@contextmanager
def limited(limits: HttpLimits) -> Iterator[None]:
    """Apply ``limits`` to every Hub request made inside the block."""
    global _installed
    if not _installed:
        from huggingface_hub import set_client_factory

        set_client_factory(_client)
        _installed = True
    _active.append(limits)
    try:
        yield
    finally:
        _active.pop()
