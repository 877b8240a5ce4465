"""What a run did and cost: the counters the engine keeps, prices, and estimated usage.

Apart from the engine so the report, the executors and Ray's actors can read and add the
counters without the call loop.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..llms.base import LOGPROBS_INVALID, TEXT_REPAIRED, USAGE_MISSING, Completion, Request, Usage
from ..llms.tokens import estimate_tokens
from .clock import SYSTEM_CLOCK, Clock

#: the counters of ``RunStats`` that add up across engines (``cost_usd`` too, where priced)
COUNTERS = (
    "requests",
    "succeeded",
    "cached",
    "cached_tokens",
    "retries",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "prompt_cache_tokens",
    "resumed_prompt_tokens",
    "resumed_completion_tokens",
    "repaired_text",
    "invalid_logprobs",
    "estimated_usage",
)

#: what each repair note of an answer is counted as, and what the run says the first time
REPAIR_NOTES = {
    TEXT_REPAIRED: (
        "repaired_text",
        "an answer held invalid Unicode (a lone surrogate); replaced by U+FFFD",
    ),
    LOGPROBS_INVALID: (
        "invalid_logprobs",
        "an answer's log-probabilities were invalid (NaN, infinite or > 0); treated as absent",
    ),
    USAGE_MISSING: (
        "estimated_usage",
        "the server sent no usable token counts with an answer; counted by the plan's estimate",
    ),
}


@dataclass
class RunStats:
    """What a run did and cost; shown live and in the final summary."""

    requests: int = 0
    succeeded: int = 0
    cached: int = 0
    cached_tokens: int = 0  # what the journaled answers cost when they were first made
    retries: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_cache_tokens: int = 0  # prompt tokens the server served from its prompt cache (where it says)
    #: tokens of the journaled answers this run reused, each answer once: spent on the budget
    resumed_prompt_tokens: int = 0
    resumed_completion_tokens: int = 0
    repaired_text: int = 0  # answers whose invalid Unicode was replaced as they entered
    invalid_logprobs: int = 0  # answers whose log-probabilities were dropped as invalid
    estimated_usage: int = 0  # answers without usable token counts, counted by estimate
    cost_usd: float | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    stopped: str | None = None
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)  # what started/finished read

    @property
    def elapsed(self) -> float:
        return (self.finished if self.finished is not None else self.clock.now()) - self.started

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def resumed_tokens(self) -> int:
        return self.resumed_prompt_tokens + self.resumed_completion_tokens

    def counters(self) -> dict[str, Any]:
        """The additive counters (what another engine's share adds to these: ``add``)."""
        counts: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        counts["cost_usd"] = self.cost_usd or 0.0
        return counts

    def add(self, counts: Mapping[str, Any]) -> None:
        """Add another engine's counters (a Ray actor's block, say) to these."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + counts.get(name, 0))
        if self.cost_usd is not None:
            self.cost_usd += counts.get("cost_usd", 0.0)

    def count(self, counter: str) -> None:
        """Add one to the counter named ``counter`` (one of ``COUNTERS``)."""
        setattr(self, counter, getattr(self, counter) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in COUNTERS},
            "cost_usd": self.cost_usd,
            "elapsed_s": round(self.elapsed, 3),
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class Prices:
    """US dollars per million prompt and completion tokens; ``batch``: the same pair through the
    provider's batch API (``engine="batch"``), where it is known."""

    prompt: float
    completion: float
    batch: tuple[float, float] | None = None

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.prompt + usage.completion_tokens * self.completion) / 1e6

    def at_batch(self) -> Prices:
        """The prices a batch run pays (the online ones where no batch pair is known)."""
        return self if self.batch is None else Prices(*self.batch, batch=self.batch)


def estimated_usage(request: Request, completion: Completion) -> Usage:
    """The tokens of an answer the server gave no counts for, by the plan's estimate: the prompt
    as ``fabricator plan`` counts it, the answer by its length (at most ``max_tokens``)."""
    answer = estimate_tokens([{"role": "assistant", "content": completion.text}])
    return Usage(estimate_tokens(request.messages), min(answer, max(1, request.max_tokens)))
