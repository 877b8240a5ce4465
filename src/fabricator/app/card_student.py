"""The student loop in the run folder: the card's table of rounds and ``student_loop.png``
(docs/student_loop.md). Both read ``summary["student_loop"]``, as ``metadata.json`` holds it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..evaluation.student_loop_plot import STUDENT_LOOP_PNG, plot_student_loop
from ..markdown import table

if TYPE_CHECKING:
    from .output_folder import OutputFolder

__all__ = ["pilots_lines", "student_loop_section", "write_student_plot"]


def _plotted(loop: Mapping[str, Any] | None) -> bool:
    """Whether the loop has a round with a student (else there is no plot)."""
    if not loop:
        return False
    return any(r.get("accuracy") is not None for r in loop.get("rounds", ()))


def _asks(record: Mapping[str, Any]) -> str:
    wanted = record.get("next_rows")
    return ", ".join(f"{label} {n}" for label, n in wanted.items()) if wanted else "-"


def pilots_lines(pilots: Mapping[str, Any] | None) -> list[str]:
    """``## Pilots``: the generation settings tried before the run, each scored by a student."""
    if not pilots:
        return []
    score = pilots.get("accuracy")
    lines = [
        "## Pilots",
        "",
        f"Before the run, each setting below made a pilot of its own; a student trained on each pilot's "
        f"rows was tested on {pilots.get('test_rows')} rows of the labelled few-shot pool that no prompt "
        f"showed. Chosen: `{pilots.get('chosen')}`"
        + ("" if score is None else f" ({score:.3f})")
        + f"; {pilots.get('calls')} pilot calls.",
        "",
    ]
    rows = [
        (
            f"`{c['setting']}`",
            c.get("rows", "-"),
            c.get("calls", "-"),
            "failed: " + str(c.get("error", "")) if c.get("accuracy") is None else f"{c['accuracy']:.3f}",
        )
        for c in pilots.get("candidates", [])
    ]
    return [*lines, *table(["setting", "rows", "calls", "student accuracy"], rows), ""]


def student_loop_section(summary: Mapping[str, Any]) -> list[str]:
    """``## Pilots`` and ``## Student in the loop``: a row per setting and per round (nothing
    without them)."""
    loop: Mapping[str, Any] = summary.get("student_loop") or {}
    if not loop:
        return pilots_lines(summary.get("pilots"))
    rounds = loop.get("rounds", [])
    lines = [
        *pilots_lines(summary.get("pilots")),
        "## Student in the loop",
        "",
        f"The rows were made in {len(rounds)} rounds. After each, a student (all-MiniLM-L6-v2 embeddings "
        "and logistic regression) was trained on the rows kept so far and tested on "
        f"{loop.get('test_rows')} rows of the labelled few-shot pool that no prompt ever showed (the "
        f"other {loop.get('shown_rows')} were the examples, {loop.get('examples_per_prompt')} of the asked "
        "label a prompt). The next round asked more rows of the labels it got wrong or confused, and "
        "showed the examples nearest to its errors.",
        "",
    ]
    rows = [
        (
            r["round"],
            r["rows"],
            "-" if r.get("accuracy") is None else f"{r['accuracy']:.3f}",
            "-" if r.get("macro_f1") is None else f"{r['macro_f1']:.3f}",
            _asks(r) if r.get("next_rows") else (r.get("note") or "-"),
        )
        for r in rounds
    ]
    lines += table(["round", "rows trained on", "pool accuracy", "macro-F1", "next round asks"], rows)
    if _plotted(loop):
        lines += ["", f"![the student's pool accuracy per round]({STUDENT_LOOP_PNG})"]
    return lines


def write_student_plot(folder: OutputFolder, summary: Mapping[str, Any]) -> None:
    """``student_loop.png`` in the run folder (written like every file: temporary name first)."""
    loop = summary.get("student_loop")
    if loop is not None and _plotted(loop):
        folder.write_file(STUDENT_LOOP_PNG, lambda tmp: plot_student_loop(loop, tmp))
