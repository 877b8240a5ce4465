"""Markdown pieces every written report shares: escaped cells, tables and code fences (one writer)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: Any) -> str:
    """``value`` as one table cell: pipes escaped, on one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, numbers: bool = False) -> list[str]:
    """A table's lines; ``numbers``: every column after the first holds figures (aligned right)."""
    if numbers:
        rule = "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"
    else:
        rule = "|" + "|".join(" --- " for _ in header) + "|"
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", rule]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def fence(text: str, lang: str = "") -> list[str]:
    """A code block whose fence is longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    mark = "`" * max(3, longest + 1)
    return [mark + lang, text.rstrip("\n"), mark]
