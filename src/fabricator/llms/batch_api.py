"""What a provider's batch API is to the pipeline (``Capabilities.batch_api``): a protocol and its data.

OpenAI's Batch API (and the same files served by Together, OpenRouter, vLLM's ``run_batch``) runs a
file of chat requests within a day at about half the online price. A backend that has one declares
``batch_api`` and returns a ``BatchAPI`` from ``batches()``; ``engine="batch"`` drives it
(``fabricator.execution.batch_executor``). Answers come back keyed by the ``custom_id`` each request
was sent with: a ``Completion``, or the ``BackendError`` the provider gave for that request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import BackendError
from .base import Completion, Request

#: the states after which a batch changes no more
FINAL_STATES = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class BatchInfo:
    """One batch as the provider last described it."""

    id: str
    status: str
    output_file: str | None = None
    error_file: str | None = None
    #: why the whole batch failed (``status == "failed"``), in the provider's words
    errors: tuple[str, ...] = ()
    completed: int = 0
    failed: int = 0
    total: int = 0
    #: the uploaded file the batch runs (how a resumed run finds a batch it never wrote down)
    input_file: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES


#: one request's answer: its ``Completion``, or the error the provider gave for it
Answer = Completion | BackendError


class BatchAPI(Protocol):
    """Files and batches at one provider (``POST /v1/files``, ``/v1/batches`` and friends)."""

    def line(self, custom_id: str, request: Request) -> bytes:
        """One request as a line of the batch file (``custom_id``, ``method``, ``url``, ``body``)."""
        ...

    async def upload(self, lines: Sequence[bytes]) -> str:
        """Upload a batch file; its file id."""
        ...

    async def create(self, input_file: str) -> BatchInfo: ...

    async def retrieve(self, batch_id: str) -> BatchInfo: ...

    async def cancel(self, batch_id: str) -> BatchInfo: ...

    async def list_batches(self) -> list[BatchInfo]:
        """Every batch of the account (a resumed run looks for one it created but never wrote down)."""
        ...

    async def answers(self, file_id: str) -> dict[str, Answer]:
        """The answers in an output or error file, by ``custom_id``."""
        ...


class BatchSubmitting(Protocol):
    """A backend that declares ``Capabilities.batch_api``."""

    name: str

    def batches(self) -> BatchAPI: ...


__all__ = ["FINAL_STATES", "Answer", "BatchAPI", "BatchInfo", "BatchSubmitting"]
