"""The round loop: plan a round, execute it, run the filters, and top up the rows they dropped."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..execution.calls import CallBudget
from ..execution.executor import Executor, Result
from ..execution.stats import RunStats
from ..execution.work import Failure, Row, WorkItem
from ..progress import ProgressReporter
from .filters import Filter, Round
from .plan import Planner

#: re-asks an annotation may make beyond ``max_prompt_calls``, as a share of its rows
REASK_SHARE = 0.25

log = logging.getLogger("fabricator")


@dataclass(frozen=True)
class Target:
    """What a run aims at: ``wanted`` rows, with ``calls`` model calls, ``per_row`` set aside a row."""

    wanted: int
    calls: int
    per_row: int
    per_call: int = 1  # rows one call writes
    generation: bool = True  # generation tops up dropped rows; an annotation has one row per input


class Steering(Protocol):
    """What may change the next rows' labels and examples between rounds (the student loop,
    ``pipeline.student_loop``): where a round must end, what to do after it, how to top up."""

    def cut(self, planned: int, stop: int) -> int: ...

    def after(self, planned: int, rounds: Rounds) -> None: ...

    def top_up(self, planner: Planner, kept: Counter[str], rows: int) -> None: ...


class Rounds:
    """Runs the rounds of one ``generate`` call and keeps what they made.

    Rows of a round go to ``made`` as they come; after the round the filters (each a stage with one
    interface, ``fabricator.pipeline.filters``) decide which are kept.
    """

    def __init__(
        self, planner: Planner, executor: Executor, filters: Sequence[Filter], steer: Steering | None = None
    ) -> None:
        self.planner = planner
        self.executor = executor
        self.filters = filters
        self.steer = steer
        self.rows: dict[int, Row] = {}
        self.failures: dict[int, Failure] = {}
        self.made: dict[int, Row] = {}  # the current round's rows, not yet filtered
        self.asked: dict[int, str | None] = {}  # label-conditioned: each item's label

    def kept(self) -> dict[int, Row]:
        """Every row made so far (an interrupted round's unfiltered ones too)."""
        return {**self.rows, **self.made}

    def keep(self, item: WorkItem, result: Result) -> None:
        self.asked[item.index] = item.label
        if isinstance(result, Failure):
            self.failures[item.index] = result
        else:
            self.made[item.index] = result

    async def run(
        self, target: Target, budget: CallBudget, stats: RunStats, progress: ProgressReporter
    ) -> None:
        """Rounds of items made on demand (never the whole plan) until the target is planned."""
        planned, goal = 0, self.planner.reserve(budget, target.wanted, target.per_row, first=True)
        if not target.generation and goal < target.wanted:
            log.warning(
                "max_prompt_calls (%d) covers %d of %d rows at %d prompts a row (votes); "
                "raise it to %d to annotate them all",
                target.calls,
                goal,
                target.wanted,
                target.per_row,
                target.wanted * target.per_row,
            )
        progress.start(target.wanted)
        while planned < goal:
            stop = min(goal, planned + self.executor.round_items * target.per_call)
            if self.steer is not None:
                stop = self.steer.cut(planned, stop)
            items = self.planner.items(planned, stop)
            indices = [row.index for item in items for row in item.rows]
            planned += len(indices)
            await self.executor.map(items, self.keep)
            await self.filter(Round({}, indices, [i for item in items for i in item.fewshot_ids]))
            if stats.stopped:
                break
            if self.steer is not None:
                self.steer.after(planned, self)
            if planned == goal and target.generation and len(self.rows) < target.wanted:
                goal += self.top_up(target, budget, planned)
                progress.start(goal)

    async def filter(self, batch: Round) -> None:
        """The round's rows through every filter in turn; what each drops becomes a failure."""
        batch = Round({i: self.made[i] for i in sorted(self.made)}, batch.indices, batch.shown)
        for stage in self.filters:
            kept = await stage.apply(batch)
            self.failures.update(kept.failures)
            batch = batch.then(kept)
        self.rows.update(batch.rows)
        self.made = {}

    def top_up(self, target: Target, budget: CallBudget, planned: int) -> int:
        """Plan more rows for those the filters or failures cost, while calls (and planned rows)
        are left, with the labels the kept rows lack; how many."""
        room = min(target.wanted - len(self.rows), target.calls * target.per_call - planned)
        more = self.planner.reserve(budget, room, target.per_row)
        by_label = Counter(label for i in self.rows if (label := self.asked.get(i)) is not None)
        if self.steer is not None:
            self.steer.top_up(self.planner, by_label, more)
        else:
            self.planner.top_up(by_label, target.wanted, more)
        return more


__all__ = ["Rounds", "Steering", "Target"]
