"""The time source of the rate limiter and the engine, injectable so tests need no real waiting.

Production code uses :data:`SYSTEM_CLOCK` (``time.monotonic`` + ``asyncio.sleep``); tests pass a
virtual clock (``fabricator.testing.FakeClock``) and assert when things happened, not how long
the machine took.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A monotonic time source in seconds and a matching async sleep."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "MonotonicClock()"


#: the default clock of every limiter and engine
SYSTEM_CLOCK: Clock = MonotonicClock()
