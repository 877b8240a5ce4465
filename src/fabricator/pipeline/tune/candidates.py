"""The settings tuning tries: few-shot selections, votes, label descriptions and calibration.

What the user set stays as set: a given strategy (or count of examples) is the only selection
tried, given votes are every candidate's votes, a given calibration is the only calibration.
Calibration costs no call (it is applied to the same answers), so it is a second axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...options import MAX_PLANNED

#: examples of each class in a shared draw, and nearest examples of the "similar" candidate
SHARED_PER_CLASS = 2
SIMILAR_EXAMPLES = 4
#: prompts of the voting candidate (the shared draw and two more draws)
VOTES = 3
#: options that pick the few-shot examples: any of them set keeps the user's selection
SELECTION_OPTIONS = ("fewshot_examples", "fewshot_reuse")


@dataclass(frozen=True)
class Candidate:
    """One setting scored on the held-out rows (before calibration, applied after)."""

    name: str
    strategy: str | None = None
    per_class: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # flat options of the run
    describe: bool = True  # show the prompt's label descriptions (when it has some)
    prompts_per_row: int = 1  # calls each held-out row costs

    @property
    def zero_shot(self) -> bool:
        return self.strategy is None


@dataclass(frozen=True)
class Given:
    """What the user chose (kept), and what the pool and the run's call cap allow."""

    strategy: str | None
    per_class: int | None
    explicit: Mapping[str, Any]  # the options set explicitly (``GenerationOptions.explicit``)
    descriptions: bool  # the prompt has label descriptions
    smallest_class: int  # pool rows of its rarest label (outside one fold)
    calls_per_row: int  # prompts per row the run's max_prompt_calls allows
    rephrasings: int = 0  # the user's task rephrasings: one more prompt per row each


def _selections(given: Given) -> list[Candidate]:
    """The few-shot selections tried: the user's, or zero-shot, a shared draw and similar ones."""
    picked = {k: given.explicit[k] for k in SELECTION_OPTIONS if k in given.explicit}
    if given.strategy is not None or given.per_class is not None or picked:
        return [Candidate("yours", given.strategy, given.per_class, picked)]
    shared = Candidate(
        "shared",
        "stratified",
        min(SHARED_PER_CLASS, given.smallest_class),
        {"fewshot_reuse": MAX_PLANNED},
    )
    similar = Candidate("similar", "similar", None, {"fewshot_examples": SIMILAR_EXAMPLES})
    return [Candidate("zero-shot"), shared, similar]


def base_of(candidates: list[Candidate], calibrations: tuple[str, ...]) -> tuple[str, str]:
    """The setting kept unless another is clearly better on the held-out rows (name, calibration):
    the user's selection, else one shared stratified draw, read with batch calibration where the
    calibration is left to tuning. Across the tasks measured before tuning chose anything
    (docs/experiments.md, section 5 and "Quality by default"), that one generalised: SST-2 0.912
    against 0.888 zero-shot, TREC-6 0.623 against 0.547 (uncalibrated), SNLI 0.600 against 0.593;
    the nearest examples won on TREC-6 and lost 1.9 points on SST-2."""
    names = [c.name for c in candidates]
    name = next((n for n in ("yours", "shared") if n in names), names[0])
    return name, "batch" if "batch" in calibrations else calibrations[0]


def untuned(gold: Sequence[str], labels: Sequence[str]) -> Candidate:
    """What a run given a labelled pool and nothing else uses when it is too small to tune: the
    prior's shared draw (without calibration, which a few rows cannot carry), or zero-shot where
    a label has no pool row to show."""
    smallest = min((sum(g == label for g in gold) for label in labels), default=0)
    if smallest < 1:
        return Candidate("zero-shot")
    return Candidate("shared", "stratified", min(SHARED_PER_CLASS, smallest), {"fewshot_reuse": MAX_PLANNED})


def candidate_set(given: Given) -> tuple[list[Candidate], tuple[str, ...]]:
    """The candidates (cheapest first) and the calibrations each is read with."""
    votes = int(given.explicit.get("votes", 1))
    out = []
    for base in _selections(given):
        if base.zero_shot and votes > 1:
            continue  # votes are draws of examples: zero-shot has none
        out.append(base)
        if given.descriptions and base.name in ("zero-shot", "shared"):
            out.append(
                Candidate(f"{base.name}-plain", base.strategy, base.per_class, base.options, describe=False)
            )
        if "votes" not in given.explicit and base.name == "shared":
            out.append(
                Candidate("shared-votes", base.strategy, base.per_class, {**base.options, "votes": VOTES})
            )
    extra = given.rephrasings
    priced = [
        Candidate(
            c.name, c.strategy, c.per_class, c.options, c.describe, int(c.options.get("votes", votes)) + extra
        )
        for c in out
    ]
    fits = [c for c in priced if c.prompts_per_row <= given.calls_per_row]
    calibrations = (given.explicit["calibration"],) if "calibration" in given.explicit else ("off", "batch")
    return sorted(fits, key=lambda c: c.prompts_per_row), calibrations


__all__ = ["SELECTION_OPTIONS", "Candidate", "Given", "base_of", "candidate_set", "untuned"]
