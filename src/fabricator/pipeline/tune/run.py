"""Tuning run: every candidate annotates the held-out pool rows through the run's own engine and
journal (a rerun pays nothing), the best held-out accuracy wins, and a temperature is fitted.

The annotation itself is handed in (``Annotate``: the generator runs each fold as a small
annotation of its own), so tuning stays in the pipeline and every call goes the one engine path.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from ...errors import ConfigError
from ...prompts import BasePrompt
from ...report import GenerationReport
from ...scoring.temperature import calibration_error, fit_temperature, log_loss
from .candidates import Candidate
from .choice import Choice, Outcome
from .folds import Fold
from .plan import MIN_ROWS, TunePlan
from .pool_mix import PoolMix, fit_pool_mix
from .scorer import Scores, accuracy, calibrated, clearly_better

log = logging.getLogger("fabricator")

#: options of each tuning annotation: raw scores of every held-out row, nothing else written
SUB_RUN = {"tune": "off", "calibration": "off", "min_confidence": None, "log_path": None, "progress": False}


@dataclass(frozen=True)
class SubRun:
    """One fold of one candidate: the held-out rows annotated with examples from the rest."""

    prompt: BasePrompt
    fewshot: Dataset | None
    strategy: str | None
    per_class: int | None
    column: str
    unlabeled: Dataset
    calls: int  # its max_prompt_calls
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubResult:
    """Each annotated row's label scores (``None``: no answer), in row order, and the calls made."""

    scores: list[Scores | None]
    calls: int
    #: each row's value of the asked column (``None``: no answer), when asked (NER: the BIO tags)
    values: list[Any] | None = None


Annotate = Callable[[SubRun], Awaitable[SubResult]]


def sub_result(
    report: GenerationReport, rows: int, made: Dataset | None = None, column: str | None = None
) -> SubResult:
    """A tuning annotation's report as each row's label scores (``None``: the row failed); with
    ``made`` (its dataset, one row per provenance) and ``column``, each row's value of it too
    (a ``ClassLabel`` sequence decoded to its names)."""
    scores: list[Scores | None] = [None] * rows
    values: list[Any] | None = None if made is None or column is None else [None] * rows
    feature = getattr(made.features.get(column), "feature", None) if made is not None and column else None
    names = getattr(feature, "names", None)
    for at, provenance in enumerate(report.provenance):
        source = provenance.get("source")
        if isinstance(source, int) and 0 <= source < rows:
            scores[source] = provenance.get("label_scores")
            if values is not None and made is not None and column is not None:
                value = made[at][column]
                values[source] = [names[v] for v in value] if names else value
    return SubResult(scores, report.budget.used, values)


def plain(prompt: BasePrompt) -> BasePrompt:
    """The prompt without its label descriptions (the "-plain" candidates)."""
    other = copy.copy(prompt)
    other.label_descriptions = {}
    return other


def sub_runs(plan: TunePlan, candidate: Candidate, folds: Sequence[Fold] | None = None) -> list[SubRun]:
    """The candidate's annotations, one per fold (``folds``: one stage's; all by default): a row's
    examples come from the pool outside its fold."""
    prompt = plan.prompt if candidate.describe else plain(plan.prompt)
    out = []
    for fold in plan.folds if folds is None else folds:
        held = plan.pool.select(fold.held).select_columns(plan.prompt.input_columns)
        fewshot = None if candidate.zero_shot else plan.pool.select(fold.rest)
        calls = len(fold.held) * candidate.prompts_per_row
        options = {**candidate.options, **SUB_RUN}
        out.append(
            SubRun(
                prompt, fewshot, candidate.strategy, candidate.per_class, plan.column, held, calls, options
            )
        )
    return out


@dataclass
class Scored:
    """The held-out answers so far: each candidate's raw scores (a prefix of the rows, as far as
    it stayed in), the gold labels of the rows, errors, calls."""

    plan: TunePlan
    raw: dict[str, list[Scores | None]] = field(default_factory=dict)
    gold: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    calls: int = 0

    def read(self, name: str, calibration: str) -> list[Scores | None]:
        raw = self.raw[name]
        if calibration == "off":
            return raw
        return calibrated(raw, self.plan.prompt.label_options or [], self.plan.target)

    def accuracy(self, name: str, calibration: str) -> float:
        scores = self.read(name, calibration)
        return accuracy(scores, self.gold[: len(scores)])

    def best(self, name: str) -> str:
        """The calibration that reads ``name`` best (ties: the first)."""
        return max(self.plan.calibrations, key=lambda cal: self.accuracy(name, cal))

    def beats(self, one: tuple[str, str], other: tuple[str, str]) -> bool:
        """Whether setting ``one`` is clearly better than ``other`` on the rows both answered."""
        mine, theirs = self.read(*one), self.read(*other)
        n = min(len(mine), len(theirs))
        return clearly_better(mine[:n], theirs[:n], self.gold[:n])


async def choose(plan: TunePlan, annotate: Annotate) -> Choice:
    """Score the candidates stage by stage, the better half going on (``advancing``), choose
    among the finalists (``_pick``), then fit the temperature."""
    scored = Scored(plan)
    alive = list(plan.candidates)
    for stage, keep in zip(plan.stages, plan.keep, strict=True):
        alive = advancing(scored, alive, keep)
        for candidate in alive:
            try:
                # one fold at a time: each is a run with the backend's whole concurrency (in
                # parallel they would ask several times that of a server with a few slots)
                results = [await annotate(run) for run in sub_runs(plan, candidate, stage)]
            except ConfigError as exc:  # e.g. "similar" without its embedder: the others still run
                scored.errors[candidate.name] = str(exc)
                continue
            scored.calls += sum(r.calls for r in results)
            scored.raw.setdefault(candidate.name, []).extend(s for r in results for s in r.scores)
        alive = [c for c in alive if c.name not in scored.errors]
        scored.gold.extend(plan.gold[i] for fold in stage for i in fold.held)
    name, calibration = _pick(scored, alive)
    chosen = next(c for c in plan.candidates if c.name == name)
    final = scored.read(name, calibration)
    pool, pool_error = _pool_mix(plan, final, scored.gold)
    if pool is not None:
        final = list(pool.held_out)
    temperature, ece, before = _fit(final, scored.gold)
    return Choice(
        chosen, calibration, _table(scored), accuracy(final, scored.gold), len(scored.gold),
        temperature, ece, before, scored.calls, pool, pool_error,
    )  # fmt: skip


def _pool_mix(
    plan: TunePlan, scores: Sequence[Scores | None], gold: Sequence[str]
) -> tuple[PoolMix | None, str | None]:
    """The pool classifier's mix for the chosen setting, or why there is none (its extra missing)."""
    if not plan.pool_classifier:
        return None, None
    try:
        return fit_pool_mix(plan, scores, gold), None
    except ConfigError as exc:
        log.info("no pool classifier: %s", exc)
        return None, str(exc)


def _order(plan: TunePlan, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates, the prior setting first (ties go to it), then cheapest first."""
    return sorted(candidates, key=lambda c: (c.name != plan.base[0], plan.candidates.index(c)))


def advancing(scored: Scored, alive: list[Candidate], keep: int) -> list[Candidate]:
    """The ``keep`` candidates of the best held-out accuracy so far, read the better way (ties: the
    prior setting, then the cheaper). The prior gets no seat of its own here: with three candidates
    that would leave a single seat for the rest, and on TREC-6 it cost the best of them (the nearest
    examples, ahead on the first 30 rows); the prior counts in the final choice (``_pick``)."""
    if len(alive) <= keep:
        return alive
    ranked = sorted(_order(scored.plan, alive), key=lambda c: -scored.accuracy(c.name, scored.best(c.name)))
    top = ranked[:keep]  # stable: the prior order breaks ties
    return [c for c in scored.plan.candidates if c in top]


def _pick(scored: Scored, finalists: Sequence[Candidate]) -> tuple[str, str]:
    """The prior setting (or, gone, the most accurate finalist) unless another finalist read some
    way is clearly better on the same rows (``clearly_better``); of those, the most accurate (ties:
    the prior, then the cheaper). A handful of held-out rows rarely moves the prior."""
    plan = scored.plan
    if not finalists:
        raise ConfigError(
            "tuning could not score any candidate: " + "; ".join(scored.errors.values()),
            hint="fix the error above, or pass tune='off'",
        )
    settings = [(c.name, cal) for c in _order(plan, finalists) for cal in plan.calibrations]
    base = plan.base if plan.base in settings else max(settings, key=lambda s: scored.accuracy(*s))
    better = [s for s in settings if s != base and scored.beats(s, base)]
    return max([base, *better], key=lambda s: (scored.accuracy(*s), s == base, -settings.index(s)))


def _table(scored: Scored) -> tuple[Outcome, ...]:
    """One row per candidate and calibration, on the rows each was scored on."""
    table = []
    for c in scored.plan.candidates:
        if c.name in scored.errors and c.name not in scored.raw:
            table.append(Outcome(c.name, "off", None, c.prompts_per_row, scored.errors[c.name]))
            continue
        rows = len(scored.raw.get(c.name, []))
        for cal in scored.plan.calibrations:
            value = scored.accuracy(c.name, cal) if rows else None
            table.append(Outcome(c.name, cal, value, c.prompts_per_row, rows=rows))
    return tuple(table)


#: folds of the temperature's cross-fit (leave-one-out below this many rows)
TEMPERATURE_FOLDS = 10
#: fewer held-out rows fit no temperature: on SNLI's 12 (5 right) one of 3.0 passed the cross-fit
#: and doubled the run's ECE; twice the rows that tell candidates apart (``plan.MIN_ROWS``)
TEMPERATURE_MIN_ROWS = 2 * MIN_ROWS


def _fit(scores: Sequence[Scores | None], gold: Sequence[str]) -> tuple[float, float, float]:
    """The temperature fitted on all answered rows, the ECE of each row under a temperature
    fitted without its fold (an honest estimate), and the ECE without a temperature. The
    temperature is used only on ``TEMPERATURE_MIN_ROWS`` rows or more and where, fitted without
    each fold, it lowers that fold's log-loss (a proper score, steadier on a few dozen rows than
    the binned ECE); else 1.0. Ten folds (one row
    each, on fewer rows): each fit sees nine tenths of the rows, so it is close to the one used."""
    answered = [(s, g) for s, g in zip(scores, gold, strict=True) if s]
    rows, golds = [s for s, _ in answered], [g for _, g in answered]
    folds = min(TEMPERATURE_FOLDS, len(rows))
    fitted = [
        fit_temperature(
            [s for i, s in enumerate(rows) if i % folds != f],
            [g for i, g in enumerate(golds) if i % folds != f],
        )
        for f in range(folds)
    ]
    crossed = [fitted[i % folds] for i in range(len(rows))]
    before = calibration_error(rows, golds)
    if len(rows) < TEMPERATURE_MIN_ROWS or log_loss(rows, golds, crossed) >= log_loss(rows, golds):
        return 1.0, before, before
    return fit_temperature(rows, golds), calibration_error(rows, golds, crossed), before


__all__ = [
    "Annotate",
    "Scored",
    "SubResult",
    "SubRun",
    "advancing",
    "choose",
    "plain",
    "sub_result",
    "sub_runs",
]
