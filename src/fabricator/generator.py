"""``DatasetGenerator``: the round loop (plan -> execute -> parse -> assemble) and nothing else.

The paper's three workflows, chosen by the arguments of ``generate``:

* unlabeled generation: a task description, no label options, no unlabeled data;
* label-conditioned generation: label options (and usually few-shot examples), no unlabeled
  data; each prompt is conditioned on one label and the row keeps it;
* annotation: an ``unlabeled_dataset``; each of its rows gets the ``generate_data_for_column``.

Checking the arguments and planning the prompts is ``fabricator.planning``; running the calls is
an executor from ``fabricator.execution`` (local or Ray); parsing is the task's output format
(``fabricator.formats``); the dataset and the report are ``fabricator.report``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeAlias

from datasets import Dataset

from ._sync import run_sync
from .attributes import propose
from .errors import BudgetExceeded, ConfigError
from .execution import build_executor, check_executor
from .execution.clock import Clock
from .execution.engine import Engine, Prices
from .execution.journal import Journal
from .execution.ratelimit import RateLimiter
from .formats import OutputFormat
from .llms.base import LLM
from .llms.fake import Fake
from .options import GenerationOptions, options_from
from .planning import Planner, check_count, resolve_task, row_maker, signature
from .progress import ProgressReporter
from .prompts import BasePrompt
from .report import CallLog, CopyFilter, GenerationReport, NearDuplicateFilter, finish
from .rows import CallBudget, Failure, WorkItem
from .verification import Verifier, check_verification

log = logging.getLogger("fabricator")

Result: TypeAlias = "Dataset | tuple[Dataset, Dataset]"


class DatasetGenerator:
    """Generates or annotates a dataset with a teacher LLM (the paper's main class).

    ``clock`` is the time source of the engine and its rate limits (``fabricator.testing.FakeClock``
    runs them on virtual time); ``None``: the real clock.
    """

    def __init__(self, llm: LLM | None = None, *, max_tries: int = 3, clock: Clock | None = None) -> None:
        self.llm = llm
        self.max_tries = max_tries
        self.clock = clock
        self.last_run: GenerationReport | None = None
        self._partial: Callable[[], Result] | None = None

    def generate(
        self,
        prompt_template: BasePrompt,
        fewshot_dataset: Dataset | None = None,
        fewshot_sampling_strategy: str | None = None,
        fewshot_examples_per_class: int | None = None,
        fewshot_sampling_column: str | None = None,
        unlabeled_dataset: Dataset | None = None,
        return_unlabeled_dataset: bool = False,
        max_prompt_calls: int = 10,
        num_samples_to_generate: int = 10,
        timeout_per_prompt: float | None = None,
        log_every_n_api_calls: int = 25,
        dummy_response: str | Callable[[str], str] | None = None,
        *,
        output_format: OutputFormat | None = None,
        options: GenerationOptions | None = None,
        **flat_options: Any,
    ) -> Result:
        """Generate (or annotate) a dataset; see the module docstring for the three workflows.

        The paper's arguments come first and keep their meaning. Ours are keyword-only: an
        ``output_format`` for structured tasks (``fabricator.outputs``), and the options of
        ``GenerationOptions`` either as ``options=`` or as flat keywords (``seed=1, dedup=False``;
        flat keywords win over ``options``). An unknown keyword or a wrong type is a ``ConfigError``
        naming it. ``timeout_per_prompt`` is the time one model call may take.

        What bounds what: ``max_prompt_calls`` caps the *model calls* of this call of ``generate``:
        first asks, re-asks after a wrong answer and the first asks of rows that replace failed
        ones. It also caps the rows planned (annotation: the first ``max_prompt_calls`` rows of
        ``unlabeled_dataset``; generation: ``min(max_prompt_calls, num_samples_to_generate)``
        rows, or ``rows_per_call`` times as many when one call writes several). Every planned
        row gets its first ask before any re-ask or top-up uses the calls left; a row that needs
        a call when none is left fails with kind ``CallCapReached``. Not counted: answers found
        in the journal (they cost nothing) and HTTP retries of a failed transport (429, 5xx,
        timeouts; ``max_retries`` bounds those per call, and they are reported as ``retries``).
        ``self.last_run.summary()`` reports ``calls`` and ``call_cap``. Both counts are refused
        above ``planning.MAX_PLANNED`` (10,000,000): split such a run.

        Failed rows are not returned as data: they are in ``self.last_run.failures`` with their
        raw output and error.
        ``engine="ray"`` runs the calls on a Ray cluster (``ray_actors`` actors, each with this
        engine's concurrency and an even share of the rate limits; see docs/scaling.md).
        """
        self._partial = None
        try:
            return run_sync(
                self.agenerate(
                    prompt_template,
                    fewshot_dataset,
                    fewshot_sampling_strategy,
                    fewshot_examples_per_class,
                    fewshot_sampling_column,
                    unlabeled_dataset,
                    return_unlabeled_dataset,
                    max_prompt_calls,
                    num_samples_to_generate,
                    timeout_per_prompt,
                    log_every_n_api_calls,
                    dummy_response,
                    output_format=output_format,
                    options=options,
                    **flat_options,
                )
            )
        except KeyboardInterrupt:
            if self._partial is None:
                raise
            return self._partial()  # Ctrl-C: keep what is done

    async def agenerate(
        self,
        prompt_template: BasePrompt,
        fewshot_dataset: Dataset | None = None,
        fewshot_sampling_strategy: str | None = None,
        fewshot_examples_per_class: int | None = None,
        fewshot_sampling_column: str | None = None,
        unlabeled_dataset: Dataset | None = None,
        return_unlabeled_dataset: bool = False,
        max_prompt_calls: int = 10,
        num_samples_to_generate: int = 10,
        timeout_per_prompt: float | None = None,
        log_every_n_api_calls: int = 25,
        dummy_response: str | Callable[[str], str] | None = None,
        *,
        output_format: OutputFormat | None = None,
        options: GenerationOptions | None = None,
        **flat_options: Any,
    ) -> Result:
        """The async core of ``generate`` (same arguments)."""
        opts = options_from(options, flat_options)
        sampling, limits, spend, kept, where = (
            opts.sampling,
            opts.limits,
            opts.budget,
            opts.journal,
            opts.execution,
        )
        llm = self._backend(dummy_response)
        kind = check_executor(where.engine, where.ray_actors, where.ray_address)
        dry_run = dummy_response is not None  # canned answers: repeats are fine, any text is kept
        task = resolve_task(
            prompt_template,
            fewshot_dataset,
            fewshot_sampling_strategy,
            fewshot_examples_per_class,
            fewshot_sampling_column,
            unlabeled_dataset,
            llm=llm,
            sampling=sampling,
            output_format=output_format,
            dry_run=dry_run,
        )
        check_verification(task, sampling)
        check_count("max_prompt_calls", max_prompt_calls)
        check_count("num_samples_to_generate", num_samples_to_generate)
        per_call = task.rows_per_call  # rows one call writes (generation)
        if per_call > 1 and kind != "local":
            raise ConfigError(
                f"rows_per_call={per_call} runs on the local engine only",
                hint="use engine='local', or rows_per_call=1 on Ray",
            )
        wanted = min(
            max_prompt_calls * per_call,
            len(task.unlabeled) if task.unlabeled is not None else num_samples_to_generate,
        )

        journal = None
        if kept.journal_dir is not None:
            journal = Journal(
                kept.journal_dir, signature=signature(task, llm), on_mismatch=kept.on_journal_mismatch
            )
        reporter = ProgressReporter(enabled=where.progress, description=task.mode)
        engine = Engine(
            llm,
            concurrency=limits.max_concurrency,
            max_retries=limits.max_retries,
            timeout=timeout_per_prompt,
            max_retry_wait=limits.max_retry_wait,
            adaptive=limits.adaptive_concurrency,
            clock=self.clock,
            rate_limiter=RateLimiter(limits.requests_per_minute, limits.tokens_per_minute, clock=self.clock),
            journal=journal,
            prices=Prices(*spend.prices) if spend.prices else None,
            budget_tokens=spend.budget_tokens,
            budget_usd=spend.budget_usd,
            progress=reporter,
        )
        budget = CallBudget(max_prompt_calls)
        report = GenerationReport(mode=task.mode, stats=engine.stats, budget=budget)
        self.last_run = report
        rows: dict[int, dict[str, Any]] = {}
        failures: dict[int, Failure] = {}
        logger = CallLog(kept.log_path, log_every_n_api_calls)
        planner = Planner(task, sampling.system_prompt)
        executor = build_executor(
            kind,
            llm=llm,
            maker=row_maker(task, sampling, self.max_tries),
            engine=engine,
            logger=logger,
            progress=reporter,
            journal=journal,
            ray_actors=where.ray_actors,
            ray_address=where.ray_address,
            requests_per_minute=limits.requests_per_minute,
            tokens_per_minute=limits.tokens_per_minute,
            budget=budget,
        )

        asked: dict[int, str | None] = {}  # label-conditioned: each item's label

        def keep(item: WorkItem, result: dict[str, Any] | Failure) -> None:
            asked[item.index] = item.label
            if isinstance(result, Failure):
                failures[item.index] = result
            else:
                rows[item.index] = result

        copies = CopyFilter(task) if sampling.dedup and not dry_run and task.unlabeled is None else None
        near = NearDuplicateFilter.of(task, sampling) if not dry_run else None
        report.near_duplicates = 0 if near is not None else None
        verifier = None
        if sampling.verify and not dry_run:  # dry runs have no teacher to ask
            verifier = Verifier(task, sampling, engine, logger, budget, sampling.system_prompt)
            report.verification = verifier.counts
        # each row's first ask, and its verification's or its votes' (every planned row gets all)
        per_row = 2 if verifier is not None else task.prompts_per_row
        self._partial = lambda: finish(rows, task, wanted, return_unlabeled_dataset, report, sampling)
        try:
            preflight = getattr(llm, "preflight", None)
            if preflight is not None:
                await preflight()
            report.attributes = await propose(task, engine, budget, sampling, logger)  # before the rows
            reporter.start(wanted)
            planned, target = 0, planner.reserve(budget, wanted, per_row, first=True)  # first asks
            if task.unlabeled is not None and target < wanted:
                log.warning(
                    "max_prompt_calls (%d) covers %d of %d rows at %d prompts a row (votes); "
                    "raise it to %d to annotate them all",
                    max_prompt_calls,
                    target,
                    wanted,
                    per_row,
                    wanted * per_row,
                )
            while planned < target:  # rounds of items made on demand, never the whole plan
                items = planner.items(planned, min(target, planned + executor.round_items * per_call))
                indices = [row.index for item in items for row in item.rows]
                planned += len(indices)
                await executor.map(items, keep)
                if copies is not None:
                    copies.drop(rows, failures, indices)
                if near is not None:
                    shown = [i for item in items for i in item.fewshot_ids]
                    dropped = near.drop(rows, failures, indices, shown)
                    report.near_duplicates = (report.near_duplicates or 0) + dropped
                if verifier is not None:
                    verified = sum(1 for i in indices if i in rows)
                    for _ in range(len(indices) - verified):  # rows that never reached verification
                        budget.release()
                    await verifier.check(rows, failures, indices)
                if engine.stats.stopped:
                    break
                if planned == target and task.unlabeled is None and len(rows) < wanted:
                    # generation tops up failed rows while calls (and planned rows) are left,
                    # with the labels the kept rows lack
                    more = planner.reserve(
                        budget, min(wanted - len(rows), max_prompt_calls * per_call - planned), per_row
                    )
                    by_label = Counter(label for i in rows if (label := asked.get(i)) is not None)
                    planner.top_up(by_label, wanted, more)
                    target += more
                    reporter.start(target)
        except BudgetExceeded:
            pass
        except (KeyboardInterrupt, asyncio.CancelledError):
            report.interrupted = True
            log.warning("interrupted after %d rows (kept in the journal, if any)", len(rows))
            raise
        finally:
            reporter.stop()
            logger.close()
            if journal is not None:
                journal.close()
                report.warnings = list(journal.warnings)
            report.failures = [failures[i] for i in sorted(failures) if i not in rows]
            report.requested = wanted
            report.rows = min(len(rows), wanted)
        if engine.stats.stopped == "budget":
            log.warning("budget spent: stopped after %d rows", len(rows))
        if any(f.kind == "CallCapReached" for f in report.failures):
            log.warning(
                "max_prompt_calls (%d) reached: %d model calls made, %d of %d rows",
                max_prompt_calls,
                budget.used,
                report.rows,
                wanted,
            )
        return finish(rows, task, wanted, return_unlabeled_dataset, report, sampling)

    def _backend(self, dummy_response: str | Callable[[str], str] | None) -> LLM:
        if dummy_response is not None:
            if not (isinstance(dummy_response, str) or callable(dummy_response)):
                raise ConfigError("dummy_response must be a string or a callable of the prompt text")
            return Fake(dummy_response, name="dummy")
        if self.llm is None:
            raise ConfigError(
                "no model given",
                hint="DatasetGenerator(llm) with a backend from "
                "fabricator.llms, or pass dummy_response for a dry run",
            )
        return self.llm


__all__ = ["DatasetGenerator", "GenerationReport"]
