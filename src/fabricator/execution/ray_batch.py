"""The row driver's vLLM batch strategy (``engine="ray"`` with a backend that declares ``batch``).

A whole round is asked at once through the backend's Ray Data processor, where the other
strategies ask one request at a time through the engine. What the driver owns stays the same:
each item's first request and its parse come from the row maker (``request``, ``parse``; no
re-ask here: an answer that does not parse is a failure, as after the last attempt), the journal
keys are the engine's, every call is counted against the run's ``CallBudget``, and every answer
is journaled and accounted by the driver engine (``Engine.lookup``/``record``/``account``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ParseError
from ..llms.base import Completion, Request, Usage
from .calls import CallBudget, CallLogger, journal_key
from .engine import Engine
from .ray_drain import iter_rows
from .work import Failure, FailureKind, Result, WorkItem

Keep = Callable[[WorkItem, Any], None]


class BatchBackend(Protocol):
    """A backend that declares ``Capabilities.batch`` (``fabricator.llms.ray_vllm.RayVLLM``)."""

    name: str
    blocks: int  # Ray Data blocks a round is cut into

    def record(self, index: int, request: Request) -> dict[str, Any]: ...

    def processor(self) -> Callable[[Any], Any]: ...


class BatchMaker(Protocol):
    """The part of the row maker the batch strategy uses: an item's first request, and its parse."""

    def request(self, item: WorkItem, messages: Sequence[dict[str, str]], attempt: int) -> Request: ...

    def parse(self, item: WorkItem, text: str) -> Any: ...


@dataclass
class VLLMBatch:
    """One round of items through a batch backend; ``keep(item, row | Failure)`` for each."""

    ray: Any
    llm: BatchBackend
    engine: Engine
    budget: CallBudget
    logger: CallLogger | None
    dataset: Callable[[list[dict[str, Any]], int], Any]  # records -> a Ray Dataset of n blocks

    async def map(self, maker: BatchMaker, items: Sequence[WorkItem], keep: Keep) -> None:
        todo: list[dict[str, Any]] = []
        #: each item sent to the model: the item, its request and its journal key
        pending: dict[int, tuple[WorkItem, Request, str]] = {}
        for item in items:
            request = maker.request(item, item.messages, 0)
            key = journal_key(self.llm.name, request, item.index)
            cached = self.engine.lookup(key)
            if not self.budget.charge(first=True, journaled=cached is not None):
                error = f"not asked: max_prompt_calls ({self.budget.limit}) reached"
                keep(item, Failure(item.index, error, FailureKind.CALL_CAP_REACHED, None, item.source))
            elif cached is not None:
                keep(item, self.answered(maker, item, request, cached.text))
            else:
                pending[item.index] = (item, request, key)
                todo.append(self.llm.record(item.index, request))
        if todo:
            await self._ask(maker, todo, pending, keep)

    async def _ask(
        self,
        maker: BatchMaker,
        todo: list[dict[str, Any]],
        pending: dict[int, tuple[WorkItem, Request, str]],
        keep: Keep,
    ) -> None:
        llm, engine = self.llm, self.engine
        processor = llm.processor()

        def dataset() -> Any:
            return processor(self.dataset(todo, max(1, min(len(todo), llm.blocks))))

        async with aclosing(iter_rows(self.ray, dataset)) as rows:
            async for row in rows:
                item, request, key = pending[int(row["i"])]
                completion = Completion(
                    str(row.get("generated_text") or ""),
                    "stop",
                    Usage(int(row.get("num_input_tokens") or 0), int(row.get("num_generated_tokens") or 0)),
                    llm.name,
                )
                engine.stats.requests += 1
                engine.account(completion)
                engine.record(key, completion)
                keep(item, self.answered(maker, item, request, completion.text))

    def answered(self, maker: BatchMaker, item: WorkItem, request: Request, text: str) -> Result:
        """The row of one answer (logged), or the failure of an answer that does not parse."""
        if self.logger is not None:
            self.logger.write(item, request, text)
        try:
            result: Result = maker.parse(item, text)
        except ParseError as exc:
            result = Failure(item.index, str(exc), FailureKind.of(exc), text, item.source)
        return result


__all__ = ["BatchBackend", "BatchMaker", "VLLMBatch"]
