"""The filter stages a run's options ask for, in the order they run."""

from __future__ import annotations

from ...execution.calls import CallBudget
from ...execution.executor import Executor
from ...options import SamplingOptions
from ..task import Task
from . import Filter
from .copies import CopyFilter
from .judge import judge_of
from .near import NearDuplicateFilter
from .pool_check import PoolCheck
from .registry import FilterContext, named_filters
from .verification import Verifier


def filters_for(
    task: Task,
    sampling: SamplingOptions,
    executor: Executor,
    budget: CallBudget,
    judge_executor: Executor | None = None,
) -> list[Filter]:
    """Copies, near duplicates, the pool check (no call), verification (the dearest, on the fewest
    rows), the judge (on
    ``judge_executor``: a separate judge backend, else the run's), then the filters the
    ``filters`` option names (``registry``). A run on canned answers (``dummy_response``)
    filters nothing: repeats are fine, no teacher to ask."""
    if task.kind.canned:
        return []
    stages: list[Filter] = []
    if sampling.dedup and task.kind.generates:
        stages.append(CopyFilter(task))
    near = NearDuplicateFilter.of(task, sampling)
    if near is not None:
        stages.append(near)
    checked = PoolCheck.of(task, sampling)
    if checked is not None:
        stages.append(checked)
    if sampling.verify:
        stages.append(Verifier(task, sampling, executor, budget))
    judge = judge_of(task, sampling, judge_executor or executor, budget)
    if judge is not None:
        stages.append(judge)
    stages += named_filters(sampling.filters or (), FilterContext(task, sampling, executor, budget))
    return stages


__all__ = ["filters_for"]
