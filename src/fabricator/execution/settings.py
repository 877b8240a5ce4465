"""How the engine may call a model: concurrency, retries, timeouts, prices and budgets.

One frozen object instead of a dozen constructor arguments, so a caller (the generator, a Ray
actor) builds it once and an option is added in one place. ``EngineOptions`` names the same fields
as keywords, for ``Engine(llm, max_retries=2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from ..errors import ConfigError
from .stats import Prices


@dataclass(frozen=True)
class EngineSettings:
    """The engine's limits. ``concurrency=None``: the backend's ``max_concurrency``."""

    concurrency: int | None = None
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float | None = None
    #: a server asking for a longer wait (Retry-After) fails that request; None waits as asked
    max_retry_wait: float | None = 60.0
    adaptive: bool = True  # fewer calls at once while the server answers 429/503
    prices: Prices | None = None
    budget_tokens: int | None = None
    budget_usd: float | None = None

    def __post_init__(self) -> None:
        wait = self.max_retry_wait
        if wait is not None and not wait >= 0:
            raise ConfigError(
                f"max_retry_wait must be a number of seconds >= 0, not {wait!r}",
                hint="pass e.g. max_retry_wait=60, or None to wait as long as the server asks",
            )


class EngineOptions(TypedDict, total=False):
    """``EngineSettings``'s fields as keyword arguments of ``Engine``."""

    concurrency: int | None
    max_retries: int
    backoff_base: float
    backoff_max: float
    timeout: float | None
    max_retry_wait: float | None
    adaptive: bool
    prices: Prices | None
    budget_tokens: int | None
    budget_usd: float | None
