"""What a recipe will cost before it runs: calls, tokens, dollars and time (``fabricator plan``).

The plan makes the very prompts the run will send (``fabricator.app.plan`` walks the run's own
``RunPlan``, with the recipe's output format) and counts their tokens with the backend's own
tokenizer where it has one (a ``count_tokens(conversations)`` method: the embedded model's,
through its llama.cpp server, which loads the model but completes nothing);
other backends get an estimate, labelled as such.
Completion tokens are bounded by ``max_tokens``; a previous run in the output folder
(``metadata.json``) gives the typical answer length and the time per call. ``generate`` from the
command line refuses a recipe whose plan is over its ``budget_tokens``/``budget_usd``
(``refuse_over_budget``) unless told ``--spend-budget``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..execution.engine import Prices
from ..llms.base import LLM, TokenCounting, Usage
from ..llms.capabilities import capabilities_of
from ..llms.tokens import CHARS_PER_TOKEN, Conversation, estimate_tokens
from ..options import BudgetOptions
from ..scoring.label_scores import SCORING_MAX_TOKENS
from .previous_run import Previous

#: prompts counted one by one with a backend's tokenizer; beyond this the rest is extrapolated
EXACT_COUNT_LIMIT = 2_000

Counter = Callable[[Sequence[Conversation]], list[int]]


@dataclass(frozen=True)
class Plan:
    """The calls, tokens, cost and time of a run, worked out without a completion call."""

    model: str
    mode: str
    rows: int  # planned rows: one first ask each
    max_calls: int  # the most calls re-asks and top-ups may bring the run to
    prompt_tokens: int  # of the planned first asks
    counted_by: str  # how the prompt tokens were counted
    exact: bool  # counted with the backend's own tokenizer (else an estimate)
    max_tokens: int
    prices: tuple[float, float] | None = None
    #: the same pair through the provider's batch API: the plan then says online vs batch
    batch_prices: tuple[float, float] | None = None
    previous: Previous | None = None  # of the same model
    no_previous: str = "no previous run"  # why ``previous`` is None
    #: ``verify``: one label check per row, its prompt holding the row's text (typical length)
    checks: int = 0
    check_prompt_tokens: int = 0
    #: proposed attributes: the calls that ask for their values before the rows, and their tokens
    proposals: int = 0
    proposal_prompt_tokens: int = 0
    proposal_completion_bound: int = 0  # every proposal answer at its max_tokens
    #: scored annotation with ``votes``/``task_rephrasings``: the rows' other prompts, one step each
    votes: int = 0
    vote_prompt_tokens: int = 0
    rows_per_call: int = 1  # generation: rows one call writes (its answer up to k x max_tokens)
    calls_for_rows: int = 0  # the first asks of the rows with rows_per_call (0: one a row)
    #: settings chosen on the labelled pool first (``pipeline.tune``): at most this many calls, and
    #: what tuning does (or why the run is not tuned)
    tuning_calls: int = 0
    tuning: str = ""
    previous_tuning: str = ""  # what tuning chose in the folder's last run (its answers journaled)
    pilot_calls: int = 0  # generation ``pilots``: at most this many calls before the run
    pool_check: str = ""  # label-conditioned generation: what the pool check does (no call)
    reask_allowance: int = 0  # annotation re-asks past max_prompt_calls

    @property
    def asks(self) -> int:
        """The planned rows' first asks: one call each, or one per ``rows_per_call`` rows of a label."""
        return self.calls_for_rows or self.rows

    @property
    def first_prompt_average(self) -> float:
        return self.prompt_tokens / self.asks

    @property
    def completion_bound(self) -> int:
        """Completion tokens of the first asks if every answer runs to ``max_tokens``."""
        return self.rows * self.max_tokens

    @property
    def completion_typical(self) -> int | None:
        """Completion tokens of the first asks at the previous run's average answer, if measured."""
        if self.previous is None:
            return None
        per_call = min(self.previous.completion_per_call, self.max_tokens * self.rows_per_call)
        return round(self.asks * per_call)

    @property
    def completion_expected(self) -> int:
        typical = self.completion_typical
        return typical if typical is not None else self.completion_bound

    @property
    def check_tokens(self) -> int:
        """What the label checks spend: their prompts and one scored step each."""
        return self.check_prompt_tokens + self.checks * SCORING_MAX_TOKENS

    @property
    def vote_tokens(self) -> int:
        """What the rows' other prompts (votes) spend: their prompts and one scored step each."""
        return self.vote_prompt_tokens + self.votes * self.max_tokens

    @property
    def proposal_tokens(self) -> int:
        """What the proposal calls spend at most (their answers are lists: counted at the bound)."""
        return self.proposal_prompt_tokens + self.proposal_completion_bound

    @property
    def tokens(self) -> int:
        """What the planned first asks (with their label checks, votes and proposals) spend."""
        return (
            self.prompt_tokens
            + self.completion_expected
            + self.check_tokens
            + self.vote_tokens
            + self.proposal_tokens
        )

    @property
    def headroom_prompt_tokens(self) -> int:
        """Prompt tokens of the calls beyond the first asks (a re-ask repeats the prompt and answer)."""
        return round(self.headroom_calls * (self.first_prompt_average + self.call_max_tokens))

    @property
    def call_max_tokens(self) -> int:
        """The longest answer of one call: ``max_tokens`` for each row it writes."""
        return self.max_tokens * self.rows_per_call

    @property
    def headroom_calls(self) -> int:
        """Calls beyond the first asks, their label checks, votes and proposals (re-asks, top-ups)."""
        return max(0, self.max_calls - self.first_calls)

    @property
    def first_calls(self) -> int:
        """The calls every planned row makes once: its first ask, label check and votes."""
        return self.asks + self.checks + self.votes + self.proposals

    @property
    def tokens_at_most(self) -> int:
        """Every allowed call made, every answer at ``max_tokens``."""
        return (
            self.prompt_tokens
            + self.headroom_prompt_tokens
            + (self.max_calls - self.proposals) * self.call_max_tokens
            + self.check_prompt_tokens
            + self.vote_prompt_tokens
            + self.proposal_tokens
        )

    def cost(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float | None:
        if self.prices is None:
            return None
        prices = Prices(*self.prices, batch=self.batch_prices)
        return (prices.at_batch() if batch else prices).cost(Usage(prompt_tokens, completion_tokens))

    @property
    def cost_expected(self) -> float | None:
        return self.cost(*self._expected_tokens())

    @property
    def cost_batch_expected(self) -> float | None:
        """The expected cost through the batch API (``engine: batch``); ``None`` without batch prices."""
        return self.cost(*self._expected_tokens(), batch=True) if self.batch_prices else None

    def _expected_tokens(self) -> tuple[int, int]:
        return (
            self.prompt_tokens
            + self.check_prompt_tokens
            + self.vote_prompt_tokens
            + self.proposal_prompt_tokens,
            self.completion_expected
            + self.checks * SCORING_MAX_TOKENS
            + self.votes * self.max_tokens
            + self.proposal_completion_bound,
        )

    @property
    def cost_at_most(self) -> float | None:
        return self.cost(
            self.prompt_tokens
            + self.headroom_prompt_tokens
            + self.check_prompt_tokens
            + self.vote_prompt_tokens
            + self.proposal_prompt_tokens,
            (self.max_calls - self.proposals) * self.call_max_tokens + self.proposal_completion_bound,
        )

    @property
    def seconds(self) -> float | None:
        """The first asks at the previous run's time per answered call; ``None`` if never measured."""
        return None if self.previous is None else self.asks * self.previous.seconds_per_call

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "mode": self.mode,
            "rows": self.rows,
            "calls": [self.first_calls, self.max_calls],
            "votes": self.votes,
            "vote_prompt_tokens": self.vote_prompt_tokens,
            "label_checks": self.checks,
            "label_check_prompt_tokens": self.check_prompt_tokens,
            "proposals": self.proposals,
            "proposal_tokens_at_most": self.proposal_tokens,
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_exact": self.exact,
            "counted_by": self.counted_by,
            "completion_tokens_bound": self.completion_bound,
            "completion_tokens_typical": self.completion_typical,
            "tokens": self.tokens,
            "tokens_at_most": self.tokens_at_most,
            "cost_usd": self.cost_expected,
            "cost_usd_at_most": self.cost_at_most,
            "cost_usd_batch": self.cost_batch_expected,
            "seconds": self.seconds,
            "tuning_calls_at_most": self.tuning_calls,
            "previous_tuning": self.previous_tuning or None,
            "pilot_calls_at_most": self.pilot_calls,
            "pool_check": self.pool_check or None,
            "reask_allowance": self.reask_allowance,
        }

    def lines(self) -> list[tuple[str, str]]:
        """The plan as ``(what, value)`` lines for a terminal table."""
        prices = self.prices
        if prices is None:
            cost = "n/a (no prices set)"
        else:
            cost = (
                f"${self.cost_expected:.4f} expected, at most ${self.cost_at_most:.4f} "
                f"(${prices[0]:g} / ${prices[1]:g} per million prompt / completion tokens)"
            )
        batch = self.cost_batch_expected
        if batch is not None and self.cost_expected is not None:
            cost += f"; online ${self.cost_expected:.4f} vs batch ${batch:.4f} expected (engine: batch)"
        typical = self.completion_typical
        completion = f"at most {self.completion_bound:,} ({self.rows:,} x max_tokens {self.max_tokens})"
        if typical is not None and self.previous is not None:
            completion += (
                f"; typically ~{typical:,} ({self.previous.completion_per_call:.1f} a call "
                f"in the previous run)"
            )
        if self.previous is None:
            time = f"unknown ({self.no_previous})"
        else:
            per_call = self.previous.seconds_per_call
            time = (
                f"~{_duration(self.seconds or 0.0)} for the first asks at the last measured rate "
                f"({per_call:.2f} s a call, run of {self.previous.started})"
            )
        how = self.counted_by if self.exact else f"ESTIMATE: {self.counted_by}"
        calls = f"{self.asks:,} first asks"
        if self.rows_per_call > 1:
            calls += f" ({self.rows:,} rows, {self.rows_per_call} a call)"
        prompt = f"{self.prompt_tokens:,} for the first asks ({how})"
        if self.checks:
            calls += f" + {self.checks:,} label checks (verify)"
            prompt += f" + ~{self.check_prompt_tokens:,} for the label checks"
        if self.votes:
            calls += f" + {self.votes:,} votes (the rows' other prompts)"
            prompt += f" + {self.vote_prompt_tokens:,} for the votes"
        if self.proposals:
            calls += f" + {self.proposals:,} attribute proposals"
            prompt += f" + {self.proposal_prompt_tokens:,} for the proposals"
            completion += f"; + at most {self.proposal_completion_bound:,} for the proposals"
        if self.headroom_calls:
            first = self.first_calls
            calls += f", {first:,} to {self.max_calls:,} with re-asks and top-ups (max_prompt_calls)"
            prompt += f"; up to ~{self.prompt_tokens + self.headroom_prompt_tokens:,} if every call is used"
        else:
            calls += " (max_prompt_calls leaves no room for re-asks)"
        if self.reask_allowance:
            calls += f"; + at most {self.reask_allowance:,} re-asks of wrong answers (their own allowance)"
        return [
            ("model", self.model),
            ("rows", f"{self.rows:,} planned ({self.mode})"),
            ("model calls", calls),
            *self._before_the_run(),
            ("prompt tokens", prompt),
            ("completion tokens", completion),
            ("tokens", f"~{self.tokens:,} expected, at most ~{self.tokens_at_most:,}"),
            ("cost", cost),
            ("time", time),
        ]

    def _before_the_run(self) -> list[tuple[str, str]]:
        """Tuning's and the pilots' lines: what they do before the run, and what was chosen before;
        and the pool check's, which costs no call either."""
        lines = [("tuning", self.tuning)] if self.tuning else []
        if self.previous_tuning:
            lines.append(("chosen before", self.previous_tuning))
        if self.pilot_calls:
            calls = f"at most {self.pilot_calls:,} calls before the run (journaled answers are free)"
            lines.append(("pilots", calls))
        if self.pool_check:
            lines.append(("pool check", self.pool_check))
        return lines


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class PromptTally:
    """Prompt tokens of conversations fed one at a time, so one walk of the plan counts several
    kinds of prompt (the rows' and their votes') without keeping the plan.

    A backend that declares token counting counts the first ``EXACT_COUNT_LIMIT`` prompts itself;
    the rest are extrapolated from their estimate at the measured ratio.
    """

    def __init__(self, llm: LLM) -> None:
        self._counter: Counter | None = None
        if capabilities_of(llm).token_counting:
            self._counter = cast(TokenCounting, llm).count_tokens
        self._name = llm.name
        self._exact: list[Conversation] = []
        self._estimated = 0  # estimate of every prompt not counted exactly

    def add(self, conversation: Conversation) -> None:
        if self._counter is not None and len(self._exact) < EXACT_COUNT_LIMIT:
            self._exact.append(conversation)
        else:
            self._estimated += estimate_tokens(conversation)

    def total(self) -> tuple[int, str, bool]:
        """The total, how it was counted, and whether with the backend's tokenizer."""
        if self._counter is None:
            return (
                self._estimated,
                f"~{CHARS_PER_TOKEN} characters a token; {self._name} has no tokenizer here",
                False,
            )
        counted = sum(self._counter(self._exact)) if self._exact else 0
        how = f"{self._name}'s own tokenizer"
        if not self._estimated:
            return counted, how, True
        ratio = counted / max(1, sum(estimate_tokens(c) for c in self._exact))
        return (
            counted + round(self._estimated * ratio),
            f"{how} on the first {EXACT_COUNT_LIMIT:,} prompts, the rest extrapolated",
            True,
        )


def count_prompts(llm: LLM, conversations: Iterable[Conversation]) -> tuple[int, str, bool]:
    """Total prompt tokens of ``conversations``, how they were counted, and whether exactly."""
    tally = PromptTally(llm)
    for conversation in conversations:
        tally.add(conversation)
    return tally.total()


def over_budget(plan: Plan, budget: BudgetOptions) -> str | None:
    """Why ``plan`` does not fit ``budget`` (``None``: it fits, or no budget is set)."""
    parts = f"{plan.prompt_tokens:,} prompt + {plan.completion_expected:,} completion"
    if budget.budget_tokens is not None and plan.tokens > budget.budget_tokens:
        limit = budget.budget_tokens
        return f"the plan needs ~{plan.tokens:,} tokens ({parts}), more than budget_tokens={limit:,}"
    cost = plan.cost_expected
    if budget.budget_usd is not None and cost is not None and cost > budget.budget_usd:
        return f"the plan costs ~${cost:.4f} ({parts} tokens), more than budget_usd={budget.budget_usd:g}"
    return None


__all__ = [
    "EXACT_COUNT_LIMIT",
    "Plan",
    "PromptTally",
    "count_prompts",
    "estimate_tokens",
    "over_budget",
]
