"""The llama.cpp server inside this process (``xllamacpp.Server``): started, held and stopped safely.

xllamacpp has no explicit stop method: the C++ server terminates its loop and joins its threads
in its destructor, which runs when the last reference to the ``Server`` object goes away.
``ServerHolder`` keeps exactly one reference and drops it to stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..errors import BackendUnavailable

logger = logging.getLogger(__name__)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the CPUs this process may really use
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def keep_signal_handlers() -> Iterator[None]:
    """Put the process's SIGINT/SIGTERM dispositions back after the block.

    Some llama.cpp server builds install their own SIGINT/SIGTERM handlers when they start,
    which would turn Ctrl+C into "stop the model server" instead of ``KeyboardInterrupt``. The
    raw ``struct sigaction`` is saved and restored through libc (works from any thread); the
    buffer is treated as opaque and is larger than the struct on every platform.
    """
    saved: list[tuple[int, Any]] = []
    libc: Any = None
    if sys.platform != "win32":
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                buf = ctypes.create_string_buffer(1024)
                if libc.sigaction(int(sig), None, buf) == 0:
                    saved.append((int(sig), buf))
    try:
        yield
    finally:
        for signum, raw in saved:
            with contextlib.suppress(Exception):
                libc.sigaction(signum, raw, None)


class ServerHolder:
    """Owns the one reference to the ``xllamacpp.Server``; ``stop`` drops it (idempotent).

    Kept apart from ``LlamaCpp`` so a ``weakref.finalize`` can stop the server at collection or
    interpreter exit without keeping the backend object alive.
    """

    _orphans: ClassVar[list[Any]] = []  # servers inherited through fork(): their threads do not exist here

    def __init__(self) -> None:
        self.server: Any = None
        self.pid = 0
        self.lock = threading.Lock()

    def stop(self) -> None:
        with self.lock:
            server, self.server = self.server, None
        if server is None:
            return
        if os.getpid() != self.pid:
            # A forked child: the server's threads live only in the parent, and the destructor
            # would wait for them forever. Never run it here.
            self._orphans.append(server)
            return
        t = time.monotonic()
        del server  # the last reference: the C++ destructor stops the loop and joins its threads
        logger.debug("embedded llama.cpp server stopped in %.2f s", time.monotonic() - t)


def loopback_base(address: str) -> str:
    """``http://host:port`` from ``listening_address``; refuses anything but loopback."""
    raw = address if "://" in address else f"http://{address}"
    parts = urlsplit(raw)
    host, port = parts.hostname, parts.port
    if host not in _LOOPBACK or not port:
        raise BackendUnavailable(
            f"the embedded llama.cpp server listens on {address!r}, not on a loopback address",
            hint="this is a bug or an incompatible xllamacpp version; "
            "use an OpenAI-compatible server instead",
        )
    return f"http://{'[::1]' if host == '::1' else host}:{port}"


__all__ = ["ServerHolder", "cpu_count", "keep_signal_handlers", "loopback_base"]
