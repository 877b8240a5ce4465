"""Tuning sized before any model call: which candidates, how many held-out rows, how many calls.

The tuning calls come on top of the run's ``max_prompt_calls``, at most ``tune_budget`` (10 %) of
the calls the run plans; every candidate is scored on the same held-out rows, as many as that
budget pays for (at most ``MAX_ROWS``). Too few rows to tell candidates apart: no tuning, and
the plan says why.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from ...prompts import BasePrompt
from ...tables import decoded_rows
from ..rounds import Target
from ..task import Task
from .candidates import Candidate, Given, candidate_set
from .folds import Fold, split_folds

FOLDS = 5
MIN_ROWS = 10  # fewer held-out rows tell no candidate from another
MAX_ROWS = 400  # enough for an interval of about ± 0.03


@dataclass(frozen=True)
class TunePlan:
    """The tuning of one run: candidates, held-out folds of the pool, and their calls."""

    candidates: tuple[Candidate, ...]
    calibrations: tuple[str, ...]
    folds: tuple[Fold, ...]
    pool: Dataset
    gold: tuple[str, ...]  # each pool row's label
    prompt: BasePrompt
    column: str  # the pool's label column
    budget: int  # the most calls tuning may make
    skipped: str | None = None  # why the run is not tuned (the plan says it)

    @property
    def rows(self) -> int:
        return sum(len(f.held) for f in self.folds)

    @property
    def calls(self) -> int:
        """The most calls tuning makes (answers in the journal make fewer)."""
        return self.rows * sum(c.prompts_per_row for c in self.candidates)

    @property
    def target(self) -> dict[str, float]:
        """The labels' shares in the pool (what batch calibration aims at, as in the run)."""
        labels = self.prompt.label_options or []
        counts = Counter(self.gold)
        return {label: (counts[label] + 1) / (len(self.gold) + len(labels)) for label in labels}


def pool_labels(pool: Dataset, column: str, labels: list[str]) -> tuple[str, ...] | None:
    """Every pool row's label, or ``None`` when the pool is not labelled with the label options."""
    if column not in pool.column_names:
        return None
    gold = tuple(str(r[column]) for r in decoded_rows(pool.select_columns([column])))
    return gold if gold and set(gold) <= set(labels) else None


def plan_tuning(
    task: Task, target: Target, pool: Dataset | None, given: tuple[str | None, int | None, str | None],
    explicit: Mapping[str, Any],
) -> TunePlan | None:  # fmt: skip
    """The tuning of a run (``None``: nothing to tune); ``given`` is the paper's strategy, examples
    per class and sampling column as the user passed them, ``explicit`` the options they set."""
    prompt, labels = task.prompt, task.prompt.label_options or []
    if task.sampling.tune == "off" or task.kind.generates or task.scoring is None or pool is None:
        return None
    column = given[2] or prompt.target_column
    gold = pool_labels(pool, column, labels)
    if gold is None:
        return None
    counts = Counter(gold)
    smallest = min(counts.get(label, 0) for label in labels)
    run_calls = min(target.calls, target.wanted * target.per_row)
    setting = Given(
        given[0], given[1], explicit, bool(prompt.label_descriptions),
        smallest - math.ceil(smallest / FOLDS), max(1, target.calls // max(1, target.wanted)),
        len(task.rephrasings),
    )  # fmt: skip
    candidates, calibrations = candidate_set(setting)
    budget = math.floor(task.sampling.tune_budget * run_calls)
    cost = sum(c.prompts_per_row for c in candidates)
    rows = min(len(gold), MAX_ROWS, budget // cost) if cost else 0
    plan = TunePlan(tuple(candidates), calibrations, (), pool, gold, prompt, column, budget)
    if not candidates:
        return None
    if setting.smallest_class < 1 and any(c.strategy == "stratified" for c in candidates):
        return _skipped(plan, f"a label has {smallest} pool row(s): too few to hold any out")
    if rows < MIN_ROWS:
        why = (
            f"tune_budget={task.sampling.tune_budget:g} of {run_calls} calls is {budget} calls, "
            f"{rows} held-out rows for {len(candidates)} candidates (at least {MIN_ROWS} needed)"
        )
        return _skipped(plan, why)
    folds = split_folds(gold, rows, FOLDS, task.sampling.seed)
    return TunePlan(plan.candidates, calibrations, tuple(folds), pool, gold, prompt, column, budget)


def _skipped(plan: TunePlan, why: str) -> TunePlan:
    return TunePlan(
        (), plan.calibrations, (), plan.pool, plan.gold, plan.prompt, plan.column, plan.budget, why
    )


__all__ = ["FOLDS", "MAX_ROWS", "MIN_ROWS", "TunePlan", "plan_tuning", "pool_labels"]
