"""The card's judge section: each criterion's rubric, mean score and histogram (docs/judge.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..judge_criteria import JudgeCriterion
from ..markdown import table

__all__ = ["judge_section"]


def judge_section(summary: Mapping[str, Any], criteria: Sequence[JudgeCriterion] | None) -> list[str]:
    """``## Judge``: one row per criterion from ``summary["judge"]`` (nothing without a judge)."""
    found: Mapping[str, Any] = summary.get("judge") or {}
    if not found:
        return []
    rubrics = {c.name: c for c in criteria or ()}
    lines = [
        "## Judge",
        "",
        "Each row was scored on these criteria by the judge model's probabilities over the scale: the "
        "column `judge_<name>` holds the expected score, `provenance.jsonl` the distribution and its "
        "confidence. Counts are judged rows (rejected ones included) by nearest point of the scale.",
        "",
    ]
    rows = []
    for name, counts in found.items():
        criterion = rubrics.get(name)
        rubric = criterion.rubric if criterion is not None else ""
        low_high = f"{criterion.scale[0]}-{criterion.scale[1]}" if criterion is not None else ""
        histogram = " ".join(f"{point}: {n}" for point, n in counts.get("counts", {}).items())
        mean = counts.get("mean")
        rows.append(
            (
                name,
                rubric,
                low_high,
                "-" if mean is None else f"{mean:.2f}",
                histogram,
                counts.get("rejected", 0),
            )
        )
    lines += table(
        ["criterion", "rubric", "scale", "mean", "rows by score", "rejected (LowJudgeScore)"], rows
    )
    return lines
