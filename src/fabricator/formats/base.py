"""The output-format protocol: how one kind of task asks, re-asks, parses and types its answers.

Every task kind is an ``OutputFormat``: free text, label annotation, label-conditioned generation,
entities, extractive QA, and any class a user writes with the six required methods (the protocol
is structural: a new format needs no registry). The optional members below have defaults here, so
the generator and the row maker ask a format, never a task-kind flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from datasets import Dataset

from ..errors import ParseError


@runtime_checkable
class OutputFormat(Protocol):
    """What a task needs from its format (required members; see the module for the optional ones)."""

    def prepare(self, dataset: Dataset) -> Dataset:
        """Add the columns the prompt shows (run on few-shot and unlabeled data)."""

    def needed_columns(self) -> list[str]:
        """Columns of the unlabeled row that ``parse`` reads."""

    def json_schema(self) -> dict[str, Any] | None:
        """The answer's JSON schema for backends that constrain decoding (``None``: no schema)."""

    def instructions(self) -> str:
        """What the answer must look like, said to the model (system prompt and re-asks)."""

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row's columns from one answer; ``ParseError`` when it is not valid data."""

    def features(self) -> dict[str, Any]:
        """The ``datasets`` features of the columns ``parse`` returns."""


class BaseFormat:
    """Defaults for the optional members; subclassing it is a convenience, never required."""

    #: whether a wrong answer is worth asking again, with the error (structured answers are)
    reask: bool = True

    def prepare(self, dataset: Dataset) -> Dataset:
        return dataset

    def needed_columns(self) -> list[str]:
        return []

    def json_schema(self) -> dict[str, Any] | None:
        return None

    def reask_message(self, error: ParseError) -> str:
        return f"{error.message}. {self.instructions()}"

    def instructions(self) -> str:
        return ""

    def json_instructions(self) -> str:
        """Added to the system prompt when the answer is constrained by ``json_schema``."""
        return ""

    def conditioning(self) -> tuple[str, list[str]] | None:
        """``(column, labels)``: each row is conditioned on one label, given to ``parse`` in ``column``."""
        return None


# --- the optional members, asked of any format (a user's may lack them) ---------------------------


def reasks(fmt: OutputFormat) -> bool:
    return bool(getattr(fmt, "reask", True))


def reask_message(fmt: OutputFormat, error: ParseError) -> str:
    method = getattr(fmt, "reask_message", None)
    return method(error) if method is not None else f"{error.message}. {fmt.instructions()}"


def json_instructions(fmt: OutputFormat) -> str:
    method = getattr(fmt, "json_instructions", None)
    return str(method()) if method is not None else ""


def conditioning(fmt: OutputFormat) -> tuple[str, list[str]] | None:
    method = getattr(fmt, "conditioning", None)
    return method() if method is not None else None


def score_options(fmt: OutputFormat) -> dict[str, str] | None:
    """``{answer: label}`` a label can be scored by (labels and synonyms), or ``None`` for formats
    whose answer is not one of a few labels (then the answer text is parsed)."""
    method = getattr(fmt, "score_options", None)
    return method() if method is not None else None


def parse_answer(
    fmt: OutputFormat, text: str, row: Mapping[str, Any], *, truncated: bool = False
) -> dict[str, Any]:
    """``fmt.parse``, or ``fmt.parse_cut_short`` for an answer cut off at ``max_tokens``, if it has one."""
    cut_short = getattr(fmt, "parse_cut_short", None) if truncated else None
    return cut_short(text, row) if cut_short is not None else fmt.parse(text, row)
