"""Tuning sized before any model call: which candidates, how many held-out rows, how many calls.

The tuning calls come on top of the run's ``max_prompt_calls``, at most ``tune_budget`` (10 %) of
the calls the run plans. They are spent in stages (successive halving): every candidate is scored
on the first stage's rows, the better half goes on to the next stage's new rows, and so on down to
two finalists, which are scored on the rows of every stage. The budget thus pays for more rows
where they decide (between the last two) than one flat stage would. Too few rows for the
finalists to tell apart (``MIN_ROWS``): no tuning, and the plan says why.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from datasets import Dataset

from ...prompts import BasePrompt
from ...tables import decoded_rows
from ..rounds import Target
from ..task import Task
from .candidates import Candidate, Given, base_of, candidate_set
from .folds import Fold, split_stages

FOLDS = 2  # per stage: a row's examples come from the pool outside its fold
MIN_ROWS = 10  # fewer held-out rows (for the finalists) tell no candidate from another
MAX_ROWS = 400  # enough for an interval of about ± 0.03


def survivors(candidates: int) -> tuple[int, ...]:
    """How many candidates each stage scores: all, then the better half, down to two."""
    out = [candidates]
    while out[-1] > 2:
        out.append(max(2, math.ceil(out[-1] / 2)))
    return tuple(out)


@dataclass(frozen=True)
class TunePlan:
    """The tuning of one run: candidates, held-out folds of the pool, and their calls."""

    candidates: tuple[Candidate, ...]
    calibrations: tuple[str, ...]
    stages: tuple[tuple[Fold, ...], ...]  # each stage's folds of new held-out rows
    pool: Dataset
    gold: tuple[str, ...]  # each pool row's label
    prompt: BasePrompt
    column: str  # the pool's label column
    budget: int  # the most calls tuning may make
    skipped: str | None = None  # why the run is not tuned (the plan says it)
    base: tuple[str, str] = ("", "off")  # the prior setting (name, calibration): kept unless beaten
    pool_classifier: bool = False  # mix a classifier fitted on the pool into the chosen setting

    @property
    def folds(self) -> tuple[Fold, ...]:
        """Every stage's folds, in order."""
        return tuple(f for stage in self.stages for f in stage)

    @property
    def keep(self) -> tuple[int, ...]:
        """How many candidates each stage scores."""
        return survivors(len(self.candidates))[: len(self.stages)]

    @property
    def rows(self) -> int:
        """The held-out rows the finalists are scored on (every stage's)."""
        return sum(len(f.held) for f in self.folds)

    @property
    def calls(self) -> int:
        """The most calls tuning makes (answers in the journal make fewer)."""
        return sum(
            sum(len(f.held) for f in stage) * _priciest(self.candidates, k)
            for stage, k in zip(self.stages, self.keep, strict=True)
        )

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
    if not candidates:
        return None
    budget = math.floor(task.sampling.tune_budget * run_calls)
    keep = survivors(len(candidates))
    per_stage = min(
        len(gold) // len(keep), MAX_ROWS // len(keep), budget // sum(_priciest(candidates, k) for k in keep)
    )
    base = base_of(candidates, calibrations)
    plan = TunePlan(
        tuple(candidates), calibrations, (), pool, gold, prompt, column, budget, base=base,
        pool_classifier=task.sampling.pool_classifier == "auto",
    )  # fmt: skip
    if setting.smallest_class < 1 and any(c.strategy == "stratified" for c in candidates):
        return replace(
            plan, candidates=(), skipped=f"a label has {smallest} pool row(s): too few to hold any out"
        )
    if per_stage * len(keep) < MIN_ROWS:
        why = (
            f"tune_budget={task.sampling.tune_budget:g} of {run_calls} calls is {budget} calls, "
            f"{per_stage * len(keep)} held-out rows for {len(candidates)} candidates "
            f"(at least {MIN_ROWS} needed)"
        )
        return replace(plan, candidates=(), skipped=why)
    stages = split_stages(gold, per_stage, len(keep), FOLDS, task.sampling.seed)
    return replace(plan, stages=tuple(tuple(stage) for stage in stages))


def _priciest(candidates: Sequence[Candidate], k: int) -> int:
    """The calls of one held-out row for the ``k`` costliest candidates (a stage's most)."""
    return sum(sorted((c.prompts_per_row for c in candidates), reverse=True)[:k])


__all__ = ["FOLDS", "MAX_ROWS", "MIN_ROWS", "TunePlan", "plan_tuning", "pool_labels", "survivors"]
