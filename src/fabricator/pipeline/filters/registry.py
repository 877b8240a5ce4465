"""Filters by name, so a recipe's ``generation: {filters: [{name: ..., ...}]}`` can add any of them.

A filter is registered in code (``register_filter``) or declared by an installed package as an
entry point of the group ``fabricator.filters``, as backends and output formats are. What is
registered is a factory: called with the run's ``FilterContext`` and the recipe's other keys, it
returns a stage with ``async def apply(self, batch: Round) -> Kept``::

    [project.entry-points."fabricator.filters"]
    too-short = "my_package.filters:TooShort"

A row the stage drops is a ``Failure`` it returns (``FailureKind.FILTERED`` and why, for reasons of
its own); the next round replaces it. The built-in stages are registered here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ...errors import ConfigError
from ...execution.calls import CallBudget
from ...execution.executor import Executor
from ...options import SamplingOptions, describe
from ...plugins import Registry, checked_call, factories
from ..task import Task
from . import Filter
from .copies import CopyFilter
from .near import NearDuplicateFilter
from .verification import Verifier

GROUP = "fabricator.filters"


@dataclass(frozen=True)
class FilterContext:
    """What a filter may need to be made: the task (its columns, few-shot pool), the run's sampling
    options, and, for a filter that asks the model, the executor and the call budget."""

    task: Task
    sampling: SamplingOptions
    executor: Executor
    budget: CallBudget


FilterFactory = Callable[..., Filter]


_ACCEPT = factories("filter", "a filter class or a function of (context, **options) that returns one")
FILTERS: Registry[FilterFactory] = Registry("filter", GROUP, _ACCEPT, "register_filter")


def register_filter(name: str, factory: FilterFactory) -> None:
    """Make ``factory`` (called as ``factory(context, **options)``) available as ``name``."""
    FILTERS.register(name, factory)


def filter_names() -> list[str]:
    """Every filter a recipe may name."""
    return FILTERS.names()


def make_filter(name: str, context: FilterContext, options: Mapping[str, Any]) -> Filter:
    """The filter ``name`` made for this run (a key it does not take is a ``ConfigError``)."""
    return checked_call(
        FILTERS.get(name), f"filter {name!r}", "check the keys of that filter", context, **options
    )


def named_filters(specs: Iterable[Mapping[str, Any]], context: FilterContext) -> list[Filter]:
    """The filters a run's ``filters`` option names, in its order (each spec: ``name`` and options)."""
    return [
        make_filter(spec["name"], context, {k: v for k, v in spec.items() if k != "name"}) for spec in specs
    ]


def _copies(context: FilterContext) -> Filter:
    return CopyFilter(context.task)


def _near_duplicates(
    context: FilterContext, minhash: float | None = None, embedding: float | None = None
) -> Filter:
    thresholds = {"dedup_minhash": minhash, "dedup_embedding": embedding}
    sampling = _with(context.sampling, {k: v for k, v in thresholds.items() if v is not None})
    made = NearDuplicateFilter.of(context.task, sampling)
    if made is None:
        raise ConfigError(
            "the near-duplicates filter needs a threshold", hint="give it minhash: or embedding: (0 to 1]"
        )
    return made


def _verification(context: FilterContext, min_confidence: float | None = None) -> Filter:
    changes = {} if min_confidence is None else {"verify_min_confidence": min_confidence}
    return Verifier(context.task, _with(context.sampling, changes), context.executor, context.budget)


def _with(sampling: SamplingOptions, changes: Mapping[str, Any]) -> SamplingOptions:
    """``sampling`` with a filter's own keys in place of the run's, checked as options are."""
    if not changes:
        return sampling
    try:
        return SamplingOptions.model_validate({**sampling.model_dump(), **changes})
    except ValidationError as exc:
        raise ConfigError(
            f"invalid filter option(s): {describe(exc)}", hint="see docs/generation.md"
        ) from None


register_filter("copies", _copies)
register_filter("near-duplicates", _near_duplicates)
register_filter("verification", _verification)

__all__ = [
    "FILTERS",
    "GROUP",
    "FilterContext",
    "FilterFactory",
    "filter_names",
    "make_filter",
    "named_filters",
    "register_filter",
]
