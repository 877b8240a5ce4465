"""A virtual clock for tests: sleeps take no real time, so timing tests assert order, not speed.

``FakeClock`` implements ``fabricator.execution.clock.Clock``. A sleep parks the caller until virtual time
reaches its deadline; virtual time jumps to the earliest deadline once every runnable task has
reached its next ``await`` (work and I/O take no virtual time). Sleepers wake in deadline order, so
``RateLimiter(120, clock=clock)`` lets requests start at 0, 0, 0.5, 1.0, ... virtual seconds at once::

    clock = FakeClock()
    engine = Engine(llm, clock=clock)
    ...
    assert clock.now() == 30.0 and clock.sleeps == [30.0]
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math


class FakeClock:
    """Virtual monotonic time in seconds, starting at ``start``."""

    def __init__(self, start: float = 0.0, *, settle_rounds: int = 20) -> None:
        self._now = float(start)
        self.start = float(start)
        #: every sleep asked for, in call order (seconds, as requested)
        self.sleeps: list[float] = []
        self.settle_rounds = settle_rounds  # loop turns given to runnable tasks before time jumps
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self._now

    @property
    def elapsed(self) -> float:
        """Virtual seconds since ``start``."""
        return self._now - self.start

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = loop.create_future()
        deadline = max(self._now + seconds, math.nextafter(self._now, math.inf))  # time always moves
        heapq.heappush(self._waiters, (deadline, next(self._order), future))
        driver = self._driver
        if driver is None or driver.done() or driver.get_loop() is not loop:
            self._driver = loop.create_task(self._drive())
        await future

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by hand, waking every sleeper that is due."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
        self._wake_due()

    async def _drive(self) -> None:
        while True:
            for _ in range(self.settle_rounds):  # let every runnable task reach its next await
                await asyncio.sleep(0)
            self._drop_cancelled()
            if not self._waiters:
                return
            self._now = max(self._now, self._waiters[0][0])
            self._wake_due()

    def _drop_cancelled(self) -> None:
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)

    def _wake_due(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._now:
            future = heapq.heappop(self._waiters)[2]
            if not future.done():
                future.set_result(None)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, sleeping={len(self._waiters)})"
