"""``engine="batch"``: a round's calls through the provider's batch API, at the batch price.

The row driver runs as it does online, every row of the round at once, against ``BatchEngine``: an
engine whose ``call`` answers from the journal or waits in the ``BatchQueue`` for its batch. So
parsing, re-asks, label scoring, filters and replacement rows are the online code; a re-ask or a
replacement row simply waits for the next batch. Answers are journaled like online answers, and the
batches a run submits are written down first (``batch_store``): a killed run resumes by polling
them, never paying for a request twice. Ctrl-C asks at a terminal before cancelling submitted
batches (paid work; ``batch_interrupt``), else leaves them running and says how to collect them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any, cast

from ..errors import BackendError, BudgetExceeded, ConfigError
from ..llms.base import LLM, Completion, Request
from ..llms.batch_api import Answer, BatchAPI, BatchSubmitting
from ..llms.capabilities import capabilities_of
from ..options import ExecutionOptions
from .batch_interrupt import should_cancel
from .batch_queue import BatchQueue, BatchSettings
from .batch_store import BatchStore
from .calls import CallBudget, CallLogger
from .engine import Engine
from .executor import GroupMaker, Keep, Maker
from .journal import Journal
from .work import Result, WorkItem

log = logging.getLogger("fabricator")

#: what a batch round's queue is made of: the provider's API, where batches are written down, settings
BatchQueueParts = tuple[BatchAPI, BatchStore, BatchSettings]
#: work items of one batch round (every one of them in flight at once, waiting on answers)
BATCH_ROUND_ITEMS = 50_000


def batch_settings(execution: ExecutionOptions) -> BatchSettings:
    """The batch keys of a run's options."""
    return BatchSettings(
        max_requests=execution.batch_max_requests,
        max_bytes=execution.batch_max_bytes,
        poll_seconds=execution.batch_poll_seconds,
        cancel_on_interrupt=execution.batch_cancel_on_interrupt,
    )


def require_batch_api(llm: LLM) -> BatchSubmitting:
    """``llm`` when it declares a batch API; else a ``ConfigError`` naming the fix."""
    if not capabilities_of(llm).batch_api:
        raise ConfigError(
            f"backend {llm.name!r} has no batch API (its capabilities do not declare batch_api)",
            hint="use engine='local', or an OpenAI-compatible backend whose server has "
            "/v1/files and /v1/batches (OpenAI, Together, OpenRouter, vLLM)",
        )
    return cast(BatchSubmitting, llm)


class BatchEngine:
    """What the row driver calls (``EngineLike``): the journal first, else the next batch."""

    def __init__(self, engine: Engine, queue: BatchQueueParts) -> None:
        self.engine = engine
        self.llm = engine.llm
        self.journal = engine.journal
        self.queue = BatchQueue(*queue, engine.clock, self.answered, engine.progress.batches)

    async def call(self, request: Request, key: str) -> Completion:
        engine = self.engine
        cached = engine.lookup(key) if key else None
        if cached is not None:
            return cached
        engine.check_budget()
        answer = await self.queue.ask(key or uuid.uuid4().hex, request)
        if isinstance(answer, BackendError):
            raise answer
        return answer

    def answered(self, key: str, request: Request | None, answer: Answer) -> Answer:
        """Count and journal one answer of a batch (before its batch is marked done)."""
        engine = self.engine
        engine.stats.requests += 1
        if isinstance(answer, BackendError):
            engine.stats.failed_requests += 1
            return answer
        if request is not None:
            answer = engine.admit(request, answer)
            engine.account(answer)
        engine.record(key, answer)
        return answer


class BatchExecutor:
    """Runs each round through batches (see module); every call of a run, verification's too."""

    round_items = BATCH_ROUND_ITEMS

    def __init__(
        self,
        maker: Maker,
        engine: Engine,
        logger: CallLogger,
        budget: CallBudget | None = None,
        settings: BatchSettings | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.maker = maker
        self.engine = engine
        self.logger = logger
        self.budget = budget if budget is not None else CallBudget()
        self.settings = settings or BatchSettings()
        self.api = require_batch_api(engine.llm).batches()
        self.store = BatchStore(journal.directory if journal is not None else None)
        if engine.prices is not None:  # a batch run pays batch prices
            engine.prices = engine.prices.at_batch()

    async def map(self, items: Sequence[WorkItem], keep: Keep, maker: Any = None) -> None:
        maker = maker if maker is not None else self.maker
        engine = self.engine
        proxy = BatchEngine(engine, (self.api, self.store, self.settings))
        proxy.queue.active = len(items)

        async def one(item: WorkItem) -> None:
            try:
                results = await self._make(maker, proxy, item)
            except BudgetExceeded:
                return
            finally:
                proxy.queue.finished_row()
            for row, result in zip(item.rows, results, strict=True):
                keep(row, result)
                engine.progress.advance()

        tasks = [asyncio.ensure_future(one(item)) for item in items]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            await self._interrupted(proxy.queue, tasks)
            raise
        except BaseException:
            await _cancel(tasks)
            raise
        finally:
            engine.stats.finished = engine.clock.now()

    async def _make(self, maker: Any, proxy: BatchEngine, item: WorkItem) -> list[Result]:
        if item.members:  # one call, several rows (rows_per_call)
            grouped: GroupMaker = maker
            return await grouped.make_group(proxy, item, self.logger, self.budget)
        return [await maker.make(proxy, item, self.logger, budget=self.budget)]

    async def _interrupted(self, queue: BatchQueue, tasks: Sequence[asyncio.Future[None]]) -> None:
        """Ctrl-C: stop the rows; leave paid batches running unless told to cancel them."""
        await _cancel(tasks)
        if queue.sending is not None:
            await _cancel([queue.sending])
        running = [s.batch for s in self.store.running() if s.batch is not None]
        if not running:
            return
        if should_cancel(running, self.settings.cancel_on_interrupt):
            cancelled = await queue.cancel_running()
            log.warning("cancelled batch(es) %s", ", ".join(cancelled))
            return
        log.warning(
            "left %d submitted batch(es) running (%s): run again with the same journal (fabricator "
            "generate, same output folder; fabricator status RUN_DIR shows them) to collect their "
            "answers without paying twice, or set batch_cancel_on_interrupt to cancel them",
            len(running),
            ", ".join(running),
        )


async def _cancel(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["BATCH_ROUND_ITEMS", "BatchEngine", "BatchExecutor", "batch_settings", "require_batch_api"]
