"""Adaptive concurrency: fewer requests in flight while the server says it is overloaded (AIMD).

A run started with a ``max_concurrency`` above what the endpoint serves would otherwise keep
that many requests going, most of them answered 429 and retried: the endpoint is hammered and
the run crawls through backoff waits. :class:`AdaptiveLimit` is an async gate the engine passes
before each model call (apart from the rate limiter, which bounds requests per minute, not at
once). It starts at the configured concurrency (the ceiling); repeated overload answers (429,
503, 529) halve the level (multiplicative decrease, floor 1); after a level's worth of
successes it probes one higher (additive increase), never above the ceiling. As in TCP's
congestion control, each level is judged only by calls started at it: the flood of 429s from
calls sent at an old, higher level counts once, not once per call. Time (how close together
overloads must come to be "repeated") is read from an injectable ``Clock``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Literal

from ..errors import ConfigError, RateLimitError
from .clock import SYSTEM_CLOCK, Clock

#: how a call ended, for the gate: an answer, "the server is too busy", or anything else (neutral)
Outcome = Literal["success", "overload", "error"]

#: statuses that say "too many requests at once" (529: Anthropic-style "overloaded")
OVERLOAD_STATUSES = frozenset({429, 503, 529})


def outcome_of(error: BaseException | None) -> Outcome:
    """Classify a call's result: no error is a success, 429/503/529 an overload, the rest neutral."""
    if error is None:
        return "success"
    if isinstance(error, RateLimitError) or getattr(error, "status", None) in OVERLOAD_STATUSES:
        return "overload"
    return "error"


class AdaptiveLimit:
    """At most ``level`` holders at once; the level follows the server's overload answers (AIMD).

    ``acquire`` returns a ticket (the level's epoch when the call started) that ``release`` takes
    back with the call's outcome. ``overloads`` overload answers within ``window`` seconds, from
    calls started at the current level, lower it to ``level * decrease`` (at least ``floor``);
    ``successes_per_step`` successes of such calls (default: the current level, one step per
    round of calls) raise it by one up to ``ceiling``. ``on_change(level, ceiling)`` hears each
    change (the progress bar, the log).
    """

    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = 1,
        decrease: float = 0.5,
        overloads: int = 2,
        window: float = 10.0,
        successes_per_step: int | None = None,
        clock: Clock | None = None,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        if not 1 <= floor <= ceiling:
            raise ConfigError(
                f"adaptive concurrency needs 1 <= floor <= ceiling, not floor={floor}, ceiling={ceiling}",
                hint="set max_concurrency to at least 1",
            )
        if not 0 < decrease < 1:
            raise ConfigError(f"decrease must be between 0 and 1, not {decrease!r}", hint="e.g. 0.5 halves")
        if overloads < 1 or window <= 0 or (successes_per_step is not None and successes_per_step < 1):
            raise ConfigError(
                "overloads and successes_per_step must be >= 1 and window > 0",
                hint="e.g. overloads=2, window=10.0",
            )
        self.ceiling = ceiling
        self.floor = floor
        self.decrease = decrease
        self.overloads = overloads
        self.window = window
        self.successes_per_step = successes_per_step
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.on_change = on_change
        self.level = ceiling
        self.in_flight = 0
        self.epoch = 0  # bumped at every level change: tickets older than it speak of another level
        #: every level the gate has had, in order (starts with the ceiling)
        self.history: list[int] = [ceiling]
        self._overload_times: deque[float] = deque()
        self._successes = 0
        self._waiters: deque[asyncio.Future[int]] = deque()

    @property
    def lowered(self) -> bool:
        """Whether the gate lets fewer calls through than configured right now."""
        return self.level < self.ceiling

    async def acquire(self) -> int:
        """Wait for a place (first come, first served); returns the ticket for ``release``."""
        if self.in_flight < self.level and not self._waiters:
            self.in_flight += 1
            return self.epoch
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted as it was cancelled: pass it on
                self.in_flight -= 1
                self._grant()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self, ticket: int, outcome: Outcome) -> None:
        """Give the place back; ``outcome`` of a call started at the current level moves the level."""
        self.in_flight -= 1
        if ticket == self.epoch:
            if outcome == "overload":
                self._overloaded()
            elif outcome == "success":
                self._succeeded()
        self._grant()

    def _overloaded(self) -> None:
        now = self.clock.now()
        times = self._overload_times
        times.append(now)
        while times and times[0] < now - self.window:
            times.popleft()
        if len(times) >= self.overloads:
            times.clear()
            self._set(max(self.floor, int(self.level * self.decrease)))

    def _succeeded(self) -> None:
        if self.level >= self.ceiling:
            return
        self._successes += 1
        if self._successes >= (self.successes_per_step or self.level):
            self._set(self.level + 1)

    def _set(self, level: int) -> None:
        if level == self.level:
            return
        self.level = level
        self.epoch += 1
        self._successes = 0
        self._overload_times.clear()
        self.history.append(level)
        if self.on_change is not None:
            self.on_change(level, self.ceiling)

    def _grant(self) -> None:
        """Hand free places to the waiters in arrival order."""
        while self._waiters and self.in_flight < self.level:
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while queued
                continue
            self.in_flight += 1
            waiter.set_result(self.epoch)

    def __repr__(self) -> str:
        return f"AdaptiveLimit(level={self.level}, ceiling={self.ceiling}, in_flight={self.in_flight})"
