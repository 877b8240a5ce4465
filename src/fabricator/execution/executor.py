"""One way to run a round of work items: ``Executor.map``, locally or on Ray.

The generator plans rounds of ``WorkItem``s and hands each to ``executor.map(items, keep)``;
``keep(item, row | Failure)`` is called for every item as soon as its result is ready. Both
executors share the contract of ``Engine.map``: a fatal error is raised, a spent budget ends the
round cleanly with ``engine.stats.stopped == "budget"``, and every counter lands in the driver
engine's ``RunStats``.

- ``LocalExecutor``: the async engine in this process, ``RowMaker.make`` per item.
- ``RayExecutor`` (``fabricator.execution.ray_executor``): the same ``RowMaker`` and engine
  settings on a pool of Ray actors, or Ray Data's vLLM processor for a ``RayVLLM`` backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..llms.base import LLM
from ..progress import ProgressReporter
from .engine import Engine
from .journal import Journal

if TYPE_CHECKING:  # rows imports the journal from this package: its names are for types only here
    from ..rows import CallBudget, CallLogger, Failure, RowMaker, WorkItem
    from .ray_executor import RayExecutor

    #: what ``keep`` receives for each item
    Result = dict[str, Any] | Failure
    Keep = Callable[[WorkItem, Result], None]

#: work items made and handed to an executor at a time (memory is bounded by this, not the plan)
LOCAL_ROUND_ITEMS = 4096
#: a Ray round is larger: it spreads over many actors, and each round pays the pool's start-up
RAY_ROUND_ITEMS = 32_768

KINDS = ("local", "ray")


@runtime_checkable
class Executor(Protocol):
    """Runs a round of work items; ``round_items`` is the round size it works best with."""

    round_items: int

    async def map(self, items: Sequence[WorkItem], keep: Keep) -> None: ...


class LocalExecutor:
    """The async engine in this process: ``engine.concurrency`` items in flight."""

    round_items = LOCAL_ROUND_ITEMS

    def __init__(
        self, maker: RowMaker, engine: Engine, logger: CallLogger, budget: CallBudget | None = None
    ) -> None:
        self.maker = maker
        self.engine = engine
        self.logger = logger
        if budget is None:
            from ..rows import CallBudget

            budget = CallBudget()
        self.budget = budget

    async def map(self, items: Sequence[WorkItem], keep: Keep) -> None:
        maker, engine, logger, budget = self.maker, self.engine, self.logger, self.budget

        async def handle(item: WorkItem) -> list[Result]:
            if item.members:  # one call, several rows (rows_per_call)
                from ..grouped import make_group

                return await make_group(maker, engine, item, logger, budget)
            return [await maker.make(engine, item, logger, budget=budget)]

        def keep_rows(item: WorkItem, results: list[Result]) -> None:
            for row, result in zip(item.rows, results, strict=True):
                keep(row, result)
            for _ in results[1:]:  # the engine counted the call; progress counts rows
                engine.progress.advance()

        await engine.map(items, handle, keep_rows)


def check_executor(kind: str, ray_actors: int | None, ray_address: str | None) -> str:
    """``"local"`` or ``"ray"``, checked before any work is done (Ray installed, options apply)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown engine {kind!r}", hint="use engine='local' (default) or 'ray'")
    if kind == "local":
        if ray_actors is not None or ray_address is not None:
            raise ConfigError(
                "ray_actors and ray_address only apply to engine='ray'",
                hint="pass engine='ray', or leave ray_actors and ray_address unset",
            )
        return kind
    if ray_actors is not None and ray_actors < 1:
        raise ConfigError(
            f"ray_actors must be at least 1, not {ray_actors!r}",
            hint="pass ray_actors=None (one actor per node) or a count >= 1",
        )
    from .ray_support import require_ray

    require_ray()
    return kind


def build_executor(
    kind: str,
    *,
    llm: LLM,
    maker: RowMaker,
    engine: Engine,
    logger: CallLogger,
    progress: ProgressReporter,
    journal: Journal | None,
    ray_actors: int | None = None,
    ray_address: str | None = None,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    budget: CallBudget | None = None,
    log_calls: bool | None = None,
) -> LocalExecutor | RayExecutor:
    """The executor of ``kind`` (see ``check_executor``) for one run.

    ``budget`` is the run's ``CallBudget`` (``max_prompt_calls``; ``None``: counted, not capped).
    ``log_calls`` says whether Ray actors send every prompt and answer back for ``logger`` (default:
    yes when a logger is given); a run without a call log passes ``False`` to spare the transfer.
    """
    kind = check_executor(kind, ray_actors, ray_address)
    if kind == "local":
        return LocalExecutor(maker, engine, logger, budget)
    from .ray_executor import RayExecutor

    return RayExecutor(
        llm,
        maker,
        engine,
        journal=journal,
        actors=ray_actors,
        address=ray_address,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        logger=logger,
        progress=progress,
        budget=budget,
        log_calls=log_calls,
    )


__all__ = [
    "KINDS",
    "LOCAL_ROUND_ITEMS",
    "RAY_ROUND_ITEMS",
    "Executor",
    "LocalExecutor",
    "build_executor",
    "check_executor",
]
