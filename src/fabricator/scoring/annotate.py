"""One annotated row by label scoring: its prompts scored, votes combined, calls counted.

``RowMaker.make`` hands a row here when its task scores labels (``Task.scoring``). Every request
goes through the engine (journal, retries, budgets) and is counted against the run's
``CallBudget`` exactly as a generated answer is: the first request of each of the row's prompts
(its own and its votes) uses a call reserved for it, so every planned row gets all its votes
whatever the order rows finish in; branches and samples take spare calls, and a row that needs
one when none is left fails as ``CallCapReached``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, ConfigError, ParseError
from ..execution.calls import CallBudget, CallLogger, EngineLike, counted_call, derive_seed
from ..execution.work import Failure, FailureKind, WorkItem
from ..formats.base import score_options
from ..llms.base import Completion, Request
from ..llms.capabilities import capabilities_of
from .label_scores import (
    SCORING_MAX_TOKENS,
    TOP_LOGPROBS,
    LabelScores,
    NoCallLeft,
    combine,
    score_by_logprobs,
    score_by_samples,
)
from .matcher import LabelMatcher

if TYPE_CHECKING:  # the row driver hands itself in (``fabricator.pipeline.rows``): its type only
    from ..pipeline.rows import RowMaker

#: votes whose pick differs from the row's are flagged when agreement falls below this
FLAG_BELOW = 1.0


@dataclass
class _Asker:
    """Sends one row's requests through the engine, counting each against the budget."""

    maker: RowMaker
    engine: EngineLike
    item: WorkItem
    logger: CallLogger
    budget: CallBudget
    first: bool = True  # the next request is a prompt's first: it uses a reserved call
    last_text: str | None = None
    invalid: int = 0  # answers whose log-probabilities were invalid (not scored: ``valid_logprobs``)

    def count_invalid(self) -> None:
        self.invalid += 1

    async def __call__(self, request: Request) -> Completion:
        first, self.first = self.first, False
        index = self.item.index
        completion = await counted_call(
            self.engine, request, self.budget, first=first, sample=index, mirror=True
        )
        if completion is None:
            raise NoCallLeft
        self.last_text = completion.text
        self.logger.write(self.item, request, completion.text)
        return completion


async def score_row(
    maker: RowMaker,
    engine: EngineLike,
    item: WorkItem,
    logger: CallLogger,
    source: Mapping[str, Any] | None,
    budget: CallBudget,
) -> dict[str, Any] | Failure:
    """The row of ``item`` with its scored label and ``confidence``, or a ``Failure``."""
    answers = score_options(maker.format)
    assert answers is not None, "score_row is only used for formats with label options"
    matcher = LabelMatcher(answers)
    ask = _Asker(maker, engine, item, logger, budget)
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
        if not scored:
            why = "no answer named a label; not asked again" if ask.last_text is not None else "not asked"
            return Failure(
                item.index,
                f"{why}: max_prompt_calls ({budget.limit}) reached",
                FailureKind.CALL_CAP_REACHED,
                ask.last_text,
                item.source,
            )
    except BackendError as exc:
        if exc.fatal:
            raise
        return Failure(item.index, exc.message, FailureKind.of(exc), ask.last_text, item.source)
    finally:
        for _ in range(len(prompts) - started):  # prompts never asked: their calls are free again
            budget.release()
    if not scored:
        return Failure(
            item.index,
            f"no answer named one of {matcher.labels}",
            FailureKind.PARSE_ERROR,
            ask.last_text,
            item.source,
        )
    combined, agreement = combine(scored, matcher.labels)
    row = maker.parse(item, combined.label, source)
    row["confidence"] = combined.confidence
    request = Request(messages=item.messages, seed=derive_seed(maker.seed, item.index, 0))
    provenance = maker.provenance(engine, item, request, 0)
    provenance.update(
        label_scores={label: round(p, 6) for label, p in combined.scores.items()},
        scoring=combined.method,
        coverage=round(combined.coverage, 6),
        calls=combined.calls,
    )
    if ask.invalid:  # sets not scored: the row was scored from its answers instead
        provenance["invalid_logprobs"] = ask.invalid
    if len(prompts) > 1:
        provenance.update(
            votes=len(scored),
            agreement=round(agreement, 6),
            flagged=agreement < FLAG_BELOW,
            vote_labels=[s.label for s in scored],
            vote_scores=[{label: round(p, 6) for label, p in s.scores.items()} for s in scored],
            vote_fewshot_ids=[list(ids) for _, ids in prompts],
        )
    row["__provenance"] = provenance
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
        can_prefill = capabilities_of(ask.engine.llm).prefill
        invalid = ask.invalid
        scores, first = await score_by_logprobs(
            ask, request, matcher, can_prefill=can_prefill, on_invalid=ask.count_invalid
        )
        if scores is not None:
            return scores
        if maker.scoring == "logprobs" and (first.logprobs is None or ask.invalid > invalid):
            what = "no" if first.logprobs is None else "invalid (not finite, above 0 or not a distribution)"
            raise ConfigError(
                f"backend {ask.engine.llm.name!r} returned {what} log-probabilities",
                hint="use label_scoring='auto' (votes of sampled answers where there are none) or 'samples'",
            )

    def parse(text: str) -> str:
        values = maker.parse(item, text, source)
        label = values.get(getattr(maker.format, "column", ""), text)
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


__all__ = ["score_row"]
