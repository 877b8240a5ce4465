"""The actor side of ``engine="ray"``: our async engine on each block Ray Data hands an actor.

What travels out (``ActorSettings``, and per item a ``Work`` tuple) and back (``BlockResult``) is
defined here, with the arithmetic that shares cluster-wide limits among actors.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BudgetExceeded
from ..llms.base import Request
from .calls import CallBudget
from .engine import Engine, Prices
from .executor import Maker
from .journal import Journal
from .ratelimit import RateLimiter
from .work import WorkItem

#: what one item of a block carries: the item, its source row (annotation) and its call allowance
Work = tuple[WorkItem, Mapping[str, Any] | None, int | None]


@dataclass(frozen=True)
class ActorSettings:
    """One actor's engine: the driver's settings, with its share of the cluster-wide limits."""

    concurrency: int
    max_retries: int
    timeout: float | None
    requests_per_minute: float | None
    tokens_per_minute: float | None
    prices: Prices | None
    budget_tokens: int | None
    budget_usd: float | None
    journal_dir: str | None
    collect_calls: bool


@dataclass
class BlockResult:
    """What an actor sends back for one block."""

    results: list[tuple[int, Any]] = field(default_factory=list)  # (item index, row | Failure)
    calls: list[tuple[int, Request, str]] = field(default_factory=list)  # for the call log
    stats: dict[str, Any] = field(default_factory=dict)  # this block's share of the counters
    stopped: str | None = None
    error: BaseException | None = None  # a fatal error: the driver raises it
    model_calls: int = 0  # calls made against the block's allowance (``CallBudget.used``)
    actor: str = ""
    started: float = 0.0  # wall-clock time the block began and ended in the actor
    finished: float = 0.0


def split_limit(value: float | None, actors: int) -> float | None:
    """An even share of a cluster-wide limit (``None``: unlimited)."""
    return None if value is None else value / actors


def call_allowances(first_asks: Sequence[int], spare: int | None) -> list[int | None]:
    """Each item's calls: its reserved first asks and an even share of ``spare`` (``None``: uncapped)."""
    items = len(first_asks)
    if spare is None:
        return [None] * items
    return [first + (k + 1) * spare // items - k * spare // items for k, first in enumerate(first_asks)]


class _CollectCalls:
    """The block's prompts and answers, sent back for the driver's call log (when it keeps one)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.calls: list[tuple[int, Request, str]] = []

    def write(self, item: WorkItem, request: Request, response: str) -> None:
        if self.enabled:
            self.calls.append((item.index, request, response))


class GenerationActor:
    """A Ray Data map actor: our async engine on each block it is given.

    One event loop and one engine (rate limiter, budget, journal shard) for the actor's life;
    blocks run one after another, each with ``concurrency`` requests in flight, and each closes
    its HTTP session when done (Ray may end an idle actor without warning).
    """

    def __init__(self, llm: Any, maker: Maker, settings: ActorSettings) -> None:
        self.maker = maker
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._lock_fd = -1
        journal = None
        if settings.journal_dir is not None:
            self.name, self._lock_fd = Journal.claim_shard(settings.journal_dir)
            journal = Journal.open_shard(settings.journal_dir, self.name)
        else:
            self.name = f"actor-p{os.getpid()}"
        self.engine = Engine(
            llm,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            timeout=settings.timeout,
            rate_limiter=RateLimiter(settings.requests_per_minute, settings.tokens_per_minute),
            journal=journal,
            prices=settings.prices,
            budget_tokens=settings.budget_tokens,
            budget_usd=settings.budget_usd,
        )

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        work = [pickle.loads(blob) for blob in batch.column("item").to_pylist()]
        out = self.run(work)
        return pa.table(
            {"out": pa.array([pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)], type=pa.large_binary())}
        )

    def run(self, work: Sequence[Work]) -> BlockResult:
        """One block: every item through ``RowMaker.make``, within the items' call allowances."""
        engine, maker = self.engine, self.maker
        calls = _CollectCalls(self.settings.collect_calls)
        out = BlockResult(actor=self.name, started=time.time())
        before = engine.stats.counters()
        allowances = [w[2] for w in work]
        budget = CallBudget(None if None in allowances else sum(a or 0 for a in allowances))
        budget.reserved = sum(w[0].first_asks for w in work)  # within the allowances' sum

        async def handle(w: Work) -> Any:
            return await maker.make(engine, w[0], calls, w[1], budget=budget)

        def keep(w: Work, result: Any) -> None:
            out.results.append((w[0].index, result))

        async def run_block() -> None:
            try:
                await engine.map(work, handle, keep)
            finally:  # no HTTP session outlives a block: Ray may end the actor at any time after it
                await engine.llm.aclose()

        try:
            self.loop.run_until_complete(run_block())
        except BudgetExceeded:
            pass
        except Exception as exc:  # fatal (a rejected key...): handed to the driver, which raises it
            out.error = _portable(exc)
        after = engine.stats.counters()
        out.stats = {k: after[k] - before[k] for k in after}
        out.stopped = engine.stats.stopped
        out.calls = calls.calls
        out.model_calls = budget.used
        out.finished = time.time()
        return out

    def __del__(self) -> None:
        journal = getattr(getattr(self, "engine", None), "journal", None)
        if journal is not None:
            journal.close()
        if getattr(self, "_lock_fd", -1) >= 0:
            os.close(self._lock_fd)  # frees the shard for the next actor
            self._lock_fd = -1


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


__all__ = ["ActorSettings", "BlockResult", "GenerationActor", "Work", "call_allowances", "split_limit"]
