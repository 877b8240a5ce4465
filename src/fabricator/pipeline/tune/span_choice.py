"""NER tuning run: each candidate annotates the held-out pool sentences through the run's own
engine and journal (a rerun pays nothing), scored by micro entity F1; the default is kept unless
another candidate is clearly better (a sign test on per-sentence F1, as ``scorer.clearly_better``
does on right and wrong rows).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from datasets import Dataset

from ...errors import ConfigError
from ...evaluation.metrics import ner_metrics
from ...options import GenerationOptions
from .candidates import Candidate
from .run import SUB_RUN, Annotate, SubResult, SubRun, sub_result
from .spans import SpanCandidate, SpanPlan, describe

Tags = Sequence[str]
#: bootstrap resamples of the held-out sentences for the F1's interval
RESAMPLES = 400


@dataclass(frozen=True)
class SpanOutcome:
    """One candidate's row of the table: its held-out micro F1 (``None``: it could not run)."""

    name: str
    f1: float | None
    precision: float | None
    recall: float | None
    prompts_per_row: int
    error: str | None = None


@dataclass(frozen=True)
class SpanChoice:
    """The chosen selection, its held-out F1 (with a bootstrap interval), and the table."""

    candidate: SpanCandidate
    table: tuple[SpanOutcome, ...]
    f1: float
    margin: float  # half the width of the 95 % bootstrap interval over the held-out sentences
    rows: int  # held-out pool sentences each candidate was scored on
    calls: int  # model calls tuning made (journaled answers are free)
    default: str  # the candidate kept unless another is clearly better
    temperature: float = 1.0  # entity confidences are not rescaled (``Task.tuned``)
    pool: None = None  # no pool classifier is mixed into entity spans

    @property
    def name(self) -> str:
        return self.candidate.name

    def sentence(self) -> str:
        """``tuning chose similar-6: F1 0.80 ± 0.05 on 40 pool sentences (...)``."""
        kept = "the default" if self.name == self.default else f"clearly better than {self.default}"
        return (
            f"tuning chose {self.name} ({kept}): entity F1 {self.f1:.2f} ± {self.margin:.2f} on "
            f"{self.rows} held-out pool sentences; {describe(self.candidate)} ({self.calls} tuning calls)"
        )

    def summary(self) -> dict[str, Any]:
        """The choice for the run's summary (``Choice.summary``'s shape, metric ``f1``)."""

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "chosen": self.name,
            "metric": "f1",
            "f1": round(self.f1, 4),
            "margin": round(self.margin, 4),
            "rows": self.rows,
            "calls": self.calls,
            "default": self.default,
            "candidates": [
                {
                    "setting": o.name,
                    "f1": rounded(o.f1),
                    "precision": rounded(o.precision),
                    "recall": rounded(o.recall),
                    "prompts_per_row": o.prompts_per_row,
                    "rows": 0 if o.f1 is None else self.rows,  # every candidate on every held-out sentence
                    **({"error": o.error} if o.error else {}),
                }
                for o in self.table
            ],
        }


def span_sub_runs(plan: SpanPlan, candidate: Candidate) -> list[SubRun]:
    """The candidate's annotations, one per fold: the held-out sentences (their tokens only),
    with examples from the other folds' sentences."""
    assert plan.entities is not None
    tokens = plan.entities.tokens_column
    out = []
    for fold in plan.folds:
        held = plan.pool.select(fold.held).select_columns([tokens])
        fewshot = None if candidate.zero_shot else plan.pool.select(fold.rest)
        options = {**candidate.options, **SUB_RUN}
        out.append(
            SubRun(plan.prompt, fewshot, candidate.strategy, None, plan.column, held, len(fold.held), options)
        )
    return out


def _counts(gold: Tags, predicted: Tags | None) -> tuple[int, int, int]:
    """A sentence's right, predicted and gold entities (no answer predicts none)."""
    m = ner_metrics([list(gold)], [None if predicted is None else list(predicted)])
    tp = round(m["precision"] * m["n_predicted_entities"])
    return tp, m["n_predicted_entities"], m["support"]


def _f1(counts: Sequence[tuple[int, int, int]]) -> tuple[float, float, float]:
    tp, pred, true = (sum(c[i] for c in counts) for i in range(3))
    precision = tp / pred if pred else 0.0
    recall = tp / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def sentence_f1(counts: tuple[int, int, int]) -> float:
    """One sentence's F1; a sentence with no entity, none predicted, is all right (1.0)."""
    tp, pred, true = counts
    return 1.0 if pred == true == 0 else 2 * tp / (pred + true)


def clearly_better_f1(
    mine: Sequence[tuple[int, int, int]], base: Sequence[tuple[int, int, int]], z: float = 1.0
) -> bool:
    """Whether ``mine`` beats ``base`` on the same sentences by more than chance: the sentences
    where one has the higher F1, counted both ways, differ by more than ``z`` standard deviations
    of a fair coin over them (a sign test on per-sentence F1)."""
    pairs = [(sentence_f1(m), sentence_f1(b)) for m, b in zip(mine, base, strict=True)]
    wins = sum(m > b for m, b in pairs)
    losses = sum(b > m for m, b in pairs)
    return wins - losses > z * math.sqrt(wins + losses)


def bootstrap_margin(counts: Sequence[tuple[int, int, int]], seed: int = 0) -> float:
    """Half the width of the 95 % interval of the micro F1, sentences resampled (seeded)."""
    if not counts:
        return 1.0
    rng = random.Random(f"span-f1:{seed}")
    values = sorted(_f1([counts[rng.randrange(len(counts))] for _ in counts])[0] for _ in range(RESAMPLES))
    low, high = values[int(0.025 * RESAMPLES)], values[int(0.975 * RESAMPLES) - 1]
    return (high - low) / 2


async def choose_spans(plan: SpanPlan, annotate: Annotate) -> SpanChoice:
    """Score every candidate by micro entity F1 on the held-out pool sentences and choose: the
    default unless another is clearly better (``clearly_better_f1``); of those, the highest F1
    (ties: the default, then the earlier)."""
    gold = [plan.tags[i] for fold in plan.folds for i in fold.held]
    table: list[SpanOutcome] = []
    read: dict[str, list[tuple[int, int, int]]] = {}
    calls = 0
    for candidate in plan.candidates:
        try:  # one fold at a time: each a run with the backend's whole concurrency
            results = [await annotate(run) for run in span_sub_runs(plan, candidate)]
        except ConfigError as exc:  # e.g. the embedder failed to load: the others still run
            table.append(SpanOutcome(candidate.name, None, None, None, candidate.prompts_per_row, str(exc)))
            continue
        calls += sum(r.calls for r in results)
        predicted = [v for r in results for v in (r.values or [None] * len(r.scores))]
        read[candidate.name] = [_counts(g, p) for g, p in zip(gold, predicted, strict=True)]
        f1, precision, recall = _f1(read[candidate.name])
        table.append(SpanOutcome(candidate.name, f1, precision, recall, candidate.prompts_per_row))
    scored = [o for o in table if o.f1 is not None]
    if not scored:
        raise ConfigError(
            "tuning could not score any candidate: " + "; ".join(o.error or "" for o in table),
            hint="fix the error above, or pass tune='off'",
        )
    base = next((o for o in scored if o.name == plan.default.name), scored[0])
    better = [o for o in scored if o is not base and clearly_better_f1(read[o.name], read[base.name])]
    order = [base, *better]
    best = max(order, key=lambda o: (o.f1 or 0.0, -order.index(o)))
    chosen = next(c for c in plan.candidates if c.name == best.name)
    assert isinstance(chosen, SpanCandidate) and best.f1 is not None
    margin = bootstrap_margin(read[best.name])
    return SpanChoice(chosen, tuple(table), best.f1, margin, len(gold), calls, plan.default.name)


def span_annotator(
    make: Callable[[], Any], options: GenerationOptions, timeout: float | None, plan: SpanPlan
) -> Annotate:
    """Tuning's NER annotations: each fold a small run of its own (``make()``: a fresh generator
    on the run's backend) with the run's entity format, through the same engine path and journal
    as the run; each held-out sentence's BIO tags come back as its ``values``."""
    assert plan.entities is not None
    fmt = plan.entities

    async def annotate(run: SubRun) -> SubResult:
        sub = make()
        made = await sub.agenerate(
            run.prompt, run.fewshot, run.strategy, run.per_class, run.column, run.unlabeled,
            max_prompt_calls=run.calls, timeout_per_prompt=timeout, output_format=fmt,
            options=options.replace(**run.options),
        )  # fmt: skip
        assert sub.last_run is not None
        dataset = made if isinstance(made, Dataset) else None
        result = sub_result(sub.last_run, len(run.unlabeled), dataset, fmt.tags_column)
        return replace(result, calls=result.calls + sub.last_run.budget.beyond)  # re-asks too

    return annotate


__all__ = [
    "SpanChoice",
    "SpanOutcome",
    "bootstrap_margin",
    "choose_spans",
    "clearly_better_f1",
    "sentence_f1",
    "span_annotator",
    "span_sub_runs",
]
