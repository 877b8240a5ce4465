"""Making one row from one work item: the request(s), the re-ask, the parse.

``RowMaker`` holds everything that turning a ``WorkItem`` into a row needs and nothing else (no
datasets, no few-shot pool, no open files), so it pickles small and behaves the same wherever it
runs: in ``DatasetGenerator`` with the local engine, or in a Ray actor (``fabricator.execution.ray``)
with that actor's engine. Both paths call the same ``make``, and both count model calls against
a ``CallBudget``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .errors import BackendError, BudgetExceeded, ParseError
from .execution.journal import content_key
from .formats.base import OutputFormat, conditioning, parse_answer, reask_message, reasks
from .llms.base import Request


@dataclass(frozen=True)
class WorkItem:
    """One planned row: its prompt and where it came from."""

    index: int
    messages: tuple[dict[str, str], ...]
    prompt_text: str
    label: str | None = None
    source: int | None = None
    fewshot_ids: tuple[int, ...] = ()
    #: more prompts for the same row (other few-shot draws), each ``(messages, fewshot_ids)``,
    #: scored as votes with ``messages`` when labels are scored (``votes``)
    votes: tuple[tuple[tuple[dict[str, str], ...], tuple[int, ...]], ...] = ()
    #: the row's attribute values, ``(name, value)`` in the attributes' order (``fabricator.attributes``)
    attributes: tuple[tuple[str, str], ...] = ()
    #: a call that writes several rows (``rows_per_call``, ``fabricator.grouped``): one item per
    #: row, each with its own index and attributes; this item holds the call's prompt
    members: tuple[WorkItem, ...] = ()

    @property
    def rows(self) -> tuple[WorkItem, ...]:
        """The rows this item makes: its members, or itself."""
        return self.members or (self,)

    @property
    def first_asks(self) -> int:
        """The calls reserved for this row: the first ask of its prompt and of each vote."""
        return 1 + len(self.votes)


@dataclass
class Failure:
    """A row that could not be made, kept with its raw output and error."""

    index: int
    error: str
    kind: str
    raw: str | None = None
    source: int | None = None
    duplicate_of: int | None = None  # a dropped near-duplicate: the kept row it repeats

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "kind": self.kind,
            "error": self.error,
            "raw": self.raw,
            "duplicate_of": self.duplicate_of,
        }


class CallLogger(Protocol):
    def write(self, item: WorkItem, request: Request, response: str) -> None: ...


class EngineLike(Protocol):
    llm: Any

    async def call(self, request: Request, key: str) -> Any: ...


class CallBudget:
    """The model calls a run may make (``max_prompt_calls``), shared by all its rows.

    A call is one request to the model as the row maker sees it: a first ask, a re-ask after a
    wrong answer, the first ask of a top-up row. HTTP retries of a failed transport inside
    ``Engine.call`` are not calls here (they are ``RunStats.retries``), and an answer found in the
    journal costs nothing. Each planned row has one call set aside for its first ask (``reserve``),
    so a re-ask never takes the call of a row not yet asked. ``limit=None``: counted, not capped.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.used = 0
        self.reserved = 0
        self.journaled = 0  # calls answered from the journal (free; see ``mirrored_spare``)

    @property
    def spare(self) -> int | None:
        """Calls neither made nor set aside for a first ask (``None``: no cap)."""
        return None if self.limit is None else max(0, self.limit - self.used - self.reserved)

    def reserve(self, rows: int, calls_per_row: int = 1, rows_per_call: int = 1, labels: int = 1) -> int:
        """Set aside ``calls_per_row`` first asks (the row's, its verification's or its votes')
        for up to ``rows`` more rows; how many rows got them. With ``rows_per_call`` rows written
        by one call, a row's own first ask is a share of its call's; the rows of a call share one
        label, so ``labels`` labels, each with its even share of the rows, need their own calls."""

        def cost(n: int) -> int:
            shares = [n // labels + (label < n % labels) for label in range(labels)]
            return sum(-(-share // rows_per_call) for share in shares) + n * (calls_per_row - 1)

        spare = self.spare
        granted = rows
        if spare is not None and cost(rows) > spare:
            low, high = 0, rows  # the most rows whose calls fit: cost grows with n
            while low < high:
                mid = (low + high + 1) // 2
                low, high = (mid, high) if cost(mid) <= spare else (low, mid - 1)
            granted = low
        self.reserved += cost(granted)
        return granted

    def take(self, first: bool) -> bool:
        """Count one call (a row's ``first`` ask uses its reservation); False when none is left."""
        if first and self.reserved > 0:
            self.reserved -= 1
        elif self.limit is not None and self.used + self.reserved >= self.limit:
            return False
        self.used += 1
        return True

    def release(self) -> None:
        """A first ask was answered from the journal, or never made: its reservation is free again."""
        self.reserved = max(0, self.reserved - 1)

    def refund(self) -> None:
        """A counted call that was never sent (the token or dollar budget stopped it first)."""
        self.used = max(0, self.used - 1)


def mirrored_spare(budget: CallBudget) -> int | None:
    """The spare calls as the run that wrote the journal saw them at this point (``None``: no cap).

    A journaled answer costs nothing, so a rerun has more spare calls than the run that paid for
    them; choices made from spare calls (another sample, a re-ask) would then differ, and each
    different choice is a new request. Taking the journaled answers off keeps the choices, and
    the keys, of the first run: a rerun or a resume pays nothing for what was answered.
    """
    spare = budget.spare
    return None if spare is None else spare - budget.journaled


def _mirror_allows(budget: CallBudget) -> bool:
    spare = mirrored_spare(budget)
    return spare is None or spare >= 1


async def counted_call(
    engine: EngineLike,
    request: Request,
    budget: CallBudget,
    *,
    first: bool,
    sample: int = 0,
    mirror: bool = False,
) -> Any | None:
    """One model call through ``engine``, counted against ``budget``; ``None`` when none is left.

    An answer in the journal costs nothing (a ``first`` ask frees its reservation instead); a call
    the token or dollar budget stops before it is sent is given back. ``sample`` is the journal's
    sample key (the row), so rows with the same prompt keep their own answers. ``mirror``: a call
    made from spare calls (a sample, a branch, a re-ask) is made only while ``mirrored_spare``
    allows it (a journaled answer is always used: it is free), so a rerun makes the calls its first
    run made and no others.
    """
    journal = getattr(engine, "journal", None)
    key = (
        content_key(engine.llm.name, request.params(), request.messages, sample=sample)
        if journal is not None
        else ""
    )
    free = journal is not None and journal.get(key) is not None
    if free:
        if first:
            budget.release()
        budget.journaled += 1
    elif (mirror and not first and not _mirror_allows(budget)) or not budget.take(first=first):
        return None
    try:
        return await engine.call(request, key)
    except BudgetExceeded:
        if not free:
            budget.refund()
        raise


def derive_seed(seed: int, index: int, attempt: int) -> int:
    """The sampling seed of one attempt at one row (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}:{index}:{attempt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


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
    unlabeled_rows: Sequence[Mapping[str, Any]] | None = None
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
        if self.scoring is not None:
            from .scoring.annotate import score_row  # the label-scoring path (kept apart: one job each)

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
                return Failure(item.index, exc.message, type(exc).__name__, raw, item.source)
            if completion is None:
                why = f"{error}; not asked again" if error is not None else "not asked"
                return Failure(
                    item.index,
                    f"{why}: max_prompt_calls ({budget.limit}) reached",
                    "CallCapReached",
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
        return Failure(item.index, str(error), type(error).__name__, raw, item.source)

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
