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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from datasets import Dataset

from ._sync import run_sync
from .errors import BudgetExceeded, ConfigError
from .execution.batch_executor import batch_settings
from .execution.call_log import CallLog
from .execution.calls import CallBudget
from .execution.clock import Clock
from .execution.executors import build_executor, check_executor
from .formats.schema import FormatSpec
from .llms.base import LLM
from .llms.capabilities import preflight
from .llms.fake import Fake
from .options import GenerationOptions, options_from
from .pipeline.assemble import finish
from .pipeline.context import check_context
from .pipeline.filters.chosen import filters_for
from .pipeline.layout import cache_layout
from .pipeline.prepare import RunPlan, plan_of, reask_allowance, with_tuning
from .pipeline.proposals import propose
from .pipeline.resolve import resolve_task
from .pipeline.rounds import Rounds
from .pipeline.setup import (
    check_engine,
    close_report,
    engine_of,
    judge_executor,
    open_journal,
    report_filters,
    warn_spent,
)
from .pipeline.student_loop.loop import student_loop
from .pipeline.student_loop.pilots import Generate, PilotRows, PilotRun, choose_pilot, pilot_rows
from .pipeline.student_loop.split import check_student_loop
from .pipeline.task import row_maker
from .pipeline.tune.first import Replan, tuned_plan, untuned_plan
from .pipeline.tune.run import Annotate, SubResult, SubRun, sub_result
from .pipeline.tune.span_choice import span_annotator
from .progress import ProgressReporter
from .prompts import BasePrompt
from .report import GenerationReport

log = logging.getLogger("fabricator")


@dataclass(frozen=True)
class CallSettings:
    """The paper's arguments of ``generate`` that shape a run's calls and result, not its plan."""

    timeout: float | None  # timeout_per_prompt
    log_every: int  # log_every_n_api_calls
    with_unlabeled: bool  # return_unlabeled_dataset
    judge_llm: LLM | None = None  # a separate judge backend (``judge``); None: the run's own


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

    def generate(  # noqa: PLR0913, RUF100 - the paper's signature, kept for its users
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
        output_format: FormatSpec | None = None,
        options: GenerationOptions | None = None,
        planned: RunPlan | None = None,
        judge_llm: LLM | None = None,
        **flat_options: Any,
    ) -> Result:
        """Generate (or annotate) a dataset; see the module docstring for the three workflows.

        The paper's arguments come first and keep their meaning. Ours are keyword-only: an
        ``output_format`` for structured tasks (``fabricator.formats``; a Pydantic model class or a
        JSON Schema dict gives rows in that schema: docs/schemas.md), and the options of
        ``GenerationOptions`` either as ``options=`` or as flat keywords (``seed=1, dedup=False``;
        flat keywords win over ``options``). An unknown keyword or a wrong type is a ``ConfigError``
        naming it. ``timeout_per_prompt`` is the time one model call may take. ``judge=`` (criteria,
        docs/judge.md) scores every row; ``judge_llm`` is a separate backend for it.

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
                    planned=planned,
                    judge_llm=judge_llm,
                    **flat_options,
                )
            )
        except KeyboardInterrupt:
            if self._partial is None:
                raise
            return self._partial()  # Ctrl-C: keep what is done

    async def agenerate(  # noqa: PLR0913, RUF100 - the paper's signature (generate's)
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
        output_format: FormatSpec | None = None,
        options: GenerationOptions | None = None,
        planned: RunPlan | None = None,
        judge_llm: LLM | None = None,
        **flat_options: Any,
    ) -> Result:
        """The async core of ``generate`` (same arguments): plan, then run the plan.

        ``planned``: the run already planned from these same arguments (``plan``), as the recipe
        runner does to check it against a budget first; it is then not resolved again.
        """
        opts = options_from(options, flat_options)
        llm = self._backend(dummy_response)
        where = opts.execution
        executor_kind = check_executor(where.engine, where.ray_actors, where.ray_address)
        if planned is None:
            few = (fewshot_dataset, fewshot_sampling_strategy, fewshot_examples_per_class)
            planned = self.plan(
                prompt_template, *few, fewshot_sampling_column, unlabeled_dataset, max_prompt_calls,
                num_samples_to_generate, output_format=output_format, options=opts,
                dummy_response=dummy_response,
            )  # fmt: skip

        replan = self._replanner(
            fewshot_sampling_column, unlabeled_dataset, max_prompt_calls, num_samples_to_generate,
            output_format, dummy_response, opts,
        )  # fmt: skip
        make = lambda: DatasetGenerator(llm, max_tries=self.max_tries, clock=self.clock)  # noqa: E731
        planned = await tuned_plan(
            planned, prompt_template, fewshot_dataset, replan, self._annotator(llm, opts, timeout_per_prompt),
            lambda tuning: span_annotator(make, opts, timeout_per_prompt, tuning),
        )  # fmt: skip
        pilots = None
        if planned.task.sampling.pilots:  # generation settings chosen by a student on the pool first
            chosen = await choose_pilot(planned.task, self._piloter(llm, opts, timeout_per_prompt))
            log.warning("%s", chosen.sentence())
            planned = replan(
                chosen.pilot.prompt(prompt_template), fewshot_dataset, fewshot_sampling_strategy,
                fewshot_examples_per_class, **chosen.pilot.options, pilots=False,
            )  # fmt: skip
            pilots = chosen.summary()
        check_engine(planned.task, executor_kind)
        call = CallSettings(timeout_per_prompt, log_every_n_api_calls, return_unlabeled_dataset, judge_llm)
        result = await self._run(planned, llm, opts, executor_kind, call)
        if self.last_run is not None:
            self.last_run.pilots = pilots
        return result

    def plan(  # noqa: PLR0913, RUF100 - the paper's arguments of generate, in its order
        self,
        prompt_template: BasePrompt,
        fewshot_dataset: Dataset | None = None,
        fewshot_sampling_strategy: str | None = None,
        fewshot_examples_per_class: int | None = None,
        fewshot_sampling_column: str | None = None,
        unlabeled_dataset: Dataset | None = None,
        max_prompt_calls: int = 10,
        num_samples_to_generate: int = 10,
        *,
        output_format: FormatSpec | None = None,
        options: GenerationOptions | None = None,
        dummy_response: str | Callable[[str], str] | None = None,
        **flat_options: Any,
    ) -> RunPlan:
        """The run ``generate`` would make with these arguments, resolved and checked, before any
        model call: what ``fabricator plan`` counts and ``generate(..., planned=...)`` runs (the
        one place a run is resolved and planned)."""
        opts = options_from(options, flat_options)
        few = (fewshot_dataset, fewshot_sampling_strategy, fewshot_examples_per_class)
        llm = self._backend(dummy_response)
        opts = cache_layout(
            opts, llm, generates=unlabeled_dataset is None, strategy=fewshot_sampling_strategy
        )
        task = resolve_task(
            prompt_template, *few, fewshot_sampling_column, unlabeled_dataset, llm=llm,
            sampling=opts.sampling, output_format=output_format, canned=dummy_response is not None,
        )  # fmt: skip
        given = (fewshot_sampling_strategy, fewshot_examples_per_class, fewshot_sampling_column)
        planned = plan_of(task, max_prompt_calls, num_samples_to_generate)
        check_student_loop(task, planned.target.wanted)  # before any call (``fabricator plan`` too)
        planned = with_tuning(planned, fewshot_dataset, given, opts.explicit())
        replan = self._replanner(
            fewshot_sampling_column, unlabeled_dataset, max_prompt_calls, num_samples_to_generate,
            output_format, dummy_response, opts,
        )  # fmt: skip
        default = untuned_plan(planned, prompt_template, fewshot_dataset, replan, llm, opts.explicit())
        if default is not None:
            return default
        tuning = planned.tuning
        if tuning is None or not tuning.candidates:  # else the run is planned again once tuned
            check_context(planned, llm)
        return planned

    async def _run(
        self, planned: RunPlan, llm: LLM, opts: GenerationOptions, executor_kind: str, call: CallSettings
    ) -> Result:
        """Execute, filter and assemble a planned run; the report is ``self.last_run``."""
        loop = student_loop(planned)  # ``student_loop``: the run's own copy of the task, steered
        planned = loop.plan if loop is not None else planned
        task, target = planned.task, planned.target
        sampling, where = task.sampling, opts.execution
        journal = open_journal(opts.journal, task, llm)
        reporter = ProgressReporter(enabled=where.progress, description=task.kind.name)
        engine = engine_of(llm, opts, call.timeout, self.clock, journal, reporter)
        budget = CallBudget(target.calls, reask_allowance(planned))
        report = self.last_run = GenerationReport(task.kind, stats=engine.stats, budget=budget)
        report.tuning = task.tuned.summary() if task.tuned is not None else None
        logger = CallLog(opts.journal.log_path, call.log_every)
        executor = build_executor(
            executor_kind, llm=llm, maker=row_maker(task, max_tries=self.max_tries), engine=engine,
            logger=logger, progress=reporter, journal=journal, budget=budget, ray_actors=where.ray_actors,
            ray_address=where.ray_address, requests_per_minute=opts.limits.requests_per_minute,
            tokens_per_minute=opts.limits.tokens_per_minute, batch=batch_settings(where),
        )  # fmt: skip
        judging = (
            None
            if call.judge_llm is None
            else judge_executor(
                call.judge_llm, engine, opts, call.timeout, journal, logger, budget, row_maker(task)
            )
        )
        filters = filters_for(task, sampling, executor, budget, judging)
        rounds = Rounds(planned.planner(), executor, filters, steer=loop)
        self._partial = lambda: finish(
            rounds.kept(), task, target.wanted, call.with_unlabeled, report, sampling
        )
        report_filters(report, filters)
        try:
            await preflight(llm)  # the backend's own check, where it declares one: fail before any work
            report.attributes = await propose(task, executor, budget, sampling, logger)  # before the rows
            await rounds.run(target, budget, engine.stats, reporter)
        except BudgetExceeded:
            pass
        except (KeyboardInterrupt, asyncio.CancelledError):
            report.interrupted = True
            log.warning("interrupted after %d rows (kept in the journal, if any)", len(rounds.kept()))
            raise
        finally:
            reporter.stop()
            logger.close()
            close_report(report, journal, rounds, target.wanted)
        warn_spent(engine, report, target)
        if loop is not None:
            report.student_loop = loop.finish(rounds.rows, rounds.asked)
        return finish(rounds.rows, task, target.wanted, call.with_unlabeled, report, sampling)

    def _replanner(
        self, column: str | None, unlabeled: Dataset | None, calls: int, samples: int,
        output_format: FormatSpec | None, dummy_response: str | Callable[[str], str] | None,
        opts: GenerationOptions,
    ) -> Replan:  # fmt: skip
        """The run planned again with another prompt, pool, selection or options (what tuning, a
        pilot or a default chose), every other argument of ``generate`` as given."""

        def replan(
            prompt: BasePrompt, pool: Dataset | None, strategy: str | None, per_class: int | None,
            **options: Any,
        ) -> RunPlan:  # fmt: skip
            return self.plan(
                prompt, pool, strategy, per_class, column, unlabeled, calls, samples,
                output_format=output_format, dummy_response=dummy_response, options=opts.replace(**options),
            )  # fmt: skip

        return replan

    def _annotator(self, llm: LLM, opts: GenerationOptions, timeout: float | None) -> Annotate:
        """Tuning's annotations: each fold a small run of its own, through the same engine path and
        journal as the run (``pipeline.tune.run``)."""

        async def annotate(run: SubRun) -> SubResult:
            sub = DatasetGenerator(llm, max_tries=self.max_tries, clock=self.clock)
            await sub.agenerate(
                run.prompt, run.fewshot, run.strategy, run.per_class, run.column, run.unlabeled,
                max_prompt_calls=run.calls, timeout_per_prompt=timeout, options=opts.replace(**run.options),
            )  # fmt: skip
            assert sub.last_run is not None
            return sub_result(sub.last_run, len(run.unlabeled))

        return annotate

    def _piloter(self, llm: LLM, opts: GenerationOptions, timeout: float | None) -> Generate:
        """Generation pilots: each a small run of its own through the same engine path and journal
        as the run (``pipeline.student_loop.pilots``)."""

        async def pilot(run: PilotRun) -> PilotRows:
            sub = DatasetGenerator(llm, max_tries=self.max_tries, clock=self.clock)
            made = await sub.agenerate(
                run.prompt, run.fewshot, "uniform", run.per_class, run.column, max_prompt_calls=run.calls,
                num_samples_to_generate=run.rows, timeout_per_prompt=timeout,
                options=opts.replace(**run.options),
            )  # fmt: skip
            assert sub.last_run is not None and not isinstance(made, tuple)
            return pilot_rows(made, run.prompt.target_column, run.column, sub.last_run.budget.used)

        return pilot

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
