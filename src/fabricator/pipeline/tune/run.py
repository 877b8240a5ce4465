"""Tuning run: every candidate annotates the held-out pool rows through the run's own engine and
journal (a rerun pays nothing), the best held-out accuracy wins, and a temperature is fitted.

The annotation itself is handed in (``Annotate``: the generator runs each fold as a small
annotation of its own), so tuning stays in the pipeline and every call goes the one engine path.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from ...errors import ConfigError
from ...prompts import BasePrompt
from ...report import GenerationReport
from ...scoring.temperature import calibration_error, fit_temperature
from .candidates import Candidate
from .choice import Choice, Outcome
from .plan import TunePlan
from .scorer import Scores, accuracy, calibrated, clearly_better

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


Annotate = Callable[[SubRun], Awaitable[SubResult]]


def sub_result(report: GenerationReport, rows: int) -> SubResult:
    """A tuning annotation's report as each row's label scores (``None``: the row failed)."""
    scores: list[Scores | None] = [None] * rows
    for provenance in report.provenance:
        source = provenance.get("source")
        if isinstance(source, int) and 0 <= source < rows:
            scores[source] = provenance.get("label_scores")
    return SubResult(scores, report.budget.used)


def plain(prompt: BasePrompt) -> BasePrompt:
    """The prompt without its label descriptions (the "-plain" candidates)."""
    other = copy.copy(prompt)
    other.label_descriptions = {}
    return other


def sub_runs(plan: TunePlan, candidate: Candidate) -> list[SubRun]:
    """The candidate's annotations, one per fold: a row's examples come from the other folds."""
    prompt = plan.prompt if candidate.describe else plain(plan.prompt)
    out = []
    for fold in plan.folds:
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


async def choose(plan: TunePlan, annotate: Annotate) -> Choice:
    """Score every candidate on the held-out rows and choose (``_pick``), then fit the temperature."""
    gold = [plan.gold[i] for fold in plan.folds for i in fold.held]
    table, read, calls = await _score_all(plan, annotate, gold)
    best = _pick(table, read, gold)
    chosen = next(c for c in plan.candidates if c.name == best.name)
    final = read[f"{best.name}/{best.calibration}"]
    temperature, ece, before = _fit(final, gold, [len(f.held) for f in plan.folds])
    assert best.accuracy is not None
    return Choice(
        chosen, best.calibration, tuple(table), best.accuracy, len(gold), temperature, ece, before, calls
    )


async def _score_all(
    plan: TunePlan, annotate: Annotate, gold: Sequence[str]
) -> tuple[list[Outcome], dict[str, list[Scores | None]], int]:
    """Each candidate's folds annotated at once, read with each calibration: the table, the
    scores by ``name/calibration``, and the calls made."""
    labels = plan.prompt.label_options or []
    table: list[Outcome] = []
    read: dict[str, list[Scores | None]] = {}
    calls = 0
    for candidate in plan.candidates:
        try:
            # one fold at a time: each is a run with the backend's whole concurrency (in parallel
            # they would ask several times that of a server with a few slots)
            results = [await annotate(run) for run in sub_runs(plan, candidate)]
        except ConfigError as exc:  # e.g. "similar" without its embedder: the others still run
            table.append(Outcome(candidate.name, "off", None, candidate.prompts_per_row, str(exc)))
            continue
        calls += sum(r.calls for r in results)
        raw = [s for r in results for s in r.scores]
        for calibration in plan.calibrations:
            scores = raw if calibration == "off" else calibrated(raw, labels, plan.target)
            read[f"{candidate.name}/{calibration}"] = scores
            table.append(
                Outcome(candidate.name, calibration, accuracy(scores, gold), candidate.prompts_per_row)
            )
    return table, read, calls


def _pick(table: Sequence[Outcome], read: Mapping[str, list[Scores | None]], gold: Sequence[str]) -> Outcome:
    """The first candidate read the first way (the plain default: zero-shot, uncalibrated) unless
    another is clearly better on the same rows (``clearly_better``); of those, the most accurate
    (ties: the cheaper, then the earlier). A handful of held-out rows rarely moves the default."""
    scored = [o for o in table if o.accuracy is not None]
    if not scored:
        raise ConfigError(
            "tuning could not score any candidate: " + "; ".join(o.error or "" for o in table),
            hint="fix the error above, or pass tune='off'",
        )
    base = scored[0]
    key = lambda o: f"{o.name}/{o.calibration}"  # noqa: E731
    better = [o for o in scored[1:] if clearly_better(read[key(o)], read[key(base)], gold)]
    return max([base, *better], key=lambda o: (o.accuracy, -o.prompts_per_row, -scored.index(o)))


def _fit(
    scores: Sequence[Scores | None], gold: Sequence[str], sizes: Sequence[int]
) -> tuple[float, float, float]:
    """The temperature fitted on all answered rows, the ECE of each fold under a temperature
    fitted on the other folds (an honest estimate), and the ECE without a temperature; 1.0 where
    that estimate is no better than none."""
    fold_of = [f for f, size in enumerate(sizes) for _ in range(size)]
    answered = [(s, g, f) for s, g, f in zip(scores, gold, fold_of, strict=True) if s]
    rows, golds = [s for s, _, _ in answered], [g for _, g, _ in answered]
    temperature = fit_temperature(rows, golds)
    fitted = {
        f: fit_temperature([s for s, _, o in answered if o != f], [g for _, g, o in answered if o != f])
        for f in range(len(sizes))
    }
    ece = calibration_error(rows, golds, [fitted[f] for _, _, f in answered])
    before = calibration_error(rows, golds)
    if ece >= before:  # on rows it was not fitted on, the temperature does not help: none is used
        return 1.0, before, before
    return temperature, ece, before


__all__ = ["Annotate", "SubResult", "SubRun", "choose", "plain", "sub_result", "sub_runs"]
