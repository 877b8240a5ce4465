"""One aiohttp session per event loop for an HTTP backend: made on first use, closed with its loop.

A session belongs to the loop that made it; a backend used from another loop (a new
``asyncio.run``, a Ray actor, a notebook's worker thread) gets a fresh one, and the old one is
closed where that is still possible and silenced where its loop is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


async def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
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


def env_proxy(base_url: str) -> str | None:
    """The proxy from HTTP(S)_PROXY/NO_PROXY for ``base_url``, resolved once (never for loopback)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host in _LOOPBACK or host.startswith("127."):
        return None
    proxy = urllib.request.getproxies_environment().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return proxy
    return None


class LoopSession:
    """The session of the running loop, sending ``headers``, at most ``limit`` connections."""

    def __init__(
        self, shown_url: str, headers: dict[str, str], limit: int, timeout: aiohttp.ClientTimeout
    ) -> None:
        self._shown_url = shown_url
        self._headers = headers
        self._limit = limit
        self._timeout = timeout
        self.session: aiohttp.ClientSession | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._keeper: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the session (e.g. to a Ray actor): a copy opens its own."""
        return {**self.__dict__, "session": None, "loop": None, "_keeper": None}

    def current(self) -> aiohttp.ClientSession | None:
        """The session of the running loop when it is open (the fast path), else ``None``."""
        session = self.session
        if session is None or self.loop is not asyncio.get_running_loop() or session.closed:
            return None
        return session

    async def get(self) -> aiohttp.ClientSession:
        return self.current() or await self._new(asyncio.get_running_loop())

    async def _new(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        self.drop()
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=0,  # the total limit is the only bound
            keepalive_timeout=60.0,
            use_dns_cache=True,
            ttl_dns_cache=300,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=self._timeout,
            json_serialize=_dumps,
            raise_for_status=False,
        )
        keeper = _close_at_loop_shutdown(session)
        await keeper.__anext__()  # runs to its ``yield`` without suspending: no race between callers
        self.session, self.loop, self._keeper = session, loop, keeper
        log.debug("new HTTP session for %s", self._shown_url)
        return session

    def drop(self) -> None:
        """Forget the current session; make sure a session of a dead loop raises no warnings."""
        session, loop = self.session, self.loop
        self.session = self.loop = self._keeper = None
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

    async def aclose(self) -> None:
        session, loop = self.session, self.loop
        if session is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is running:
            self.session = self.loop = self._keeper = None
            await session.close()
        else:
            self.drop()


__all__ = ["LoopSession", "env_proxy"]
