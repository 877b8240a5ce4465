"""Plain-text tables and scores: how every evaluation report prints its figures alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["score", "text_table"]


def text_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=False)]
        lines.append("  " + "  ".join([first, *rest]))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def score(value: float | None) -> str:
    """A score with four decimals; ``-`` where there is none."""
    return "-" if value is None else f"{value:.4f}"
