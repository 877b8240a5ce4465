"""The parts of one run that are not stages: its journal, its engine, and what the report says."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..errors import ConfigError
from ..execution.calls import CallBudget, CallLogger
from ..execution.clock import Clock
from ..execution.engine import Engine
from ..execution.executor import LocalExecutor, Maker
from ..execution.journal import Journal
from ..execution.ratelimit import RateLimiter
from ..execution.settings import EngineSettings
from ..execution.stats import Prices
from ..execution.work import FailureKind
from ..llms.base import LLM
from ..options import GenerationOptions, JournalOptions
from ..progress import ProgressReporter
from ..report import GenerationReport
from .filters import Filter
from .filters.judge import Judge, judge_columns
from .filters.near import NearDuplicateFilter
from .filters.pool_check import PoolCheck
from .filters.verification import Verifier
from .resolve import check_count
from .rounds import Rounds, Target
from .task import Task, signature

log = logging.getLogger("fabricator")


def target_of(task: Task, calls: int, samples: int) -> Target:
    """The rows a run aims at and the calls each sets aside (its first ask, its check or votes)."""
    check_count("max_prompt_calls", calls)
    check_count("num_samples_to_generate", samples)
    per_call = task.sampling.rows_per_call  # rows one call writes (generation)
    wanted = min(calls * per_call, len(task.unlabeled) if task.unlabeled is not None else samples)
    per_row = (2 if task.verified else task.prompts_per_row) + len(judge_columns(task))  # + a judge call each
    return Target(wanted, calls, per_row, per_call, task.kind.generates)


def check_engine(task: Task, engine: str) -> None:
    """Grouped rows (``rows_per_call``) are split by the local executor only."""
    per_call = task.sampling.rows_per_call
    if per_call > 1 and engine != "local":
        raise ConfigError(
            f"rows_per_call={per_call} runs on the local engine only",
            hint="use engine='local', or rows_per_call=1 on Ray",
        )


def open_journal(options: JournalOptions, task: Task, llm: LLM) -> Journal | None:
    if options.journal_dir is None:
        return None
    return Journal(
        options.journal_dir, signature=signature(task, llm), on_mismatch=options.on_journal_mismatch
    )


def engine_of(
    llm: LLM,
    options: GenerationOptions,
    timeout: float | None,
    clock: Clock | None,
    journal: Journal | None,
    progress: ProgressReporter,
) -> Engine:
    """The run's engine: its limits and budget from the options, its journal and progress."""
    limits, spend = options.limits, options.budget
    settings = EngineSettings(
        concurrency=limits.max_concurrency,
        max_retries=limits.max_retries,
        timeout=timeout,
        max_retry_wait=limits.max_retry_wait,
        adaptive=limits.adaptive_concurrency,
        prices=Prices(*spend.prices, batch=spend.batch_prices) if spend.prices else None,
        budget_tokens=spend.budget_tokens,
        budget_usd=spend.budget_usd,
    )
    limiter = RateLimiter(limits.requests_per_minute, limits.tokens_per_minute, clock=clock)
    return Engine(llm, settings, rate_limiter=limiter, journal=journal, progress=progress, clock=clock)


def judge_executor(
    llm: LLM,
    run: Engine,
    options: GenerationOptions,
    timeout: float | None,
    journal: Journal | None,
    logger: CallLogger,
    budget: CallBudget,
    maker: Maker,
) -> LocalExecutor:
    """The executor of a separate judge backend (``judge_llm``): the run's limits, clock, journal
    and call budget, its counts added to the run's (one ``RunStats``), no progress bar of its own
    (``maker`` is only a default: the judge hands its own in)."""
    engine = engine_of(llm, options, timeout, run.clock, journal, ProgressReporter(enabled=False))
    engine.stats = run.stats
    return LocalExecutor(maker, engine, logger, budget)


def report_filters(report: GenerationReport, filters: Sequence[Filter]) -> None:
    """What the filters did so far, in the report (near duplicates dropped, verification counts)."""
    for stage in filters:
        if isinstance(stage, NearDuplicateFilter):
            report.near_duplicates = stage.dropped
        elif isinstance(stage, Verifier):
            report.verification = stage.counts
        elif isinstance(stage, PoolCheck):
            report.pool_check = stage.counts
        elif isinstance(stage, Judge):
            report.judge = stage.counts


def close_report(report: GenerationReport, journal: Journal | None, rounds: Rounds, wanted: int) -> None:
    """The run's end, however it ended: the journal closed, failures and counts in the report."""
    if journal is not None:
        journal.close()
        report.warnings = list(journal.warnings)
    report_filters(report, rounds.filters)
    kept = rounds.kept()  # an interrupted round's rows too
    report.failures = [rounds.failures[i] for i in sorted(rounds.failures) if i not in kept]
    report.requested = wanted
    report.rows = min(len(kept), wanted)


def warn_spent(engine: Engine, report: GenerationReport, target: Target) -> None:
    if engine.stats.stopped == "budget":
        log.warning("budget spent: stopped after %d rows", report.rows)
    if any(f.kind == FailureKind.CALL_CAP_REACHED for f in report.failures):
        log.warning(
            "max_prompt_calls (%d) reached: %d model calls made, %d of %d rows",
            target.calls,
            report.budget.used,
            report.rows,
            target.wanted,
        )


__all__ = [
    "check_engine",
    "close_report",
    "engine_of",
    "judge_executor",
    "open_journal",
    "report_filters",
    "target_of",
    "warn_spent",
]
