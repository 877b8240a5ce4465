"""The paper's three task kinds as types, chosen once when a task is resolved.

A stage asks the task's kind what it needs (``task.kind.generates``, ``task.kind.conditioned``,
``task.kind.canned``) instead of comparing a mode string or testing ``unlabeled is None``. The
format still decides what is the format's business (label options, schema, grouping).
A dry run (``dummy_response``) is the same kind with ``canned=True``: decided once, read where
it matters (nothing to filter, verify or score; any answer text is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol


class TaskKind(Protocol):
    """What a stage needs to know about the kind of task a run does."""

    #: the kind's name in reports, the journal's signature and the card
    name: ClassVar[str]
    #: the model writes the rows (generation: dropped rows are topped up, copies filtered,
    #: attributes dealt); else it labels the user's rows, one row per input (annotation)
    generates: ClassVar[bool]
    #: each row is asked for one label (label-conditioned generation: verification can check it)
    conditioned: ClassVar[bool]

    @property
    def canned(self) -> bool:
        """Answers are canned (``dummy_response``): nothing to filter, verify or score."""


@dataclass(frozen=True)
class Generation:
    """Unlabeled generation: the model writes new texts from the task description."""

    canned: bool = False
    name: ClassVar[str] = "unlabeled"
    generates: ClassVar[bool] = True
    conditioned: ClassVar[bool] = False


@dataclass(frozen=True)
class ConditionedGeneration:
    """Label-conditioned generation: the model writes one text for a given label per row."""

    canned: bool = False
    name: ClassVar[str] = "label-conditioned"
    generates: ClassVar[bool] = True
    conditioned: ClassVar[bool] = True


@dataclass(frozen=True)
class Annotation:
    """Annotation: the model labels (or writes a column of) each row of an unlabeled dataset."""

    canned: bool = False
    name: ClassVar[str] = "annotation"
    generates: ClassVar[bool] = False
    conditioned: ClassVar[bool] = False


KINDS: tuple[type[TaskKind], ...] = (Generation, ConditionedGeneration, Annotation)


def kind_of(*, annotates: bool, labeled: bool, canned: bool = False) -> TaskKind:
    """The kind of a ``generate`` call: annotation with an unlabeled dataset, else generation,
    conditioned on a label per row when the prompt has label options."""
    if annotates:
        return Annotation(canned)
    return ConditionedGeneration(canned) if labeled else Generation(canned)


def kind_named(name: str) -> TaskKind | None:
    """The kind a saved report names (``summary["mode"]``), for code that reads a finished run;
    ``None`` for a name of no kind (a summary without one)."""
    return next((kind() for kind in KINDS if kind.name == name), None)


__all__ = ["KINDS", "Annotation", "ConditionedGeneration", "Generation", "TaskKind", "kind_named", "kind_of"]
