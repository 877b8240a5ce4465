"""``DatasetGenerator``: plan -> engine -> parse -> ``datasets.Dataset``.

The paper's three workflows, chosen by the arguments of ``generate``:

* unlabeled generation: a task description, no label options, no unlabeled data;
* label-conditioned generation: label options (and usually few-shot examples), no unlabeled
  data; each prompt is conditioned on one label and the row keeps it;
* annotation: an ``unlabeled_dataset``; each of its rows gets the ``generate_data_for_column``.

Planning is pure and seeded: row ``i`` gets the same prompt whatever the number of rows asked,
so a larger run reuses a smaller one's answers from the journal. It is also lazy: work items are
made a round (``ROUND_ITEMS``) at a time and never kept, so memory does not grow with the plan.
"""

from __future__ import annotations

import asyncio
import json
import logging
import numbers
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, Features, Value

from ._sync import run_sync
from .errors import BudgetExceeded, ConfigError
from .execution.engine import Engine, Prices, RunStats
from .execution.journal import Journal
from .execution.ratelimit import RateLimiter
from .llms.base import LLM, Request
from .llms.fake import Fake
from .outputs import OutputFormat
from .parsing import normalize_text
from .progress import ProgressReporter
from .prompts import BasePrompt
from .rows import CallBudget, Failure, RowMaker, WorkItem
from .samplers import SAMPLING_STRATEGIES, FewShotPool

log = logging.getLogger("fabricator")

#: the most rows (``num_samples_to_generate``) or calls (``max_prompt_calls``) one call may ask for
MAX_PLANNED = 10_000_000
#: work items made and handed to the engine at a time (memory is bounded by this, not the plan);
#: larger with Ray, where each round is a Ray Data job that takes 1-3 s to start its actors
ROUND_ITEMS = 4096
RAY_ROUND_ITEMS = 32_768

SYSTEM_PROMPT = (
    "You write examples for a machine-learning training dataset. This is a data-writing task: "
    "fictional, opinionated or negative content is expected and fine. Follow the task exactly and "
    "answer with the requested value only: no preamble, no explanation, no quotes, no notes."
)


@dataclass
class GenerationReport:
    """What the last ``generate`` call made, failed and spent."""

    mode: str
    requested: int = 0
    rows: int = 0
    failures: list[Failure] = field(default_factory=list)
    stats: RunStats = field(default_factory=RunStats)
    interrupted: bool = False
    provenance: list[dict[str, Any]] = field(default_factory=list)  # one per returned row
    budget: CallBudget = field(default_factory=CallBudget)  # the model calls made, and their cap

    def failures_dataset(self) -> Dataset:
        rows = [f.as_dict() for f in self.failures]
        return Dataset.from_list(rows) if rows else Dataset.from_dict(
            {"index": [], "source": [], "kind": [], "error": [], "raw": []})

    def summary(self) -> dict[str, Any]:
        return {"mode": self.mode, "requested": self.requested, "rows": self.rows,
                "failures": len(self.failures), "interrupted": self.interrupted,
                "calls": self.budget.used, "call_cap": self.budget.limit, **self.stats.as_dict()}


@dataclass
class _Task:
    """Everything resolved and checked from the arguments of one ``generate`` call."""

    prompt: BasePrompt
    mode: str
    pool: FewShotPool | None
    strategy: str | None
    per_class: int | None
    label_column: str
    unlabeled: Dataset | None
    unlabeled_rows: list[dict[str, Any]] | None
    seed: int
    structured: bool
    use_prefill: bool
    label_synonyms: dict[str, str] | None
    output_format: OutputFormat | None = None

    @property
    def label_target(self) -> bool:
        """Whether the model writes a label (annotation into the label column)."""
        return (self.mode == "annotation" and bool(self.prompt.label_options)
                and self.prompt.target_column == self.label_column and self.output_format is None)

    @property
    def conditioned(self) -> bool:
        """Whether each row is conditioned on one label (generation, or NLI-style annotation)."""
        return bool(self.prompt.label_options) and self.output_format is None and (
            self.mode == "label-conditioned" or not self.label_target)

    @property
    def structured_reply(self) -> bool:
        """Whether a wrong answer is worth re-asking with the error (labels, JSON)."""
        return self.label_target or self.output_format is not None


class DatasetGenerator:
    """Generates or annotates a dataset with a teacher LLM (the paper's main class)."""

    def __init__(self, llm: LLM | None = None, *, max_tries: int = 3) -> None:
        self.llm = llm
        self.max_tries = max_tries
        self.last_run: GenerationReport | None = None

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
        seed: int = 0,
        max_concurrency: int | None = None,
        temperature: float = 0.8,
        max_tokens: int = 256,
        system_prompt: str | None = SYSTEM_PROMPT,
        structured_output: bool | None = None,
        label_synonyms: dict[str, str] | None = None,
        output_format: OutputFormat | None = None,
        dedup: bool = True,
        journal_dir: str | Path | None = None,
        on_journal_mismatch: str = "error",
        log_path: str | Path | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_retries: int = 6,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        prices: tuple[float, float] | None = None,
        progress: bool = False,
        engine: str = "local",
        ray_actors: int | None = None,
        ray_address: str | None = None,
    ) -> Dataset | tuple[Dataset, Dataset]:
        """Generate (or annotate) a dataset; see the module docstring for the three workflows.

        The paper's arguments come first and keep their meaning; ours are keyword-only.
        ``timeout_per_prompt`` is the time one model call may take.

        What bounds what: ``max_prompt_calls`` caps the *model calls* of this call of ``generate``:
        first asks, re-asks after a wrong answer and the first asks of rows that replace failed
        ones. It also caps the rows planned (annotation: the first ``max_prompt_calls`` rows of
        ``unlabeled_dataset``; generation: ``min(max_prompt_calls, num_samples_to_generate)``
        rows). Every planned row gets its first ask before any re-ask or top-up uses the calls
        left; a row that needs a call when none is left fails with kind ``CallCapReached``. Not
        counted: answers found in the journal (they cost nothing) and HTTP retries of a failed
        transport (429, 5xx, timeouts; ``max_retries`` bounds those per call, and they are
        reported as ``retries``). ``self.last_run.summary()`` reports ``calls`` and ``call_cap``.
        Both counts are refused above ``MAX_PLANNED`` (10,000,000): split such a run.

        Failed rows are not returned as data: they are in ``self.last_run.failures`` with their
        raw output and error.
        ``engine="ray"`` runs the calls on a Ray cluster (``ray_actors`` actors, each with this
        engine's concurrency and an even share of the rate limits; see docs/scaling.md).
        """
        self._partial: Callable[[], Any] | None = None
        try:
            return run_sync(self.agenerate(
            prompt_template, fewshot_dataset, fewshot_sampling_strategy, fewshot_examples_per_class,
            fewshot_sampling_column, unlabeled_dataset, return_unlabeled_dataset, max_prompt_calls,
            num_samples_to_generate, timeout_per_prompt, log_every_n_api_calls, dummy_response,
            seed=seed, max_concurrency=max_concurrency, temperature=temperature, max_tokens=max_tokens,
            system_prompt=system_prompt, structured_output=structured_output,
            label_synonyms=label_synonyms, output_format=output_format, dedup=dedup, journal_dir=journal_dir,
            on_journal_mismatch=on_journal_mismatch, log_path=log_path,
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
            max_retries=max_retries, budget_tokens=budget_tokens, budget_usd=budget_usd,
            prices=prices, progress=progress, engine=engine, ray_actors=ray_actors,
            ray_address=ray_address,
        ))
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
        seed: int = 0,
        max_concurrency: int | None = None,
        temperature: float = 0.8,
        max_tokens: int = 256,
        system_prompt: str | None = SYSTEM_PROMPT,
        structured_output: bool | None = None,
        label_synonyms: dict[str, str] | None = None,
        output_format: OutputFormat | None = None,
        dedup: bool = True,
        journal_dir: str | Path | None = None,
        on_journal_mismatch: str = "error",
        log_path: str | Path | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_retries: int = 6,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        prices: tuple[float, float] | None = None,
        progress: bool = False,
        engine: str = "local",
        ray_actors: int | None = None,
        ray_address: str | None = None,
    ) -> Dataset | tuple[Dataset, Dataset]:
        """The async core of ``generate`` (same arguments)."""
        llm = self._backend(dummy_response)
        engine_kind = _check_engine(engine, ray_actors, ray_address)
        task = _resolve(prompt_template, fewshot_dataset, fewshot_sampling_strategy,
                        fewshot_examples_per_class, fewshot_sampling_column, unlabeled_dataset,
                        seed, llm, structured_output, label_synonyms, output_format)
        _check_count("max_prompt_calls", max_prompt_calls)
        _check_count("num_samples_to_generate", num_samples_to_generate)
        if task.unlabeled is not None:
            wanted = min(max_prompt_calls, len(task.unlabeled))
        else:
            wanted = min(max_prompt_calls, num_samples_to_generate)

        journal = None
        if journal_dir is not None:
            journal = Journal(journal_dir, signature=_signature(task, llm),
                              on_mismatch=on_journal_mismatch)
        reporter = ProgressReporter(enabled=progress, description=task.mode)
        executor = Engine(
            llm, concurrency=max_concurrency, max_retries=max_retries, timeout=timeout_per_prompt,
            rate_limiter=RateLimiter(requests_per_minute, tokens_per_minute), journal=journal,
            prices=Prices(*prices) if prices else None, budget_tokens=budget_tokens,
            budget_usd=budget_usd, progress=reporter,
        )
        budget = CallBudget(max_prompt_calls)
        report = GenerationReport(mode=task.mode, stats=executor.stats, budget=budget)
        self.last_run = report
        rows: dict[int, dict[str, Any]] = {}
        failures: dict[int, Failure] = {}
        logger = _CallLog(log_path, log_every_n_api_calls)
        planner = _Planner(task, system_prompt)
        dry_run = dummy_response is not None  # canned answers: repeats are fine, any text is kept
        maker = _row_maker(task, temperature, max_tokens, self.max_tries, dry_run=dry_run)
        cluster = None
        if engine_kind == "ray":
            from .execution.ray import RayRunner

            cluster = RayRunner(llm, maker, executor, journal=journal, actors=ray_actors,
                                address=ray_address, requests_per_minute=requests_per_minute,
                                tokens_per_minute=tokens_per_minute, logger=logger, progress=reporter,
                                budget=budget)

        async def handle(item: WorkItem) -> dict[str, Any] | Failure:
            return await maker.make(executor, item, logger, budget=budget)

        def keep(item: WorkItem, result: dict[str, Any] | Failure) -> None:
            if isinstance(result, Failure):
                failures[item.index] = result
            else:
                rows[item.index] = result

        copies = _CopyFilter(task) if dedup and not dry_run and task.mode != "annotation" else None
        self._partial = lambda: _finish(rows, task, wanted, return_unlabeled_dataset, report)
        try:
            preflight = getattr(llm, "preflight", None)
            if preflight is not None:
                await preflight()
            reporter.start(wanted)
            planned, target = 0, budget.reserve(wanted)  # every planned row has its first ask
            round_items = ROUND_ITEMS if cluster is None else RAY_ROUND_ITEMS
            while planned < target:  # rounds of items made on demand, never the whole plan
                items = planner.items(planned, min(target, planned + round_items))
                planned += len(items)
                if cluster is not None:
                    await cluster.map(items, keep)
                else:
                    await executor.map(items, handle, keep)
                if copies is not None:
                    copies.drop(rows, failures, [item.index for item in items])
                if executor.stats.stopped:
                    break
                if planned == target and task.unlabeled is None and len(rows) < wanted:
                    # generation tops up failed rows while calls (and planned rows) are left
                    target += budget.reserve(min(wanted - len(rows), max_prompt_calls - planned))
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
            report.failures = [failures[i] for i in sorted(failures) if i not in rows]
            report.requested = wanted
            report.rows = min(len(rows), wanted)
        if executor.stats.stopped == "budget":
            log.warning("budget spent: stopped after %d rows", len(rows))
        if any(f.kind == "CallCapReached" for f in report.failures):
            log.warning("max_prompt_calls (%d) reached: %d model calls made, %d of %d rows", max_prompt_calls,
                        budget.used, report.rows, wanted)
        return _finish(rows, task, wanted, return_unlabeled_dataset, report)

    def _backend(self, dummy_response: str | Callable[[str], str] | None) -> LLM:
        if dummy_response is not None:
            if not (isinstance(dummy_response, str) or callable(dummy_response)):
                raise ConfigError("dummy_response must be a string or a callable of the prompt text")
            return Fake(dummy_response, name="dummy")
        if self.llm is None:
            raise ConfigError("no model given", hint="DatasetGenerator(llm) with a backend from "
                              "fabricator.llms, or pass dummy_response for a dry run")
        return self.llm


# --- resolving and checking the arguments --------------------------------------------------------


def _check_count(name: str, value: Any) -> None:
    """A row or call count: a whole number from 1 to ``MAX_PLANNED``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
    if int(value) > MAX_PLANNED:
        raise ConfigError(f"{name}={int(value):,} is more than one run may plan ({MAX_PLANNED:,})",
                          hint=f"split the run into several of at most {MAX_PLANNED:,} rows each "
                               "(different seeds, or one journal_dir to reuse answers)")


def _resolve(prompt: BasePrompt, fewshot: Dataset | None, strategy: str | None, per_class: int | None,
             sampling_column: str | None, unlabeled: Dataset | None, seed: int, llm: LLM,
             structured: bool | None, synonyms: dict[str, str] | None,
             output_format: OutputFormat | None = None) -> _Task:
    if not isinstance(prompt, BasePrompt):
        raise ConfigError("prompt_template must be a fabricator.prompts.BasePrompt")
    if strategy not in SAMPLING_STRATEGIES:
        raise ConfigError(f"unknown fewshot_sampling_strategy {strategy!r}",
                          hint="use None, 'uniform' or 'stratified'")
    if strategy is not None and fewshot is None:
        raise ConfigError(f"fewshot_sampling_strategy={strategy!r} needs a fewshot_dataset")
    if output_format is not None:
        if unlabeled is None:
            raise ConfigError("an output_format (entities, qa) annotates data: give unlabeled_dataset")
        unlabeled = output_format.prepare(unlabeled)
        fewshot = output_format.prepare(fewshot) if fewshot is not None else None
    mode = "annotation" if unlabeled is not None else (
        "label-conditioned" if prompt.label_options else "unlabeled")
    if unlabeled is not None:
        if len(unlabeled) == 0:
            raise ConfigError("the unlabeled dataset is empty", hint="give at least one row to annotate")
        if not prompt.input_columns:
            raise ConfigError("annotation needs fewshot_example_columns: the input columns the "
                              "model reads", hint="e.g. BasePrompt(..., fewshot_example_columns='text')")
        missing = [c for c in prompt.input_columns if c not in unlabeled.column_names]
        if missing:
            raise ConfigError(f"the unlabeled dataset lacks column(s) {missing}; it has "
                              f"{unlabeled.column_names}",
                              hint="rename its columns or change fewshot_example_columns")
    label_column = sampling_column or (
        prompt.target_column if mode == "annotation" and prompt.label_options else "label")
    pool = None
    if fewshot is not None:
        if len(fewshot) == 0:
            raise ConfigError("the few-shot dataset is empty", hint="give examples or pass None")
        conditioned = bool(prompt.label_options) and output_format is None and (
            mode == "label-conditioned" or prompt.target_column != label_column)
        by_label = strategy is not None or (conditioned and label_column in fewshot.column_names)
        columns = prompt.relevant_columns_for_fewshot_examples or [prompt.target_column]
        pool = FewShotPool(fewshot, columns=columns,
                           label_column=label_column if by_label else None,
                           label_options=prompt.label_options)
        labels = prompt.label_options or sorted(pool.by_label)
        pool.check(strategy, per_class, labels)
    can_structure = bool(getattr(llm, "supports_json_schema", False))
    if structured and not can_structure:
        raise ConfigError(f"backend {llm.name!r} does not support structured (JSON schema) output",
                          hint="use structured_output=None (auto) or False")
    needed = prompt.input_columns + (output_format.needed_columns() if output_format else [])
    rows = (unlabeled.select_columns(list(dict.fromkeys(needed))).to_list()
            if unlabeled is not None else None)
    task = _Task(prompt, mode, pool, strategy, per_class, label_column, unlabeled, rows, seed,
                 False, False, synonyms, output_format)
    has_schema = output_format is None or output_format.json_schema() is not None
    task.structured = task.structured_reply and has_schema and (
        can_structure if structured is None else structured)
    task.use_prefill = bool(getattr(llm, "supports_prefill", False)) and not task.structured
    return task


def _signature(task: _Task, llm: LLM) -> dict[str, Any]:
    """What makes a journal belong to a task (not the settings that only change some answers)."""
    p = task.prompt
    return {"mode": task.mode, "model": llm.name, "task_description": p.task_description,
            "target_column": p.target_column, "input_columns": p.input_columns,
            "label_options": p.label_options}


def _fix_instruction(task: _Task) -> str:
    if task.output_format is not None:
        return task.output_format.instructions()
    return f"Answer with exactly one of: {', '.join(task.prompt.label_options or [])}."


def _reply_schema(task: _Task) -> dict[str, Any] | None:
    if task.output_format is not None:
        return task.output_format.json_schema()
    return {"type": "object", "properties": {"label": {"type": "string", "enum": task.prompt.label_options}},
            "required": ["label"], "additionalProperties": False}


# --- planning --------------------------------------------------------------------------------------


class _Planner:
    """Seeded, prefix-stable, lazy plan: item ``i`` is the same whatever the total.

    Items come from one seeded sequence (few-shot draws, label order), made when a round asks for
    them and not kept, so memory does not depend on the number of rows planned. Rounds must
    therefore ask in order; items skipped over are still made (and dropped) to keep the sequence.
    """

    def __init__(self, task: _Task, system_prompt: str | None) -> None:
        self.task = task
        self.system = system_prompt
        if task.structured_reply and system_prompt:
            self.system = f"{system_prompt} {_fix_instruction(task)}"
        if task.structured and task.label_target and self.system:
            self.system += ' Reply as JSON: {"label": "<one of the options>"}.'
        self.rng = random.Random(task.seed)
        self.made = 0  # index of the next item of the seeded sequence
        self._labels: list[str] = []

    def items(self, start: int, stop: int) -> list[WorkItem]:
        """Items ``start`` to ``stop - 1`` (``start`` not before the end of the last round)."""
        if start < self.made:
            raise ValueError(f"item {start} was already handed out (the plan is not kept)")
        out: list[WorkItem] = []
        while self.made < stop:
            item = self._item(self.made)
            if self.made >= start:
                out.append(item)
            self.made += 1
        return out

    def _next_label(self) -> str | None:
        options = self.task.prompt.label_options
        if not self.task.conditioned or not options:
            return None
        if not self._labels:  # balanced: every label once per block, in a seeded order
            self._labels = list(options)
            self.rng.shuffle(self._labels)
        return self._labels.pop()

    def _item(self, index: int) -> WorkItem:
        task, prompt = self.task, self.task.prompt
        label = self._next_label()
        labels: str | list[str] | None = label if label is not None else prompt.label_options
        examples: list[dict[str, Any]] = []
        ids: tuple[int, ...] = ()
        if task.pool is not None:
            sample = task.pool.draw(self.rng, task.strategy, task.per_class, label)
            examples, ids = sample.examples, tuple(sample.ids)
            if label is None and isinstance(sample.labels, str):
                labels = sample.labels
        row = task.unlabeled_rows[index] if task.unlabeled_rows is not None else None
        text = prompt.get_prompt_text(labels, examples, row)
        messages = prompt.messages_for(text, system=self.system, prefill=task.use_prefill)
        return WorkItem(index, tuple(messages), text, label, index if row is not None else None, ids)


# --- parsing and assembling ---------------------------------------------------------------------------


def _row_maker(task: _Task, temperature: float, max_tokens: int, max_tries: int, *,
               dry_run: bool = False) -> RowMaker:
    """What making and parsing a row needs from the task, as a small picklable object.

    In a dry run (``dummy_response``) a label answer that is not one of the options is kept as
    text, as the paper does, instead of failing every row.
    """
    prompt = task.prompt
    return RowMaker(
        mode=task.mode, target_column=prompt.target_column, label_column=task.label_column,
        input_columns=tuple(prompt.input_columns),
        label_options=tuple(prompt.label_options) if prompt.label_options else None,
        label_synonyms=task.label_synonyms, label_target=task.label_target,
        conditioned=task.conditioned, structured_reply=task.structured_reply,
        json_schema=_reply_schema(task) if task.structured else None,
        fix_instruction=_fix_instruction(task), answer_prefix=prompt.answer_prefix(),
        stop_columns=(*(prompt.relevant_columns_for_fewshot_examples or []), prompt.target_column,
                      task.label_column),
        output_format=task.output_format, unlabeled_rows=task.unlabeled_rows,
        temperature=temperature, max_tokens=max_tokens, max_tries=max_tries, seed=task.seed,
        keep_unlabeled_text=dry_run)


def _check_engine(engine: str, actors: int | None, address: str | None) -> str:
    """``"local"`` or ``"ray"`` (checking that Ray is installed before any work is done)."""
    if engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine {engine!r}", hint="use engine='local' (default) or 'ray'")
    if engine == "local":
        if actors is not None or address is not None:
            raise ConfigError("ray_actors and ray_address only apply to engine='ray'")
        return engine
    if actors is not None and actors < 1:
        raise ConfigError("ray_actors must be at least 1")
    from .execution.ray import require_ray

    require_ray()
    return engine


class _CopyFilter:
    """Drops generated rows that repeat an earlier row or copy a few-shot example.

    Applied in row order after each round, so the result does not depend on which request
    finished first; dropped rows become failures and the next round replaces them.
    """

    def __init__(self, task: _Task) -> None:
        self.column = task.prompt.target_column
        self.examples = ({normalize_text(str(r[self.column])) for r in task.pool.rows if self.column in r}
                         if task.pool else set())
        self.seen: set[str] = set()

    def drop(self, rows: dict[int, dict[str, Any]], failures: dict[int, Failure], indices: list[int]) -> None:
        for index in sorted(i for i in indices if i in rows):
            text = rows[index][self.column]
            key = normalize_text(str(text))
            kind = "CopiedExample" if key in self.examples else "Duplicate" if key in self.seen else None
            if kind is None:
                self.seen.add(key)
                continue
            del rows[index]
            what = "copies a few-shot example" if kind == "CopiedExample" else "repeats an earlier row"
            failures[index] = Failure(index, f"the text {what}", kind, text)


def _finish(rows: dict[int, dict[str, Any]], task: _Task, wanted: int, with_original: bool,
            report: GenerationReport) -> Dataset | tuple[Dataset, Dataset]:
    """The dataset of the rows made (in row order); their provenance goes to ``report``."""
    ordered = [rows[i] for i in sorted(rows)][:wanted]
    dataset = _to_dataset(ordered, task)
    report.provenance = [r.get("__provenance", {}) for r in ordered]
    if not with_original:
        return dataset
    if task.unlabeled is None:
        return dataset, Dataset.from_dict({})
    return dataset, task.unlabeled.select([r["__source"] for r in ordered])


def _to_dataset(rows: list[dict[str, Any]], task: _Task) -> Dataset:
    prompt = task.prompt
    features: dict[str, Any] = {}
    if task.mode == "annotation":
        assert task.unlabeled is not None
        for c in prompt.input_columns:
            features[c] = task.unlabeled.features[c]
    if task.output_format is not None:
        features.update(task.output_format.features())
    elif task.label_target and _all_labels(rows, prompt.target_column, prompt.label_options):
        features[prompt.target_column] = ClassLabel(names=prompt.label_options)
    else:
        features[prompt.target_column] = Value("string")
    if task.conditioned:
        features[task.label_column] = ClassLabel(names=prompt.label_options)
    columns = {c: [r[c] for r in rows] for c in features}
    return Dataset.from_dict(columns, features=Features(features))


def _all_labels(rows: list[dict[str, Any]], column: str, options: Sequence[str] | None) -> bool:
    """Whether every value is a label option; else (a dry run's dummy text) the column is text."""
    names = set(options or ())
    if all(r[column] in names for r in rows):
        return True
    log.warning("dry run: the dummy response is not one of the label options %s; the %r column "
                "is returned as plain text", sorted(names), column)
    return False


class _CallLog:
    """JSONL log of every prompt and response (``log_path``), plus a sample in the logger."""

    def __init__(self, path: str | Path | None, every: int) -> None:
        self.every = every
        self.count = 0
        self.file = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run, see close()

    def write(self, item: WorkItem, request: Request, response: str) -> None:
        self.count += 1
        if self.every and self.count % self.every == 0:
            log.info("call %d, row %d\nprompt: %s\nresponse: %s", self.count, item.index,
                     item.prompt_text, response)
        if self.file is not None:
            self.file.write(json.dumps({
                "row": item.index, "source": item.source, "label": item.label,
                "fewshot_ids": list(item.fewshot_ids), "seed": request.seed,
                "messages": list(request.messages), "response": response,
            }, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def label_names(dataset: Dataset, column: str) -> Sequence[str] | None:
    feature = dataset.features.get(column)
    return list(feature.names) if isinstance(feature, ClassLabel) else None
