"""A run made ready before any model call: its task resolved and checked, and what it aims at.

``RunPlan`` is the one object the run walks and ``fabricator plan`` counts: the recipe runner
resolves it once, checks it against the budget, and hands the same object to the generator, so
neither the task (a "similar" pool is embedded here) nor the plan is made twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from datasets import Dataset

from ..attributes import Proposal, proposals
from ..errors import ConfigError
from ..execution.calls import CallBudget
from .filters.verification import check_verification
from .plan import Planner
from .rounds import REASK_SHARE, Target
from .setup import target_of
from .task import Task
from .tune.plan import TunePlan, plan_tuning
from .tune.spans import plan_spans


@dataclass(frozen=True)
class RunPlan:
    """A resolved task, the rows and calls it aims at, and the attribute proposals made first."""

    task: Task
    target: Target
    asks: tuple[Proposal, ...]  # the attribute values still to be asked of the model, in order
    tuning: TunePlan | None = None  # settings to choose on the labelled pool first (``pipeline.tune``)

    def planner(self) -> Planner:
        """A fresh planner of the task: the run's seeded sequence from its start."""
        return Planner(self.task, self.task.sampling.system_prompt)

    def first_rows(self, calls: int) -> tuple[Planner, int]:
        """A fresh planner and how many rows the run's first asks cover with ``calls`` calls (each
        row with its label check or votes), as the run reserves them before its first round."""
        planner = self.planner()
        target = self.target
        return planner, planner.reserve(CallBudget(calls), target.wanted, target.per_row, first=True)


def plan_of(task: Task, calls: int, samples: int) -> RunPlan:
    """The plan of a resolved ``task`` with ``max_prompt_calls`` and ``num_samples_to_generate``."""
    check_verification(task, task.sampling)
    return RunPlan(task, target_of(task, calls, samples), tuple(proposals(task, task.sampling)))


def with_tuning(
    plan: RunPlan,
    pool: Dataset | None,
    given: tuple[str | None, int | None, str | None],
    explicit: Mapping[str, Any],
) -> RunPlan:
    """``plan`` with its tuning (``pipeline.tune``) when its few-shot pool is labelled: ``given``
    is the paper's strategy, examples per class and sampling column as passed, ``explicit`` the
    options the user set (kept; tuning chooses the rest)."""
    tuning = plan_tuning(plan.task, plan.target, pool, given, explicit)
    if tuning is None:  # NER with a labelled pool: its default selection, tuned by pool F1
        tuning = plan_spans(plan.task, plan.target, pool, given, explicit)
    return replace(plan, tuning=tuning) if tuning is not None else plan


def reask_allowance(plan: RunPlan) -> int:
    """Calls past ``max_prompt_calls`` for an annotation's re-asks (a parsed answer that was
    wrong, asked again with the error), so a cap of one call a row still annotates every row;
    0 where nothing is re-asked (generation, scored labels, free text)."""
    task = plan.task
    if task.kind.generates or task.scoring is not None or not task.format.reask:
        return 0
    return math.ceil(REASK_SHARE * plan.target.wanted)


def calls_for_rows(plan: RunPlan) -> int:
    """The calls left for the rows after the attribute proposals (made first, from the same cap);
    ``ConfigError`` when that is not even one row's first ask (and its label check)."""
    calls, asks = plan.target.calls, len(plan.asks)
    spare = calls - asks
    if spare < (2 if plan.task.verified else 1):
        raise ConfigError(
            f"max_prompt_calls ({calls}) leaves no call for the rows after the {asks} attribute proposal(s)",
            hint="raise max_prompt_calls (each proposal is one call), or give the values as lists",
        )
    return spare


__all__ = ["REASK_SHARE", "RunPlan", "calls_for_rows", "plan_of", "reask_allowance", "with_tuning"]
