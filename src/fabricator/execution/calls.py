"""Counting model calls: the run's ``CallBudget`` (``max_prompt_calls``) and ``counted_call``, the one
way every stage (rows, verification, proposals, on any executor) sends a request and pays for it.
``ItemCalls`` is one work item's calls as the row driver makes them: counted, journaled, logged."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import BudgetExceeded
from ..llms.base import Completion, Request
from .journal import content_key
from .work import Failure, FailureKind, Result, WorkItem


class CallLogger(Protocol):
    def write(self, item: WorkItem, request: Request, response: str) -> None: ...


class EngineLike(Protocol):
    llm: Any
    journal: Any

    async def call(self, request: Request, key: str) -> Any: ...


class CallBudget:
    """The model calls a run may make (``max_prompt_calls``), shared by all its rows.

    A call is one request to the model as the row maker sees it: a first ask, a re-ask after a
    wrong answer, the first ask of a top-up row. HTTP retries of a failed transport inside
    ``Engine.call`` are not calls here (they are ``RunStats.retries``), and an answer found in the
    journal costs nothing. Each planned row has one call set aside for its first ask (``reserve``),
    so a re-ask never takes the call of a row not yet asked. ``limit=None``: counted, not capped.
    """

    def __init__(self, limit: int | None = None, allowance: int = 0) -> None:
        self.limit = limit
        #: calls past ``limit`` that only a re-ask may take (an annotation's wrong answers asked
        #: again), so ``max_prompt_calls = len(rows)`` still gives every row its first ask
        self.allowance = allowance
        self.beyond = 0  # re-asks made from the allowance
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
            if self.beyond >= self.allowance:
                return False
            self.beyond += 1  # a re-ask from the allowance, not from max_prompt_calls
            return True
        self.used += 1
        return True

    def release(self) -> None:
        """A first ask was answered from the journal, or never made: its reservation is free again."""
        self.reserved = max(0, self.reserved - 1)

    def refund(self) -> None:
        """A counted call that was never sent (the token or dollar budget stopped it first)."""
        self.used = max(0, self.used - 1)

    def charge(self, *, first: bool, journaled: bool) -> bool:
        """Count one call about to be asked; False when none is left. An answer in the journal
        costs nothing (a ``first`` ask frees its reservation instead)."""
        if not journaled:
            return self.take(first=first)
        if first:
            self.release()
        self.journaled += 1
        return True

    def lend(self, first_asks: int) -> int:
        """A round's calls handed out at once (Ray blocks): its items' reserved ``first_asks`` and
        every spare call, counted as used until ``repay`` says what was made; how many."""
        spare = self.spare
        self.reserved = max(0, self.reserved - first_asks)
        lent = 0 if spare is None else first_asks + spare
        self.used += lent
        return lent

    def repay(self, lent: int, made: int) -> None:
        """The loan of ``lend`` settled: ``made`` calls were really made."""
        self.used += made - lent


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
    return spare is None or spare + budget.allowance - budget.beyond >= 1


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
    journal = engine.journal
    key = journal_key(engine.llm.name, request, sample) if journal is not None else ""
    free = journal is not None and journal.get(key) is not None
    if not free and mirror and not first and not _mirror_allows(budget):
        return None
    if not budget.charge(first=first, journaled=free):
        return None
    try:
        return await engine.call(request, key)
    except BudgetExceeded:
        if not free:
            budget.refund()
        raise


def journal_key(model: str, request: Request, sample: int) -> str:
    """The journal's key of ``request`` to ``model`` for row ``sample`` (rows keep their own answers)."""
    return content_key(model, request.params(), request.messages, sample=sample)


class NoCallLeft(Exception):
    """No model call is left (``max_prompt_calls``): the row driver makes it a ``CallCapReached``."""


@dataclass
class ItemCalls:
    """One work item's model calls, as the row driver makes them: each through ``counted_call``
    (journal, budget), written to the call log; the last answer and why it was not used are kept
    for the failure the item may become."""

    engine: EngineLike
    item: WorkItem
    logger: CallLogger
    budget: CallBudget
    last_text: str | None = None
    error: str | None = None  # why the last answer was not a row (a cap failure says so)

    async def ask(self, request: Request, *, first: bool) -> Completion:
        """One answer; ``first``: the first ask of a prompt (it uses the call reserved for it)."""
        completion = await counted_call(
            self.engine, request, self.budget, first=first, sample=self.item.index, mirror=True
        )
        if completion is None:
            raise NoCallLeft
        self.last_text = completion.text
        self.logger.write(self.item, request, completion.text)
        return completion

    def failures(self, error: str, kind: FailureKind) -> list[Result]:
        """Every row of the item failed with ``error`` (the last answer kept as raw output)."""
        return [Failure(row.index, error, kind, self.last_text, row.source) for row in self.item.rows]

    def out_of_calls(self) -> list[Result]:
        why = f"{self.error}; not asked again" if self.error is not None else "not asked"
        return self.failures(
            f"{why}: max_prompt_calls ({self.budget.limit}) reached", FailureKind.CALL_CAP_REACHED
        )


def derive_seed(seed: int, index: int, attempt: int) -> int:
    """The sampling seed of one attempt at one row (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}:{index}:{attempt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


__all__ = [
    "CallBudget",
    "CallLogger",
    "EngineLike",
    "ItemCalls",
    "NoCallLeft",
    "counted_call",
    "derive_seed",
    "journal_key",
    "mirrored_spare",
]
