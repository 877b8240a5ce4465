"""Making rows from work items: one driver (``RowMaker``), and the strategy the task picks.

The driver owns what every row shares: asking (each call counted against the run's
``CallBudget``, journaled and logged: ``ItemCalls``), the failures of a spent budget or a failed
call, the parse into a typed ``Row`` and its provenance. A ``Strategy`` says what to ask and how
the answers are read: parse and re-ask once with the error (``ParseAndReask``, here); label
scoring (``fabricator.scoring.annotate.LabelScoring``); several rows from one call
(``fabricator.pipeline.grouped.GroupedRows``). The vLLM batch path of the Ray executor asks a
whole round at once and reads each answer with the driver's ``request`` and ``parse``.
``RowMaker`` holds everything that turning a ``WorkItem`` into a row needs and nothing else (no
datasets, no few-shot pool, no open files), so it pickles small and behaves the same wherever it
runs: locally or in a Ray actor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..errors import BackendError, ParseError
from ..execution.calls import CallBudget, CallLogger, EngineLike, ItemCalls, NoCallLeft, derive_seed
from ..execution.work import FailureKind, Result, Row, WorkItem
from ..formats.base import FullFormat
from ..formats.entities import DROPPED_SPANS
from ..llms.base import Request
from ..scoring.annotate import LabelScoring
from .grouped import GroupedRows

#: the input rows an annotation parses against: by position, or by row index (verification)
SourceRows = Sequence[Mapping[str, Any]] | Mapping[int, Mapping[str, Any]]


class Strategy(Protocol):
    """How one item's answers become its rows; the driver asks (``calls.ask``) and counts."""

    async def rows(
        self, maker: RowMaker, calls: ItemCalls, source: Mapping[str, Any] | None
    ) -> list[Result]: ...


class ParseAndReask:
    """Ask, parse; a wrong structured answer is asked again once with the error (``max_tries``)."""

    async def rows(self, maker: RowMaker, calls: ItemCalls, source: Mapping[str, Any] | None) -> list[Result]:
        item = calls.item
        messages: Sequence[dict[str, str]] = item.messages
        error: ParseError | None = None
        for attempt in range(maker.max_tries):
            request = maker.request(item, messages, attempt)
            completion = await calls.ask(request, first=attempt == 0)
            try:
                row = maker.parse(
                    item, completion.text, source, truncated=completion.finish_reason == "length"
                )
            except ParseError as exc:
                error, calls.error = exc, str(exc)
                if maker.format.reask and attempt == 0:  # re-ask once, saying what was wrong
                    messages = [m for m in item.messages if m["role"] != "assistant"] + [
                        {"role": "assistant", "content": completion.text},
                        {"role": "user", "content": maker.format.reask_message(exc)},
                    ]
                continue
            row.provenance = maker.provenance(calls.engine, item, request, attempt)
            dropped = row.values.pop(DROPPED_SPANS, None)
            if dropped:  # spans of a partly good answer that could not be used
                row.provenance["dropped_spans"] = dropped
            return [row]
        assert error is not None
        return calls.failures(str(error), FailureKind.of(error))


@dataclass(frozen=True)
class RowMaker:
    """Turns a work item into a row (or a ``Failure``) through an engine; picklable.

    Built by ``fabricator.pipeline.task.row_maker`` from the resolved task. What the answer must be
    and how it is parsed and re-asked is the task's ``OutputFormat`` (``format``), never a flag
    here. ``unlabeled_rows`` are the input rows an annotation parses against (only the columns it
    reads); a copy without them (``without_rows``) is what travels to Ray actors, each item then
    carrying its own source row.
    """

    format: FullFormat
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
            slot=item.slot,
        )

    def strategy(self, item: WorkItem) -> Strategy:
        if item.members:  # one call, several rows (rows_per_call)
            return GroupedRows()
        return LabelScoring() if self.scoring is not None else ParseAndReask()

    async def make(
        self,
        engine: EngineLike,
        item: WorkItem,
        logger: CallLogger,
        source: Mapping[str, Any] | None = None,
        budget: CallBudget | None = None,
    ) -> Result:
        """The row of ``item`` (re-asked once, with the error, when a structured reply is wrong).

        Every call the model is sent is taken from ``budget`` first; when none is left the row is a
        ``Failure`` of kind ``CallCapReached`` (with the last answer and its error, if any).
        """
        calls = ItemCalls(engine, item, logger, budget if budget is not None else CallBudget())
        return (await self.drive(calls, source if source is not None else self.source_row(item)))[0]

    async def make_group(
        self, engine: EngineLike, item: WorkItem, logger: CallLogger, budget: CallBudget
    ) -> list[Result]:
        """The rows of a grouped item (``rows_per_call``): one call, one result per member."""
        return await self.drive(ItemCalls(engine, item, logger, budget), None)

    async def drive(self, calls: ItemCalls, source: Mapping[str, Any] | None) -> list[Result]:
        """One result per row of ``calls.item`` (``item.rows``), by the strategy its task picks;
        a spent call cap or a failed call fails every row of the item."""
        try:
            return await self.strategy(calls.item).rows(self, calls, source)
        except NoCallLeft:
            return calls.out_of_calls()
        except BackendError as exc:
            if exc.fatal:
                raise
            return calls.failures(exc.message, FailureKind.of(exc))

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
    ) -> Row:
        """The row of one answer; ``ParseError`` when the answer is not valid data.

        The format parses (an answer cut off at ``max_tokens``, ``truncated``, may be parsed more
        leniently); an annotated row also keeps its input columns and the index of its source row.
        """
        if source is None:
            source = self.source_row(item)
        context: dict[str, Any] = dict(source) if source is not None else {}
        conditioned = self.format.conditioning()
        if conditioned is not None:
            context[conditioned[0]] = item.label
        parse = self.format.parse_cut_short if truncated else self.format.parse
        values = parse(text, context)
        if item.source is None:
            return Row(values)
        assert source is not None
        return Row({**{c: source[c] for c in self.input_columns}, **values}, source=item.source)


__all__ = ["ParseAndReask", "RowMaker", "SourceRows", "Strategy"]
