"""The output-format protocols: how one kind of task asks, re-asks, parses and types its answers.

Every task kind is a format: free text, label annotation, label-conditioned generation, entities,
extractive QA, and any class a user writes with the six methods of ``OutputFormat`` (structural:
a new format needs no registry). What a format may do beyond them is declared, never probed:
``FullFormat`` names every optional member, ``BaseFormat`` gives each a default, and
``full_format`` wraps a plain ``OutputFormat`` once, when the task is resolved, so the pipeline
reads ``fmt.reask`` or ``fmt.conditioning()`` of any format alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from datasets import Dataset

from ..errors import ParseError


@runtime_checkable
class OutputFormat(Protocol):
    """What a user's format must have: the six methods a task cannot do without."""

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


@runtime_checkable
class FullFormat(OutputFormat, Protocol):
    """A format as the pipeline reads it: the six methods and every optional member declared."""

    #: whether a wrong answer is worth asking again with the error (structured answers are; any
    #: free text is an answer, so there is nothing to correct). Also: the instructions join the
    #: system prompt, and a JSON schema may constrain the answer.
    reask: bool

    def reask_message(self, error: ParseError) -> str:
        """What the model is told when its answer did not parse (the re-ask's user message)."""

    def json_instructions(self) -> str:
        """Added to the system prompt when the answer is constrained by ``json_schema``."""

    def conditioning(self) -> tuple[str, list[str]] | None:
        """``(column, labels)``: each row is written for one label, given to ``parse`` in ``column``
        (label-conditioned generation); ``None``: rows are not conditioned."""

    def score_options(self) -> dict[str, str] | None:
        """``{answer: label}`` a label can be scored by (labels and synonyms), or ``None`` for formats
        whose answer is not one of a few labels (then the answer text is parsed)."""

    def parse_cut_short(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """``parse`` for an answer cut off at ``max_tokens`` (free text keeps its whole sentences)."""


class BaseFormat:
    """The defaults of ``FullFormat``'s optional members; a format overrides only what it needs."""

    reask: bool = True

    def prepare(self, dataset: Dataset) -> Dataset:
        return dataset

    def needed_columns(self) -> list[str]:
        return []

    def json_schema(self) -> dict[str, Any] | None:
        return None

    def instructions(self) -> str:
        return ""

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must say how to parse an answer")

    def features(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must give the features of its columns")

    def reask_message(self, error: ParseError) -> str:
        return f"{error.message}. {self.instructions()}"

    def json_instructions(self) -> str:
        return ""

    def conditioning(self) -> tuple[str, list[str]] | None:
        return None

    def score_options(self) -> dict[str, str] | None:
        return None

    def parse_cut_short(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return self.parse(text, row)


class _Plain(BaseFormat):
    """A user's ``OutputFormat`` with the defaults of every optional member (see ``full_format``)."""

    def __init__(self, fmt: OutputFormat) -> None:
        self.fmt = fmt

    def prepare(self, dataset: Dataset) -> Dataset:
        return self.fmt.prepare(dataset)

    def needed_columns(self) -> list[str]:
        return self.fmt.needed_columns()

    def json_schema(self) -> dict[str, Any] | None:
        return self.fmt.json_schema()

    def instructions(self) -> str:
        return self.fmt.instructions()

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return self.fmt.parse(text, row)

    def features(self) -> dict[str, Any]:
        return self.fmt.features()

    def __repr__(self) -> str:
        return repr(self.fmt)


def full_format(fmt: OutputFormat) -> FullFormat:
    """``fmt`` itself when it declares every optional member (a ``BaseFormat`` does), else ``fmt``
    with their defaults: a plain format re-asks with its instructions, is not conditioned or scored."""
    return fmt if isinstance(fmt, FullFormat) else _Plain(fmt)


__all__ = ["BaseFormat", "FullFormat", "OutputFormat", "full_format"]
