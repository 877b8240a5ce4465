"""Shared by the judge experiments: existing rows scored by the run's judge stage, journaled.

The judge is a filter stage of ``generate``; these experiments score rows that already exist (SST-2
dev rows, the committed generated rows), so they hand the stage a ``Round`` of those rows and run
it on an engine with a journal, as a run would: a rerun reads the answers back and pays nothing.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

from fabricator.execution import LocalExecutor
from fabricator.execution.call_log import CallLog
from fabricator.execution.calls import CallBudget
from fabricator.execution.engine import Engine
from fabricator.execution.journal import Journal
from fabricator.execution.work import Row
from fabricator.judge_criteria import JudgeCriterion
from fabricator.options import SamplingOptions
from fabricator.pipeline.filters import Round
from fabricator.pipeline.filters.judge import Judge


async def _judge(
    rows: list[dict[str, Any]], criterion: JudgeCriterion, llm: Any, journal_dir: Path, chunk: int
) -> list[dict[str, Any]]:
    journal = Journal(journal_dir, signature={"experiment": "judge", "model": llm.name}, on_mismatch="reuse")
    engine = Engine(llm, journal=journal)
    budget = CallBudget()
    judge = Judge(
        [criterion], SamplingOptions(), LocalExecutor(None, engine, CallLog(None, 0), budget), budget
    )
    out: list[dict[str, Any]] = []
    try:
        for start in range(0, len(rows), chunk):
            part = {i: Row(dict(rows[i])) for i in range(start, min(len(rows), start + chunk))}
            kept = await judge.apply(Round(part, list(part)))
            for i in sorted(part):
                judged = kept.rows.get(i)
                out.append(judged.provenance.get("judge", {}).get(criterion.name, {}) if judged else {})
            print(f"judged {len(out)}/{len(rows)}; calls {engine.stats.requests}", flush=True)
    finally:
        journal.close()
    return out


def judge_rows(
    rows: list[dict[str, Any]], criterion: JudgeCriterion, llm: Any, journal_dir: Path, chunk: int = 50
) -> list[dict[str, Any]]:
    """Each row's judge score on ``criterion`` (``{}`` where no score came back), in order."""
    return asyncio.run(_judge(rows, criterion, llm, journal_dir, chunk))


def auroc(positive: list[float], negative: list[float]) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    if not positive or not negative:
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))
