"""The copy filter: generated rows that repeat an earlier row or copy a few-shot example (``dedup``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...execution.work import Failure, FailureKind, Row
from ...parsing import normalize_text
from ..task import Task
from . import Kept, Round


def row_text(row: Row | Mapping[str, Any], column: str) -> str:
    """What a filter compares of a row: its text column, or all its fields as JSON where it has
    none (a row in the user's schema)."""
    values = row.values if isinstance(row, Row) else row
    if column in values:
        return str(values[column])
    return json.dumps(dict(values), sort_keys=True, ensure_ascii=False)


class CopyFilter:
    """Drops generated rows that repeat an earlier row or copy a few-shot example.

    Applied in row order after each round, so the result does not depend on which request
    finished first; dropped rows become failures and the next round replaces them.
    """

    def __init__(self, task: Task) -> None:
        self.column = task.prompt.target_column
        self.examples = (
            {normalize_text(str(r[self.column])) for r in task.pool.rows if self.column in r}
            if task.pool
            else set()
        )
        self.seen: set[str] = set()

    async def apply(self, batch: Round) -> Kept:
        kept = Kept({})
        for index in sorted(batch.rows):
            row = batch.rows[index]
            text = row_text(row, self.column)
            key = normalize_text(str(text))
            if key in self.examples:
                kind, what = FailureKind.COPIED_EXAMPLE, "copies a few-shot example"
            elif key in self.seen:
                kind, what = FailureKind.DUPLICATE, "repeats an earlier row"
            else:
                self.seen.add(key)
                kept.rows[index] = row
                continue
            kept.failures[index] = Failure(index, f"the text {what}", kind, text)
        return kept


__all__ = ["CopyFilter", "row_text"]
