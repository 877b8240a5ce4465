"""Label scoring, a strategy of the row driver: a row's prompts scored, votes combined.

The driver (``fabricator.pipeline.rows.RowMaker``) picks ``LabelScoring`` when its task scores
labels (``Task.scoring``). Every request goes through the driver's ``ItemCalls`` (engine,
journal, retries, budgets) and is counted against the run's ``CallBudget`` exactly as a generated
answer is: the first request of each of the row's prompts (its own and its votes) uses a call
reserved for it, so every planned row gets all its votes whatever the order rows finish in;
branches and samples take spare calls, and a row that needs one when none is left fails as
``CallCapReached``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ParseError
from ..execution.calls import ItemCalls, NoCallLeft, derive_seed
from ..execution.work import FailureKind, Result, Row, WorkItem
from ..llms.base import Completion, Request
from ..llms.capabilities import capabilities_of
from .label_scores import (
    SCORING_MAX_TOKENS,
    TOP_LOGPROBS,
    LabelScores,
    combine,
    score_by_logprobs,
    score_by_samples,
)
from .matcher import LabelMatcher
from .settle import label_column

if TYPE_CHECKING:  # the row driver hands itself in (``fabricator.pipeline.rows``): its type only
    from ..pipeline.rows import RowMaker

#: votes whose pick differs from the row's are flagged when agreement falls below this
FLAG_BELOW = 1.0


@dataclass
class _Asker:
    """One row's scoring requests through the driver's ``ItemCalls``: the first request of each
    prompt uses the call reserved for it, the others (branches, samples) take spare calls."""

    calls: ItemCalls
    first: bool = True  # the next request is a prompt's first: it uses a reserved call
    invalid: int = 0  # answers whose log-probabilities were invalid (not scored: ``valid_logprobs``)

    def count_invalid(self) -> None:
        self.invalid += 1

    async def __call__(self, request: Request) -> Completion:
        first, self.first = self.first, False
        return await self.calls.ask(request, first=first)


class LabelScoring:
    """The row strategy of label scoring: the row's prompts (its own and its votes) scored, the
    votes combined; the row keeps its label, ``confidence`` and the scores in its provenance."""

    async def rows(self, maker: RowMaker, calls: ItemCalls, source: Mapping[str, Any] | None) -> list[Result]:
        item = calls.item
        answers = maker.format.score_options()
        assert answers is not None, "label scoring is only used for formats with label options"
        matcher = LabelMatcher(answers)
        ask = _Asker(calls)
        prompts = [(item.messages, item.fewshot_ids), *item.votes]
        scored: list[LabelScores] = []
        started = 0
        try:
            for vote, (messages, _) in enumerate(prompts):
                ask.first, started = True, vote + 1
                result = await _score_prompt(maker, ask, item, source, tuple(messages), matcher, vote)
                if result is not None:
                    scored.append(result)
        except NoCallLeft:
            if not scored:  # else: the row is scored from the prompts it got
                calls.error = "no answer named a label" if calls.last_text is not None else None
                raise
        finally:
            for _ in range(len(prompts) - started):  # prompts never asked: their calls are free again
                calls.budget.release()
        if not scored:
            return calls.failures(f"no answer named one of {matcher.labels}", FailureKind.PARSE_ERROR)
        return [
            _scored_row(maker, calls, source, combine(scored, matcher.labels), scored, prompts, ask.invalid)
        ]


def _scored_row(
    maker: RowMaker,
    calls: ItemCalls,
    source: Mapping[str, Any] | None,
    combined_votes: tuple[LabelScores, float],
    scored: list[LabelScores],
    prompts: Sequence[tuple[Sequence[dict[str, str]], Sequence[int]]],
    invalid: int,
) -> Row:
    """The row of the combined scores: its label, ``confidence``, and the scores in its provenance."""
    item = calls.item
    combined, agreement = combined_votes
    row = maker.parse(item, combined.label, source)
    row.values["confidence"] = combined.confidence
    request = Request(messages=item.messages, seed=derive_seed(maker.seed, item.index, 0))
    provenance = maker.provenance(calls.engine, item, request, 0)
    provenance.update(
        label_scores={label: round(p, 6) for label, p in combined.scores.items()},
        scoring=combined.method,
        coverage=round(combined.coverage, 6),
        calls=combined.calls,
    )
    if invalid:  # sets not scored: the row was scored from its answers instead
        provenance["invalid_logprobs"] = invalid
    if len(prompts) > 1:
        provenance.update(
            votes=len(scored),
            agreement=round(agreement, 6),
            flagged=agreement < FLAG_BELOW,
            vote_labels=[s.label for s in scored],
            vote_scores=[{label: round(p, 6) for label, p in s.scores.items()} for s in scored],
            vote_fewshot_ids=[list(ids) for _, ids in prompts],
        )
    row.provenance = provenance
    return row


async def _score_prompt(
    maker: RowMaker,
    ask: _Asker,
    item: WorkItem,
    source: Mapping[str, Any] | None,
    messages: tuple[dict[str, str], ...],
    matcher: LabelMatcher,
    vote: int,
) -> LabelScores | None:
    """One prompt's label scores: log-probabilities where the backend gives them, else samples."""
    request = Request(
        messages=messages,
        temperature=0.0,
        max_tokens=SCORING_MAX_TOKENS,
        seed=derive_seed(maker.seed, item.index, 1000 * vote),
        logprobs=TOP_LOGPROBS if maker.scoring != "samples" else None,
    )
    first: Completion | None = None
    if maker.scoring != "samples":
        can_prefill = capabilities_of(ask.calls.engine.llm).prefill
        invalid = ask.invalid
        scores, first = await score_by_logprobs(
            ask, request, matcher, can_prefill=can_prefill, on_invalid=ask.count_invalid
        )
        if scores is not None:
            return scores
        if maker.scoring == "logprobs" and (first.logprobs is None or ask.invalid > invalid):
            what = "no" if first.logprobs is None else "invalid (not finite, above 0 or not a distribution)"
            raise ConfigError(
                f"backend {ask.calls.engine.llm.name!r} returned {what} log-probabilities",
                hint="use label_scoring='auto' (votes of sampled answers where there are none) or 'samples'",
            )

    def parse(text: str) -> str:
        label = maker.parse(item, text, source).values.get(label_column(maker.format), text)
        if label not in matcher.labels:
            raise ParseError(f"{label!r} is not a label")
        return str(label)

    seeds = [derive_seed(maker.seed, item.index, 1000 * vote + j) for j in range(1, maker.label_samples + 1)]
    sample_request = Request(messages=messages, max_tokens=maker.max_tokens, seed=request.seed)
    temperature = maker.temperature if maker.temperature > 0 else 0.7
    return await score_by_samples(
        ask,
        sample_request,
        parse,
        matcher.labels,
        samples=maker.label_samples,
        seeds=seeds,
        temperature=temperature,
        first=first,
    )


__all__ = ["LabelScoring"]
