"""Making rows from work items: one driver (``RowMaker``) whose strategy the task picks.

Strategies: ask, parse and re-ask once with the error (``RowMaker.make``); label scoring
(``fabricator.scoring.annotate``); several rows from one call (``fabricator.pipeline.grouped``).
``RowMaker`` holds everything that turning a ``WorkItem`` into a row needs and nothing else (no
datasets, no few-shot pool, no open files), so it pickles small and behaves the same wherever it
runs: locally or in a Ray actor. Every call is counted against the run's ``CallBudget``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import BackendError, ParseError
from ..execution.calls import CallBudget, CallLogger, EngineLike, counted_call, derive_seed
from ..execution.work import Failure, FailureKind, WorkItem
from ..formats.base import OutputFormat, conditioning, parse_answer, reask_message, reasks
from ..llms.base import Request
from ..scoring.annotate import score_row
from .grouped import make_group

#: the input rows an annotation parses against: by position, or by row index (verification)
SourceRows = Sequence[Mapping[str, Any]] | Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True)
class RowMaker:
    """Turns a work item into a row (or a ``Failure``) through an engine; picklable.

    Built by ``fabricator.planning.row_maker`` from the resolved task. What the answer must be
    and how it is parsed and re-asked is the task's ``OutputFormat`` (``format``), never a flag
    here. ``unlabeled_rows`` are the input rows an annotation parses against (only the columns it
    reads); a copy without them (``without_rows``) is what travels to Ray actors, each item then
    carrying its own source row.
    """

    format: OutputFormat
    input_columns: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None  # sent with every request when structured output is on
    unlabeled_rows: SourceRows | None = None
    temperature: float = 0.8
    max_tokens: int = 256
    max_tries: int = 3
    seed: int = 0
    scoring: str | None = None  # label scoring ("auto", "logprobs", "samples"); None: parse the answer
    label_samples: int = 5  # answers voted on per prompt where no log-probabilities come back

    def without_rows(self) -> RowMaker:
        return replace(self, unlabeled_rows=None)

    def source_row(self, item: WorkItem) -> Mapping[str, Any] | None:
        if item.source is None or self.unlabeled_rows is None:
            return None
        return self.unlabeled_rows[item.source]

    def request(self, item: WorkItem, messages: Sequence[dict[str, str]], attempt: int) -> Request:
        temperature = self.temperature if attempt == 0 else max(self.temperature, 0.9)
        return Request(
            messages=tuple(messages),
            temperature=temperature,
            max_tokens=self.max_tokens,
            seed=derive_seed(self.seed, item.index, attempt),
            json_schema=self.json_schema,
        )

    async def make(
        self,
        engine: EngineLike,
        item: WorkItem,
        logger: CallLogger,
        source: Mapping[str, Any] | None = None,
        budget: CallBudget | None = None,
    ) -> dict[str, Any] | Failure:
        """Ask for ``item`` (re-asking once, with the error, when a structured reply is wrong).

        Every call the model is sent is taken from ``budget`` first; when none is left the row is a
        ``Failure`` of kind ``CallCapReached`` (with the last answer and its error, if any).
        """
        if source is None:
            source = self.source_row(item)
        if budget is None:
            budget = CallBudget()
        if self.scoring is not None:  # the label-scoring strategy
            return await score_row(self, engine, item, logger, source, budget)
        messages: Sequence[dict[str, str]] = item.messages
        raw: str | None = None
        error: Exception | None = None
        for attempt in range(self.max_tries):
            request = self.request(item, messages, attempt)
            try:
                completion = await counted_call(
                    engine, request, budget, first=attempt == 0, sample=item.index, mirror=True
                )
            except BackendError as exc:
                if exc.fatal:
                    raise
                return Failure(item.index, exc.message, FailureKind.of(exc), raw, item.source)
            if completion is None:
                why = f"{error}; not asked again" if error is not None else "not asked"
                return Failure(
                    item.index,
                    f"{why}: max_prompt_calls ({budget.limit}) reached",
                    FailureKind.CALL_CAP_REACHED,
                    raw,
                    item.source,
                )
            raw = completion.text
            logger.write(item, request, completion.text)
            try:
                row = self.parse(
                    item, completion.text, source, truncated=completion.finish_reason == "length"
                )
                row["__provenance"] = self.provenance(engine, item, request, attempt)
                return row
            except ParseError as exc:
                error = exc
                if reasks(self.format) and attempt == 0:  # re-ask once, saying what was wrong
                    messages = [m for m in item.messages if m["role"] != "assistant"] + [
                        {"role": "assistant", "content": completion.text},
                        {"role": "user", "content": reask_message(self.format, exc)},
                    ]
        assert error is not None
        return Failure(item.index, str(error), FailureKind.of(error), raw, item.source)

    async def make_group(
        self, engine: EngineLike, item: WorkItem, logger: CallLogger, budget: CallBudget
    ) -> list[dict[str, Any] | Failure]:
        """The rows of a grouped item (``rows_per_call``): one call, one result per member."""
        return await make_group(self, engine, item, logger, budget)

    def provenance(
        self, engine: EngineLike, item: WorkItem, request: Request, attempt: int
    ) -> dict[str, Any]:
        """Where a row came from: model, a hash of its prompt, few-shot ids, seed and attempt (and
        its attribute values, where the run has attributes)."""
        prompt_hash = hashlib.sha256(item.prompt_text.encode("utf-8")).hexdigest()[:16]
        out: dict[str, Any] = {
            "row": item.index,
            "source": item.source,
            "model": engine.llm.name,
            "prompt_hash": prompt_hash,
            "fewshot_ids": list(item.fewshot_ids),
            "label": item.label,
            "seed": request.seed,
            "attempt": attempt,
        }
        if item.attributes:
            out["attributes"] = dict(item.attributes)
        return out

    def parse(
        self, item: WorkItem, text: str, source: Mapping[str, Any] | None = None, *, truncated: bool = False
    ) -> dict[str, Any]:
        """The row of one answer; ``ParseError`` when the answer is not valid data.

        The format parses (an answer cut off at ``max_tokens``, ``truncated``, may be parsed more
        leniently); an annotated row also keeps its input columns and the index of its source row.
        """
        if source is None:
            source = self.source_row(item)
        context: dict[str, Any] = dict(source) if source is not None else {}
        conditioned = conditioning(self.format)
        if conditioned is not None:
            context[conditioned[0]] = item.label
        values = parse_answer(self.format, text, context, truncated=truncated)
        if item.source is None:
            return values
        assert source is not None
        return {**{c: source[c] for c in self.input_columns}, **values, "__source": item.source}


__all__ = ["RowMaker", "SourceRows"]
