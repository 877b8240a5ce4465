"""Requests-per-minute and tokens-per-minute limits as async token buckets."""

from __future__ import annotations

import asyncio

from .clock import SYSTEM_CLOCK, Clock

_EPSILON = 1e-9  # units: a shortfall this small is rounding, not a reason to wait


class TokenBucket:
    """``rate`` units per minute, bursting up to one second's worth (at least one unit)."""

    def __init__(self, per_minute: float, *, clock: Clock | None = None) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = self.clock.now()
        self._lock = asyncio.Lock()

    async def take(self, amount: float = 1.0) -> None:
        amount = min(amount, self.capacity)  # a request bigger than the bucket still goes, alone
        async with self._lock:
            while True:
                now = self.clock.now()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.level >= amount - _EPSILON:  # float dust must not cost another sleep
                    self.level -= amount
                    return
                await self.clock.sleep((amount - self.level) / self.rate)

    def refund(self, amount: float) -> None:
        """Give back an over-estimate once the true token count is known (may go negative)."""
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Both limits together; ``None`` means unlimited."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.requests = TokenBucket(requests_per_minute, clock=self.clock) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute, clock=self.clock) if tokens_per_minute else None

    async def acquire(self, estimated_tokens: int) -> None:
        if self.requests:
            await self.requests.take(1)
        if self.tokens:
            await self.tokens.take(estimated_tokens)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        if self.tokens:
            self.tokens.refund(estimated_tokens - actual_tokens)
