"""A row's probability for each label: from token log-probabilities, or from sampled answers.

**Log-probabilities** (``score_by_logprobs``): one greedy request asks for the top tokens at each
answer position. The first position is spread over the labels by ``LabelMatcher``; a token that
keeps several labels open (a shared first word) is a branch, scored at the next position: along
the greedy answer that position is already in the first reply; any other branch with enough
probability costs one more request, its text prefilled. So labels with distinct first tokens
cost one forward pass, and multi-token labels that share a prefix are still scored exactly.

**Samples** (``score_by_samples``): for backends that return no log-probabilities, ``k`` answers
are parsed and each label's share of the votes is its probability.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from ..errors import ParseError
from ..execution.calls import NoCallLeft
from ..llms.base import Completion, Request, TokenChoice
from ..llms.base import valid_logprobs as checked_logprobs
from .matcher import LabelMatcher

#: tokens asked for at each position (OpenAI's maximum; llama.cpp allows more)
TOP_LOGPROBS = 20
#: answer tokens of a scoring request: the label's own tokens along the greedy path
SCORING_MAX_TOKENS = 8

Ask = Callable[[Request], Awaitable[Completion]]


@dataclass(frozen=True)
class LabelScores:
    """A probability per label (summing to 1), how they were found, and what they cost."""

    scores: dict[str, float]
    method: str  # "logprobs" or "samples"
    coverage: float  # probability mass (or share of answers) that reached a label
    calls: int

    @property
    def label(self) -> str:
        return max(self.scores, key=lambda label: self.scores[label])  # ties: the first label

    @property
    def confidence(self) -> float:
        return self.scores[self.label]


def valid_logprobs(choices: Sequence[TokenChoice] | None) -> bool:
    """Whether an answer's log-probabilities can be scored (``llms.base.valid_logprobs``).

    A buggy server sends NaN, infinities or 1000; scored, they would give every row one label
    (NaN compares false) or overflow. The HTTP client drops such a set as the answer enters, but
    an answer journaled by an older run, or from a backend that does not check, may hold one, so
    the scorer checks again: an invalid set is treated as absent (the row is scored from sampled
    answers) and counted, never scored.
    """
    return bool(choices) and checked_logprobs(choices or ()) is not None


def _usable(reply: Completion, on_invalid: Callable[[], None] | None) -> tuple[TokenChoice, ...] | None:
    """The log-probabilities of ``reply`` to score, or ``None``; ``on_invalid`` hears of an invalid
    set found here (a set a backend dropped as the answer entered is absent, and counted there)."""
    if reply.logprobs is None or valid_logprobs(reply.logprobs):
        return reply.logprobs
    if on_invalid is not None:
        on_invalid()
    return None


def distribution(mass: Mapping[str, float], labels: Sequence[str]) -> dict[str, float]:
    """``mass`` per label renormalized over ``labels`` (labels never reached get 0)."""
    total = sum(mass.values())
    return {label: (mass.get(label, 0.0) / total if total > 0 else 0.0) for label in labels}


def with_prefill(request: Request, text: str) -> Request:
    """``request`` with ``text`` appended to its assistant prefill (one is added if it has none)."""
    messages = list(request.messages)
    if messages and messages[-1].get("role") == "assistant":
        last = messages.pop()
        messages.append({"role": "assistant", "content": last.get("content", "") + text})
    else:
        messages.append({"role": "assistant", "content": text.lstrip()})
    return replace(request, messages=tuple(messages))


def _tops(prefix: str, choices: Sequence[TokenChoice]) -> dict[str, list[tuple[str, float]]]:
    """The top tokens after each prefix of an answer: ``{text so far: [(token, probability)]}``."""
    tops: dict[str, list[tuple[str, float]]] = {}
    text = prefix
    for choice in choices:
        top = list(choice.top) or [(choice.token, choice.logprob)]
        tops.setdefault(text, [(t, math.exp(lp)) for t, lp in top])
        text += choice.token
    return tops


async def score_by_logprobs(
    ask: Ask,
    request: Request,
    matcher: LabelMatcher,
    *,
    can_prefill: bool,
    max_branches: int = 4,
    min_branch_mass: float = 0.02,
    on_invalid: Callable[[], None] | None = None,
) -> tuple[LabelScores | None, Completion]:
    """The labels' probabilities from ``request`` (which must ask for ``logprobs``), and the first reply.

    ``None`` when the backend returned no log-probabilities, invalid ones (``valid_logprobs``:
    ``on_invalid`` is called for each such set), or no likely token led to a label (the caller
    then votes with samples). Branches below ``min_branch_mass``, beyond ``max_branches`` extra
    requests, or needing a prefill the backend cannot take are dropped.
    """
    first = await ask(request)
    choices = _usable(first, on_invalid)
    if choices is None:
        return None, first
    tops = _tops("", choices)
    mass: dict[str, float] = {}
    frontier: list[tuple[str, float]] = [("", 1.0)]
    calls = extra = 0
    while frontier:
        prefix, reached = frontier.pop(0)
        top = tops.get(prefix)
        if top is None:
            if not can_prefill or extra >= max_branches or reached < min_branch_mass:
                continue
            extra += 1
            try:
                reply = await ask(with_prefill(request, prefix))
            except NoCallLeft:
                break  # score with the probability found so far
            calls += 1
            found = _usable(reply, on_invalid)
            if found is None:
                continue
            for known, alternatives in _tops(prefix, found).items():
                tops.setdefault(known, alternatives)
            top = tops[prefix]
        step = matcher.step(prefix, top, reached)
        for label, credited in step.labels.items():
            mass[label] = mass.get(label, 0.0) + credited
        frontier.extend(sorted(step.branches.values(), key=lambda branch: -branch[1]))
    coverage = sum(mass.values())
    if coverage <= 0.0:
        return None, first
    return LabelScores(distribution(mass, matcher.labels), "logprobs", min(1.0, coverage), 1 + calls), first


async def score_by_samples(
    ask: Ask,
    request: Request,
    parse: Callable[[str], str],
    labels: Sequence[str],
    *,
    samples: int,
    seeds: Sequence[int],
    temperature: float = 0.7,
    first: Completion | None = None,
) -> LabelScores | None:
    """Each label's share of ``samples`` parsed answers (``first``, if given, is one of them).

    ``parse`` maps an answer to a label or raises ``ParseError`` (that answer is no vote).
    ``None`` when no answer was a label; ``NoCallLeft`` when none was and calls ran out first.
    """
    answers = [first.text] if first is not None else []
    calls = 0
    capped = False
    for seed in seeds[: samples - len(answers)]:
        try:
            reply = await ask(replace(request, temperature=temperature, seed=seed, logprobs=None))
        except NoCallLeft:
            capped = True
            break  # vote with the answers there are
        answers.append(reply.text)
        calls += 1
    votes: dict[str, float] = {}
    for text in answers:
        try:
            label = parse(text)
        except ParseError:
            continue
        votes[label] = votes.get(label, 0.0) + 1.0
    if not votes:
        if capped:
            raise NoCallLeft  # no label yet, and no call left to find one
        return None
    return LabelScores(distribution(votes, labels), "samples", sum(votes.values()) / len(answers), calls)


def combine(votes: Sequence[LabelScores], labels: Sequence[str]) -> tuple[LabelScores, float]:
    """Several prompts' scores as one (the mean distribution) and their agreement.

    Agreement is the share of prompts whose own pick is the combined pick.
    """
    mean = {label: sum(v.scores.get(label, 0.0) for v in votes) / len(votes) for label in labels}
    method = votes[0].method if len({v.method for v in votes}) == 1 else "mixed"
    combined = LabelScores(
        distribution(mean, labels),
        method,
        sum(v.coverage for v in votes) / len(votes),
        sum(v.calls for v in votes),
    )
    agreement = sum(v.label == combined.label for v in votes) / len(votes)
    return combined, agreement


__all__ = [
    "SCORING_MAX_TOKENS",
    "TOP_LOGPROBS",
    "LabelScores",
    "combine",
    "distribution",
    "score_by_logprobs",
    "score_by_samples",
    "valid_logprobs",
    "with_prefill",
]
