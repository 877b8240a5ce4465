"""What travels between the plan and the executors: a ``WorkItem`` in, a ``Row`` or a ``Failure`` out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


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
    #: the server slot whose prompt cache holds this row's prompt prefix (a block of rows sharing
    #: one prompt, ``fewshot_blocks``); ``None``: let the server choose
    slot: int | None = None

    @property
    def rows(self) -> tuple[WorkItem, ...]:
        """The rows this item makes: its members, or itself."""
        return self.members or (self,)

    @property
    def first_asks(self) -> int:
        """The calls reserved for this row: the first ask of its prompt and of each vote."""
        return 1 + len(self.votes)


@dataclass(eq=False)
class Row:
    """A made row: the format's typed columns, where it came from, and (annotation) its input row.

    ``provenance`` goes to the report and the output folder; ``source`` is the index of the input
    row an annotation labelled. A row compares equal to another row, or to the one dict it was
    before rows were typed (``as_dict``), so code that reads rows as dicts keeps working.
    """

    values: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    source: int | None = None

    def __getitem__(self, column: str) -> Any:
        return self.values[column]

    def as_dict(self) -> dict[str, Any]:
        """The row as one dict: its values, ``__source`` (annotation) and ``__provenance`` (if any)."""
        out = dict(self.values)
        if self.source is not None:
            out["__source"] = self.source
        if self.provenance:
            out["__provenance"] = self.provenance
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return (self.values, self.provenance, self.source) == (
                other.values,
                other.provenance,
                other.source,
            )
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable: settling a run edits its rows


class FailureKind(str, Enum):
    """Why a row was not made. A ``str`` enum: compares equal to its name and writes as it in JSON."""

    # the model call failed (``fabricator.errors``' backend errors, by class name)
    BACKEND_ERROR = "BackendError"
    RATE_LIMIT_ERROR = "RateLimitError"
    SERVER_ERROR = "ServerError"
    REQUEST_TIMEOUT = "RequestTimeout"
    CONNECTION_FAILED = "ConnectionFailed"
    AUTHENTICATION_ERROR = "AuthenticationError"
    BAD_REQUEST_ERROR = "BadRequestError"
    PROMPT_TOO_LONG = "PromptTooLong"
    BACKEND_UNAVAILABLE = "BackendUnavailable"
    # the answer was no valid row
    PARSE_ERROR = "ParseError"
    REFUSAL_ERROR = "RefusalError"
    # no call was left (``max_prompt_calls``)
    CALL_CAP_REACHED = "CallCapReached"
    # dropped by a filter stage
    DUPLICATE = "Duplicate"
    COPIED_EXAMPLE = "CopiedExample"
    NEAR_DUPLICATE = "NearDuplicate"
    LABEL_MISMATCH = "LabelMismatch"
    UNVERIFIED = "Unverified"
    LOW_CONFIDENCE = "LowConfidence"
    LOW_JUDGE_SCORE = "LowJudgeScore"  # the judge's expected score is below min_judge_score
    FILTERED = "Filtered"  # dropped by a filter registered by name, for reasons of its own (its error)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, error: BaseException) -> FailureKind:
        """The kind of an error: its own class's, else its nearest base's with a kind."""
        for klass in type(error).__mro__:
            try:
                return cls(klass.__name__)
            except ValueError:
                continue
        return cls.BACKEND_ERROR


@dataclass
class Failure:
    """A row that could not be made, kept with its raw output and error."""

    index: int
    error: str
    kind: FailureKind
    raw: str | None = None
    source: int | None = None
    duplicate_of: int | None = None  # a dropped near-duplicate: the kept row it repeats

    def __post_init__(self) -> None:
        self.kind = FailureKind(self.kind)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "kind": self.kind.value,
            "error": self.error,
            "raw": self.raw,
            "duplicate_of": self.duplicate_of,
        }


#: what a work item's row becomes
Result = Row | Failure

__all__ = ["Failure", "FailureKind", "Result", "Row", "WorkItem"]
