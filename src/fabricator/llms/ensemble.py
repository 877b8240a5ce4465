"""``Ensemble``: several models answering as one, so that their label scores vote.

For label scoring, each request asking for log-probabilities goes to every member at once. The
top tokens of the answer's first position are averaged over the members, and so is each later
position for as long as the members wrote the same tokens before it. A label's probability is
therefore the members' mean probability for it. A request without log-probabilities (a sampled
answer) goes to one member, chosen by its seed, so sampled votes come from all members in turn.

An ensemble is a backend like any other: the journal, budgets and retries see one call (its usage
is the members' sum), and its name, ``ensemble(a+b)``, keys its answers apart from each member's.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from ..errors import ConfigError
from .base import LLM, AsyncClosing, Capabilities, Completion, Request, TokenChoice, Usage
from .capabilities import capabilities_of, preflight


class Ensemble(AsyncClosing):
    """Members' label probabilities averaged (see the module docstring); at least two members."""

    def __init__(self, members: Sequence[LLM], *, name: str | None = None) -> None:
        if len(members) < 2:
            raise ConfigError(
                f"an Ensemble needs at least two models, got {len(members)}",
                hint="pass a list of backends, e.g. Ensemble([LlamaCpp(), OpenAICompatible(...)])",
            )
        self.members = list(members)
        self.name = name or "ensemble(" + "+".join(m.name for m in self.members) + ")"
        self.max_concurrency = min(m.max_concurrency for m in self.members)
        each = [capabilities_of(m) for m in self.members]
        self.capabilities = Capabilities(
            logprobs=all(c.logprobs for c in each),
            json_schema=all(c.json_schema for c in each),
            prefill=all(c.prefill for c in each),
            preflight=any(c.preflight for c in each),
        )
        self.supports_prefill = self.capabilities.prefill

    async def complete(self, request: Request) -> Completion:
        if request.logprobs is None:
            member = self.members[(request.seed or 0) % len(self.members)]
            return await member.complete(request)
        answers = await asyncio.gather(*(m.complete(request) for m in self.members))
        usage = Usage(
            sum(a.usage.prompt_tokens for a in answers),
            sum(a.usage.completion_tokens for a in answers),
            sum(a.usage.cached_tokens for a in answers),
        )
        first = answers[0]
        return Completion(first.text, first.finish_reason, usage, self.name, _mean_logprobs(answers))

    async def preflight(self) -> None:
        """Every member's own check, one after another (each may start a model)."""
        for member in self.members:
            await preflight(member)

    async def aclose(self) -> None:
        for member in self.members:
            await member.aclose()


def _mean_logprobs(answers: Sequence[Completion]) -> tuple[TokenChoice, ...] | None:
    """Positions averaged over the answers while every answer wrote the same tokens before them."""
    if any(a.logprobs is None for a in answers):
        return None
    positions: list[TokenChoice] = []
    for choices in zip(*(a.logprobs or () for a in answers), strict=False):
        probs: dict[str, float] = {}
        for choice in choices:
            for token, logprob in choice.top or ((choice.token, choice.logprob),):
                probs[token] = probs.get(token, 0.0) + math.exp(logprob) / len(choices)
        top = tuple(sorted(((t, math.log(p)) for t, p in probs.items() if p > 0), key=lambda x: -x[1]))
        positions.append(TokenChoice(choices[0].token, math.log(probs.get(choices[0].token, 1e-12)), top))
        if len({choice.token for choice in choices}) > 1:
            break  # the answers part here: later positions follow different texts
    return tuple(positions)


__all__ = ["Ensemble"]
