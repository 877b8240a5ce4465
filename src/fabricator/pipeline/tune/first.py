"""Tuning before the run: the choice made on the held-out pool rows, then the run planned again
with it. One place for classification (``run.choose``, by accuracy) and NER (``span_choice``, by
entity F1), so the generator's trunk only asks for a plan."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from datasets import Dataset

from ...prompts import BasePrompt
from .candidates import SELECTION_OPTIONS, untuned
from .run import Annotate, choose, plain
from .span_choice import choose_spans
from .spans import SpanPlan, span_default

if TYPE_CHECKING:
    from ..prepare import RunPlan

log = logging.getLogger("fabricator")


class Replan(Protocol):
    """The run planned again with another prompt, pool, selection and options (``generate``'s
    other arguments unchanged)."""

    def __call__(
        self, prompt: BasePrompt, pool: Dataset | None, strategy: str | None, per_class: int | None,
        **options: Any,
    ) -> RunPlan: ...  # fmt: skip


def untuned_plan(
    planned: RunPlan, prompt: BasePrompt, pool: Dataset | None, replan: Replan, llm: Any,
    explicit: Mapping[str, Any],
) -> RunPlan | None:  # fmt: skip
    """The run planned with a default selection, or ``None`` where ``planned`` stands: NER with a
    labelled pool gets its default examples (``spans.span_default``); a run given a pool and
    nothing else, too small to tune, the prior's shared draw instead of the whole pool in every
    prompt (which may not even fit the context)."""
    tuning, task = planned.tuning, planned.task
    if isinstance(tuning, SpanPlan):
        return span_default(
            tuning,
            lambda c: replan(prompt, pool if c.examples else None, c.strategy, None, **c.options, tune="off"),
            llm,
        )
    selected = task.strategy is not None or task.per_class or any(k in explicit for k in SELECTION_OPTIONS)
    if tuning is None or not tuning.skipped or selected:
        return None
    c = untuned(tuning.gold, prompt.label_options or [])
    fallback = replan(prompt, None if c.zero_shot else pool, c.strategy, c.per_class, **c.options, tune="off")
    shown = "zero-shot" if c.zero_shot else f"one shared draw of {c.per_class} pool rows per label"
    return replace(fallback, tuning=replace(tuning, skipped=f"{tuning.skipped}; the prompts show {shown}"))


async def tuned_plan(
    planned: RunPlan,
    prompt: BasePrompt,
    pool: Dataset | None,
    replan: Replan,
    annotate: Annotate,
    span_annotate: Callable[[SpanPlan], Annotate],
) -> RunPlan:
    """``planned`` as tuning leaves it: unchanged where nothing is tuned, else planned again with
    the setting chosen on the pool, the choice kept on its task (``Task.tuned``)."""
    tuning = planned.tuning
    if tuning is None:
        return planned
    if tuning.skipped:
        log.warning("not tuned: %s", tuning.skipped)
    if not tuning.candidates:
        return planned
    if isinstance(tuning, SpanPlan):  # NER: the examples chosen by entity F1
        picked = await choose_spans(tuning, span_annotate(tuning))
        log.warning("%s", picked.sentence())
        s = picked.candidate
        if s != tuning.default:  # the default is planned already
            planned = replan(prompt, None if s.zero_shot else pool, s.strategy, None, **s.options, tune="off")
        planned.task.tuned = picked
        return planned
    choice = await choose(tuning, annotate)
    log.warning("%s", choice.sentence())
    c = choice.candidate
    planned = replan(
        prompt if c.describe else plain(prompt), None if c.zero_shot else pool, c.strategy, c.per_class,
        **choice.options(), tune="off",
    )  # fmt: skip
    planned.task.tuned = choice
    return planned


__all__ = ["Replan", "tuned_plan", "untuned_plan"]
