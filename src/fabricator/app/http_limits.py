"""Timeouts and answer-size limits shared by the app's HTTP clients (Hub push, Label Studio).

A server that accepts a connection and never answers, drips bytes, or sends an endless body must
end in a one-line error, not a hang or an out-of-memory crash. The read timeout comes from
``--timeout`` or ``FABRICATOR_HTTP_TIMEOUT``; the answer cap from ``FABRICATOR_HTTP_MAX_MB``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = [
    "MAX_MB_ENV",
    "TIMEOUT_ENV",
    "HttpLimits",
    "http_limits",
    "one_line",
]

TIMEOUT_ENV = "FABRICATOR_HTTP_TIMEOUT"
MAX_MB_ENV = "FABRICATOR_HTTP_MAX_MB"
DEFAULT_TIMEOUT = 60.0  # seconds without a byte from the server
DEFAULT_MAX_MB = 64.0  # a Label Studio export of ~30k short tasks; Hub answers are far smaller
CONNECT_TIMEOUT = 10.0  # at most; never more than the read timeout
TOTAL_FACTOR = 10  # a whole answer may take this many read timeouts (a slow drip ends too)


@dataclass(frozen=True)
class HttpLimits:
    """How long to wait for a server and how much of its answer to read."""

    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = int(DEFAULT_MAX_MB * 2**20)

    @property
    def connect(self) -> float:
        return min(CONNECT_TIMEOUT, self.timeout)

    @property
    def total(self) -> float:
        return self.timeout * TOTAL_FACTOR

    def too_large(self, who: str) -> str:
        return f"{who} sent an answer larger than {self.max_bytes / 2**20:g} MB; stopped reading it"

    def too_large_hint(self) -> str:
        return f"check the server address; if the answer is expected, raise {MAX_MB_ENV}"


def _positive(value: object, name: str) -> float:
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds or MB, not {value!r}")
    return number


def http_limits(timeout: float | None = None) -> HttpLimits:
    """The limits from ``timeout`` (``--timeout``), else the environment, else the defaults."""
    if timeout is None and os.environ.get(TIMEOUT_ENV, "").strip():
        timeout = _positive(os.environ[TIMEOUT_ENV].strip(), TIMEOUT_ENV)
    seconds = DEFAULT_TIMEOUT if timeout is None else _positive(timeout, "--timeout")
    megabytes = DEFAULT_MAX_MB
    if os.environ.get(MAX_MB_ENV, "").strip():
        megabytes = _positive(os.environ[MAX_MB_ENV].strip(), MAX_MB_ENV)
    return HttpLimits(timeout=seconds, max_bytes=max(1, int(megabytes * 2**20)))


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line and at most ``limit`` characters (server bodies can be HTML pages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
