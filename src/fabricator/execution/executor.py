"""One way to run a round of work items: ``Executor.map``, locally (here) or on Ray.

The generator plans rounds of ``WorkItem``s and hands each to ``executor.map(items, keep)``;
``keep(item, row | Failure)`` is called for every item as soon as its result is ready. Every call
of a run goes through its executor (rows, and verification's with ``maker=``), so on Ray none runs
in the driver. Both executors share the contract of ``Engine.map``: a fatal error is raised, a
spent budget ends the round cleanly with ``engine.stats.stopped == "budget"``, and every counter
lands in the driver engine's ``RunStats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .calls import CallBudget, CallLogger, EngineLike
from .engine import Engine
from .work import Result, WorkItem

Keep = Callable[[WorkItem, Result], None]

#: work items made and handed to an executor at a time (memory is bounded by this, not the plan)
LOCAL_ROUND_ITEMS = 4096
#: a Ray round is larger: it spreads over many actors, and each round pays the pool's start-up
RAY_ROUND_ITEMS = 32_768


class Maker(Protocol):
    """What makes one item's row(s) (``fabricator.pipeline.rows.RowMaker``)."""

    async def make(
        self,
        engine: EngineLike,
        item: WorkItem,
        logger: CallLogger,
        source: Mapping[str, Any] | None = None,
        budget: CallBudget | None = None,
    ) -> Result: ...


class GroupMaker(Maker, Protocol):
    """A maker that also writes several rows from one call (``rows_per_call``)."""

    async def make_group(
        self, engine: EngineLike, item: WorkItem, logger: CallLogger, budget: CallBudget
    ) -> list[Result]: ...


@runtime_checkable
class Executor(Protocol):
    """Runs a round of work items; ``round_items`` is the round size it works best with.

    ``maker``: another row maker for this round (verification's), instead of the run's.
    """

    round_items: int

    async def map(self, items: Sequence[WorkItem], keep: Keep, maker: Any = None) -> None: ...


class LocalExecutor:
    """The async engine in this process: ``engine.concurrency`` items in flight."""

    round_items = LOCAL_ROUND_ITEMS

    def __init__(
        self, maker: Maker, engine: Engine, logger: CallLogger, budget: CallBudget | None = None
    ) -> None:
        self.maker = maker
        self.engine = engine
        self.logger = logger
        self.budget = budget if budget is not None else CallBudget()

    async def map(self, items: Sequence[WorkItem], keep: Keep, maker: Any = None) -> None:
        engine, logger, budget = self.engine, self.logger, self.budget
        maker = maker if maker is not None else self.maker

        async def handle(item: WorkItem) -> list[Result]:
            if item.members:  # one call, several rows (rows_per_call)
                grouped: GroupMaker = maker
                return await grouped.make_group(engine, item, logger, budget)
            return [await maker.make(engine, item, logger, budget=budget)]

        def keep_rows(item: WorkItem, results: list[Result]) -> None:
            for row, result in zip(item.rows, results, strict=True):
                keep(row, result)
            for _ in results[1:]:  # the engine counted the call; progress counts rows
                engine.progress.advance()

        await engine.map(items, handle, keep_rows)


__all__ = [
    "LOCAL_ROUND_ITEMS",
    "RAY_ROUND_ITEMS",
    "Executor",
    "GroupMaker",
    "Keep",
    "LocalExecutor",
    "Maker",
    "Result",
]
