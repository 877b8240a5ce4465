"""Filter stages: each takes a round of new rows and returns the rows it keeps and the failures.

A filter never edits the rows it is given nor another stage's state: it returns ``Kept``, and the
generator hands the kept rows of one filter to the next (``Round.then``). Dropped rows become
failures, which the next round replaces while calls are left. To add a filter, write a class with
``async def apply(self, batch: Round) -> Kept`` and register it by name (``filters.registry``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from ...execution.work import Failure, Row


@dataclass(frozen=True)
class Round:
    """One round's new rows, in row order, and what its prompts showed."""

    rows: Mapping[int, Row]  # the rows made (and kept by the filters before this one)
    indices: Sequence[int]  # every row planned in the round, made or failed
    shown: Sequence[int] = ()  # the few-shot example ids its prompts showed

    def then(self, kept: Kept) -> Round:
        """The round as the next filter sees it: only the rows this one kept."""
        return replace(self, rows=kept.rows)


@dataclass
class Kept:
    """What a filter returns: the rows it keeps, and the failures of those it drops."""

    rows: dict[int, Row]
    failures: dict[int, Failure] = field(default_factory=dict)


class Filter(Protocol):
    """A stage after each round of generation."""

    async def apply(self, batch: Round) -> Kept: ...


__all__ = ["Filter", "Kept", "Round"]
