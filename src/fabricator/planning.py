"""Planning: the arguments of ``generate`` resolved into a task, and the task into prompts.

``resolve_task`` checks the arguments (before any model call) and picks the task's output format;
``Planner`` makes its work items: seeded and prefix-stable (row ``i`` gets the same prompt whatever
the number of rows asked, so a larger run reuses a smaller one's answers from the journal) and
lazy (made a round at a time and never kept, so memory does not grow with the plan).
``plan_prompts`` does both for code that only wants the prompts (benchmarks, previews).
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from .attributes import Attribute, AttributeDealer, resolve_attributes
from .errors import ConfigError
from .formats import Entities, FreeText, LabelConditioned, Labels, OutputFormat
from .formats.base import conditioning, json_instructions, reasks, score_options
from .grouped import group_messages, group_prompt_text
from .llms.base import LLM
from .llms.fake import Fake
from .options import MAX_PLANNED, SYSTEM_PROMPT, GenerationOptions, SamplingOptions
from .prompts import BasePrompt
from .rows import CallBudget, RowMaker, WorkItem
from .samplers import (
    SAMPLING_STRATEGIES,
    STRATEGY_HINT,
    FewShotPool,
    FewShotSample,
    SimilarIndex,
    embedder_of,
)


@dataclass
class Task:
    """Everything resolved and checked from the arguments of one ``generate`` call."""

    prompt: BasePrompt
    mode: str  # "unlabeled", "label-conditioned" or "annotation" (for reports and the journal)
    format: OutputFormat
    pool: FewShotPool | None
    strategy: str | None
    per_class: int | None
    unlabeled: Dataset | None
    unlabeled_rows: list[dict[str, Any]] | None
    seed: int
    structured: bool  # the answer's JSON schema is sent with every request
    use_prefill: bool
    #: how labels are picked (``label_scoring``: "auto", "logprobs" or "samples"); None: parsed text
    scoring: str | None = None
    similar: SimilarIndex | None = None  # strategy "similar": the pool's embedding index
    examples: int | None = None  # "similar" without per-class balance: the k nearest
    reuse: int = 1  # consecutive rows sharing one few-shot draw (fewshot_reuse)
    votes: int = 1  # prompts per row (other few-shot draws) whose label scores are combined
    rephrasings: tuple[BasePrompt, ...] = ()  # the prompt in other wordings: one vote each
    #: attribute samplers: values dealt to each prompt (``fabricator.attributes``; proposed ones are
    #: filled in by ``attributes.propose`` before the first round)
    attributes: list[Attribute] | None = None
    rows_per_call: int = 1  # generation: rows one call writes (``fabricator.grouped``)

    @property
    def prompts_per_row(self) -> int:
        """The prompts each row is scored with: its own, its other few-shot draws, its rephrasings."""
        return self.votes + len(self.rephrasings) if self.scoring is not None else 1


def check_count(name: str, value: Any) -> None:
    """A row or call count: a whole number from 1 to ``MAX_PLANNED``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
    if int(value) > MAX_PLANNED:
        raise ConfigError(
            f"{name}={int(value):,} is more than one run may plan ({MAX_PLANNED:,})",
            hint=f"split the run into several of at most {MAX_PLANNED:,} rows each "
            "(different seeds, or one journal_dir to reuse answers)",
        )


def resolve_task(
    prompt: BasePrompt,
    fewshot: Dataset | None = None,
    strategy: str | None = None,
    per_class: int | None = None,
    sampling_column: str | None = None,
    unlabeled: Dataset | None = None,
    *,
    llm: LLM | None = None,
    sampling: SamplingOptions | None = None,
    output_format: OutputFormat | None = None,
    dry_run: bool = False,
) -> Task:
    """The task of ``generate``'s arguments (the paper's first five, in its order), checked.

    ``dry_run`` (a ``dummy_response``): label answers that are no label are kept as text.
    """
    sampling = sampling or SamplingOptions()
    llm = llm if llm is not None else Fake()
    if not isinstance(prompt, BasePrompt):
        raise ConfigError("prompt_template must be a fabricator.prompts.BasePrompt")
    if strategy not in SAMPLING_STRATEGIES:
        raise ConfigError(f"unknown fewshot_sampling_strategy {strategy!r}", hint=STRATEGY_HINT)
    per_class = _fewshot_count(strategy, per_class, sampling.fewshot_examples)
    if strategy is not None and fewshot is None:
        raise ConfigError(f"fewshot_sampling_strategy={strategy!r} needs a fewshot_dataset")
    if output_format is not None:
        if not isinstance(output_format, OutputFormat):
            raise ConfigError(
                f"output_format must be an OutputFormat, not {type(output_format).__name__}",
                hint="use fabricator.outputs.Entities(...) or ExtractiveQA(...)",
            )
        if unlabeled is None:
            raise ConfigError("an output_format (entities, qa) annotates data: give unlabeled_dataset")
        unlabeled = output_format.prepare(unlabeled)
        fewshot = output_format.prepare(fewshot) if fewshot is not None else None
    mode = (
        "annotation"
        if unlabeled is not None
        else ("label-conditioned" if prompt.label_options else "unlabeled")
    )
    if unlabeled is not None:
        _check_unlabeled(prompt, unlabeled)
    attributes = resolve_attributes(sampling.attributes, prompt, mode)
    label_column = sampling_column or (
        prompt.target_column if mode == "annotation" and prompt.label_options else "label"
    )
    fmt = output_format or _format_of(prompt, mode, label_column, sampling.label_synonyms, dry_run)
    _check_selection(strategy, mode, fmt, sampling.fewshot_reuse)
    text_columns = _similarity_columns(prompt, output_format) if strategy == "similar" else []
    pool, similar = None, None
    if fewshot is not None:
        if len(fewshot) == 0:
            raise ConfigError("the few-shot dataset is empty", hint="give examples or pass None")
        by_label = (strategy is not None and (strategy != "similar" or bool(per_class))) or (
            conditioning(fmt) is not None and label_column in fewshot.column_names
        )
        columns = prompt.relevant_columns_for_fewshot_examples or [prompt.target_column]
        pool = FewShotPool(
            fewshot,
            columns=[*columns, *text_columns],
            label_column=label_column if by_label else None,
            label_options=prompt.label_options,
        )
        examples = sampling.fewshot_examples
        pool.check(strategy, per_class, prompt.label_options or sorted(pool.by_label), examples)
        if strategy == "similar":  # the pool embedded once, before any model call
            balance = pool.label_column if per_class else None
            similar = SimilarIndex(pool.rows, text_columns, embedder_of(strategy), balance)
    can_structure = bool(getattr(llm, "supports_json_schema", False))
    if sampling.structured_output and not can_structure:
        raise ConfigError(
            f"backend {llm.name!r} does not support structured (JSON schema) output",
            hint="use structured_output=None (auto) or False",
        )
    needed = prompt.input_columns + fmt.needed_columns() + text_columns
    rows = unlabeled.select_columns(list(dict.fromkeys(needed))).to_list() if unlabeled is not None else None
    scoring = label_scoring(fmt, mode, sampling.label_scoring, dry_run)
    rephrasings = tuple(prompt.rephrased(text) for text in sampling.task_rephrasings or ())
    if rephrasings and scoring is None:
        raise ConfigError(
            f"task_rephrasings ({len(rephrasings)}) vote on a row's label, so they need scored label "
            "annotation",
            hint="annotate an unlabeled_dataset into label_options with label_scoring on, "
            "or drop task_rephrasings",
        )
    _check_scored_options(sampling, label_scoring(fmt, mode, sampling.label_scoring, dry_run=False), mode)
    if sampling.votes > 1 and (scoring is None or pool is None):
        raise ConfigError(
            f"votes={sampling.votes} needs scored label annotation with few-shot examples "
            "(each vote is a prompt with other examples)",
            hint="give a fewshot_dataset and keep label_scoring on, or set votes=1",
        )
    structured = (
        scoring is None
        and reasks(fmt)
        and fmt.json_schema() is not None
        and (can_structure if sampling.structured_output is None else sampling.structured_output)
    )
    return Task(
        prompt,
        mode,
        fmt,
        pool,
        strategy,
        per_class,
        unlabeled,
        rows,
        sampling.seed,
        structured,
        bool(getattr(llm, "supports_prefill", False)) and not structured,
        scoring,
        similar=similar,
        examples=sampling.fewshot_examples if strategy == "similar" else None,
        reuse=sampling.fewshot_reuse,
        votes=sampling.votes,
        rephrasings=rephrasings,
        attributes=attributes,
        rows_per_call=_rows_per_call(sampling.rows_per_call, mode, fmt, prompt),
    )


def _fewshot_count(strategy: str | None, per_class: int | None, examples: int | None) -> int | None:
    """``fewshot_examples_per_class`` once ``fewshot_examples`` (a total per prompt) is checked
    against it: "similar" takes one of the two, a random draw (no strategy) either."""
    if strategy == "similar":
        if examples is None and not per_class:
            raise ConfigError(
                "fewshot_sampling_strategy='similar' needs a number of examples",
                hint="set fewshot_examples=k (the k nearest) or fewshot_examples_per_class=k "
                "(the k nearest of each class)",
            )
        if examples is not None and per_class:
            raise ConfigError(
                "give fewshot_examples (the k nearest) or fewshot_examples_per_class "
                "(the k nearest of each class), not both",
                hint="drop one of the two",
            )
        return per_class
    if examples is None:
        return per_class
    if strategy is None:
        if per_class and per_class != examples:
            raise ConfigError(
                f"fewshot_examples={examples} and fewshot_examples_per_class={per_class} disagree",
                hint="without a sampling strategy both count the examples per prompt: give one",
            )
        return examples
    raise ConfigError(
        f"fewshot_examples counts the examples of a 'similar' or random draw, not of {strategy!r}",
        hint=f"use fewshot_examples_per_class with {strategy!r}",
    )


def _check_selection(strategy: str | None, mode: str, fmt: OutputFormat, reuse: int) -> None:
    """Strategy "similar" needs rows to be similar to; a shared draw needs rows that can share one."""
    if strategy == "similar" and mode != "annotation":
        raise ConfigError(
            "fewshot_sampling_strategy='similar' picks the examples nearest to each row being "
            f"annotated, and {mode} generation has no rows",
            hint="give unlabeled_dataset to annotate, or use 'uniform' / 'stratified' to generate",
        )
    if reuse > 1 and strategy == "similar":
        raise ConfigError(
            "fewshot_reuse shares one draw of examples across rows; 'similar' picks them per row",
            hint="leave fewshot_reuse at 1 with 'similar'",
        )
    if reuse > 1 and strategy == "uniform" and conditioning(fmt) is not None:
        raise ConfigError(
            "fewshot_reuse cannot share a 'uniform' draw: each row is conditioned on its own label",
            hint="use 'stratified', or fewshot_reuse=1",
        )


def _rows_per_call(rows: int, mode: str, fmt: OutputFormat, prompt: BasePrompt) -> int:
    """``rows_per_call`` above 1 lists several rows' tasks in one prompt: generation of free text
    only (an annotated row has its own input; a structured answer has its own schema), with the
    examples inline (a grouped prompt shows them once, after the tasks)."""
    if rows > 1 and prompt.examples_as_turns:
        raise ConfigError(
            f"rows_per_call={rows} shows the examples once, inline; it cannot show them as turns",
            hint="use rows_per_call=1 with examples_as_turns, or examples_as_turns=False",
        )
    if rows > 1 and (mode == "annotation" or not isinstance(fmt, (FreeText, LabelConditioned))):
        raise ConfigError(
            f"rows_per_call={rows} writes several generated texts in one answer; it does not apply "
            f"to {mode if mode == 'annotation' else type(fmt).__name__}",
            hint="leave rows_per_call at 1 for annotation and structured output formats",
        )
    return rows


def _similarity_columns(prompt: BasePrompt, output_format: OutputFormat | None) -> list[str]:
    """The columns whose text "similar" compares: the NER text, else the prompt's input columns."""
    if isinstance(output_format, Entities):
        return [output_format.text_column]
    if not prompt.input_columns:
        raise ConfigError(
            "fewshot_sampling_strategy='similar' compares the input columns, and the prompt has none",
            hint="name them in fewshot_example_columns, e.g. fewshot_example_columns='text'",
        )
    return prompt.input_columns


def label_scoring(fmt: OutputFormat, mode: str, wanted: str, dry_run: bool) -> str | None:
    """How an annotation picks its labels: scored (``wanted``) when the format has label options.

    Dry runs (canned answers) and other formats parse the answer text as before (``None``).
    """
    if wanted == "off" or dry_run or mode != "annotation" or score_options(fmt) is None:
        return None
    return wanted


def _check_scored_options(sampling: SamplingOptions, scoring: str | None, mode: str) -> None:
    """``min_confidence`` and annotation's ``calibration`` read scored labels: refused where the
    run scores none, instead of being silently ignored (verification's are checked with it)."""
    asked = [
        name
        for name, on in (
            ("min_confidence", sampling.min_confidence is not None),
            ("calibration", sampling.calibration != "off" and mode == "annotation"),
        )
        if on
    ]
    if asked and scoring is None:
        raise ConfigError(
            f"{' and '.join(asked)} work{'' if len(asked) > 1 else 's'} on scored labels, and this "
            f"run scores none ({mode}, label_scoring={sampling.label_scoring!r})",
            hint="annotate an unlabeled_dataset into label_options with label_scoring on; "
            "for generated rows use verify=True with verify_min_confidence",
        )


def _check_unlabeled(prompt: BasePrompt, unlabeled: Dataset) -> None:
    if len(unlabeled) == 0:
        raise ConfigError("the unlabeled dataset is empty", hint="give at least one row to annotate")
    if not prompt.input_columns:
        raise ConfigError(
            "annotation needs fewshot_example_columns: the input columns the model reads",
            hint="e.g. BasePrompt(..., fewshot_example_columns='text')",
        )
    missing = [c for c in prompt.input_columns if c not in unlabeled.column_names]
    if missing:
        raise ConfigError(
            f"the unlabeled dataset lacks column(s) {missing}; it has {unlabeled.column_names}",
            hint="rename its columns or change fewshot_example_columns",
        )


def _format_of(
    prompt: BasePrompt, mode: str, label_column: str, synonyms: Mapping[str, str] | None, dry_run: bool
) -> OutputFormat:
    """The format the paper's arguments mean when no ``output_format`` is given.

    Label options and annotation into the label column: the model writes a label. Label options
    otherwise (generation, or NLI-style annotation of another column): the model writes text for
    one label per row. No label options: free text.
    """
    target = prompt.target_column
    if prompt.label_options and mode == "annotation" and target == label_column:
        return Labels(target, prompt.label_options, synonyms=synonyms, keep_other_text=dry_run)
    text = FreeText(
        target,
        answer_prefix=prompt.answer_prefix(),
        stop_columns=(*(prompt.relevant_columns_for_fewshot_examples or []), target, label_column),
    )
    if prompt.label_options:
        return LabelConditioned(text, label_column, prompt.label_options)
    return text


def signature(task: Task, llm: LLM) -> dict[str, Any]:
    """What makes a journal belong to a task (not the settings that only change some answers)."""
    p = task.prompt
    return {
        "mode": task.mode,
        "model": llm.name,
        "task_description": p.task_description,
        "target_column": p.target_column,
        "input_columns": p.input_columns,
        "label_options": p.label_options,
    }


def row_maker(task: Task, sampling: SamplingOptions | None = None, max_tries: int = 3) -> RowMaker:
    """What making and parsing a row needs from the task, as a small picklable object."""
    sampling = sampling or SamplingOptions()
    return RowMaker(
        format=task.format,
        input_columns=tuple(task.prompt.input_columns),
        json_schema=task.format.json_schema() if task.structured else None,
        unlabeled_rows=task.unlabeled_rows,
        temperature=sampling.temperature,
        max_tokens=sampling.max_tokens,
        max_tries=max_tries,
        seed=task.seed,
        scoring=task.scoring,
        label_samples=sampling.label_samples,
    )


class Planner:
    """Seeded, prefix-stable, lazy plan: item ``i`` is the same whatever the total.

    Items come from one seeded sequence (few-shot draws, label order), made when a round asks for
    them and not kept, so memory does not depend on the number of rows planned. Rounds must
    therefore ask in order; items skipped over are still made (and dropped) to keep the sequence.
    With ``fewshot_reuse=N`` draw ``b`` serves rows ``b*N`` to ``b*N + N - 1``; with "similar" a row's
    examples depend on its text and the pool only (its round's rows are embedded in one call).
    """

    def __init__(self, task: Task, system_prompt: str | None = SYSTEM_PROMPT) -> None:
        self.task = task
        self.system = system_prompt
        fmt = task.format
        if reasks(fmt) and system_prompt:
            self.system = f"{system_prompt} {fmt.instructions()}"
        if task.structured and self.system and json_instructions(fmt):
            self.system += f" {json_instructions(fmt)}"
        conditioned = conditioning(fmt)
        self.labels = conditioned[1] if conditioned is not None else None
        self.rng = random.Random(task.seed)
        self.made = 0  # index of the next item of the seeded sequence
        self._block: list[str] = []
        self._wanted: list[str] = []  # top-up labels (``top_up``), asked before the sequence goes on
        self._nearest: dict[int, list[int]] = {}  # "similar": this round's rows -> pool indices
        self._shared: FewShotSample | None = None  # fewshot_reuse: the draw of the current block
        #: attribute values: their own seeded sequences, so the one above is as without them
        self.dealer = AttributeDealer(task.attributes, task.seed) if task.attributes else None

    def items(self, start: int, stop: int) -> list[WorkItem]:
        """Items ``start`` to ``stop - 1`` (``start`` not before the end of the last round)."""
        if start < self.made:
            raise ValueError(f"item {start} was already handed out (the plan is not kept)")
        out: list[WorkItem] = []
        self._find_nearest(max(start, self.made), stop)
        while self.made < stop:
            if self.task.rows_per_call > 1:  # a group never spans start (nor stop)
                end = start if self.made < start else stop
                item = self._group(self.made, min(self.task.rows_per_call, end - self.made))
            else:
                item = self._item(self.made)
            if self.made >= start:
                out.append(item)
            self.made += len(item.rows)
        return out

    def _find_nearest(self, start: int, stop: int) -> None:
        """The nearest examples of rows ``start`` to ``stop - 1``, their texts embedded in one call."""
        task = self.task
        if task.similar is None or task.unlabeled_rows is None:
            return
        indices = range(start, min(stop, len(task.unlabeled_rows)))
        texts = [task.similar.text_of(task.unlabeled_rows[i]) for i in indices]
        k = task.per_class or task.examples or 1
        self._nearest = dict(zip(indices, task.similar.nearest(texts, k, bool(task.per_class)), strict=True))

    def _sample(self, pool: FewShotPool, index: int, label: str | None) -> FewShotSample:
        """Row ``index``'s examples: its nearest, or a seeded draw shared by ``reuse`` rows in a row
        (so their prompts share the task-and-examples prefix the server caches)."""
        task = self.task
        if task.similar is not None:
            picked = self._nearest.pop(index, [])  # none: an item skipped over, never sent
            return FewShotSample(None, [pool.rows[i] for i in picked], [pool.row_ids[i] for i in picked])
        if self._shared is None or index % task.reuse == 0:
            self._shared = pool.draw(self.rng, task.strategy, task.per_class, label)
        return self._shared

    def reserve(self, budget: CallBudget, rows: int, calls_per_row: int, *, first: bool = False) -> int:
        """Set aside in ``budget`` the first asks of up to ``rows`` more rows; how many rows got
        them. A grouped plan's call writes ``rows_per_call`` rows of one label, so its calls are
        counted per label; for its ``first`` rows it deals the labels in even shares of those rows
        (``top_up`` deals later rows by what the kept rows lack)."""
        per_call = self.task.rows_per_call
        labels = (len(self.labels or ()) or 1) if per_call > 1 else 1
        granted = budget.reserve(rows, calls_per_row, per_call, labels)
        if first and per_call > 1:
            self.top_up({}, granted, granted)
        return granted

    def top_up(self, kept: Mapping[str, int], wanted: int, rows: int) -> None:
        """Label the next ``rows`` items by what the kept rows lack, so filters that drop more of
        one class (near duplicates, verification) do not unbalance a run of ``wanted`` rows: the
        labels furthest below their even share first, in turns; rows beyond the shortfall follow
        the seeded sequence."""
        if not self.labels:
            return
        share, extra = divmod(wanted, len(self.labels))
        short = {label: share - kept.get(label, 0) for label in self.labels}
        for label in sorted(self.labels, key=lambda lab: -short[lab])[:extra]:
            short[label] += 1  # the remainder goes to the labels furthest behind
        queue: list[str] = []
        while len(queue) < rows and any(n > 0 for n in short.values()):
            for label in sorted(self.labels, key=lambda lab: -short[lab]):
                if short[label] > 0 and len(queue) < rows:
                    queue.append(label)
                    short[label] -= 1
        self._wanted = queue[::-1]  # popped from the end

    def _next_label(self) -> str | None:
        if not self.labels:
            return None
        if self._wanted:
            return self._wanted.pop()
        if not self._block:  # balanced: every label once per block, in a seeded order
            self._block = list(self.labels)
            self.rng.shuffle(self._block)
        return self._block.pop()

    def _item(self, index: int) -> WorkItem:
        task, prompt = self.task, self.task.prompt
        label = self._next_label()
        labels: str | list[str] | None = label if label is not None else prompt.label_options
        examples: list[dict[str, Any]] = []
        ids: tuple[int, ...] = ()
        if task.pool is not None:
            sample = self._sample(task.pool, index, label)
            examples, ids = sample.examples, tuple(sample.ids)
            if label is None and isinstance(sample.labels, str):
                labels = sample.labels
        row = task.unlabeled_rows[index] if task.unlabeled_rows is not None else None
        values = self.dealer.deal(label) if self.dealer is not None else ()
        text, messages = self._chat(prompt, labels, examples, row, dict(values) or None)
        votes = self._votes(index, labels, examples, ids, row) if task.votes > 1 or task.rephrasings else ()
        source = index if row is not None else None
        return WorkItem(index, tuple(messages), text, label, source, ids, votes, values)

    def _group(self, index: int, size: int) -> WorkItem:
        """Rows ``index`` to ``index + size - 1`` written by one call (``rows_per_call``): one label
        and one few-shot draw, each row with its own attribute values (``fabricator.grouped``)."""
        task, prompt = self.task, self.task.prompt
        queued = bool(self._wanted)
        label = self._next_label()
        if queued and label is not None:  # a top-up label: the group writes no more than wanted
            size = min(size, 1 + self._wanted.count(label))
            for _ in range(size - 1):
                self._wanted.remove(label)
        examples: list[dict[str, Any]] = []
        ids: tuple[int, ...] = ()
        if task.pool is not None:
            sample = self._sample(task.pool, index, label)
            examples, ids = sample.examples, tuple(sample.ids)
        values = [self.dealer.deal(label) if self.dealer is not None else () for _ in range(size)]
        labels = label if label is not None else prompt.label_options
        text = group_prompt_text(prompt, labels, examples, [dict(v) for v in values])
        messages = group_messages(text, self.system, task.use_prefill)
        members = tuple(WorkItem(index + j, (), text, label, None, ids, (), values[j]) for j in range(size))
        return WorkItem(index, messages, text, label, None, ids, members=members)

    def _votes(
        self,
        index: int,
        labels: str | list[str] | None,
        examples: list[dict[str, Any]],
        ids: tuple[int, ...],
        row: dict[str, Any] | None,
    ) -> tuple[tuple[tuple[dict[str, str], ...], tuple[int, ...]], ...]:
        """The other prompts of row ``index``: a new seeded draw each ("similar": its examples
        in another seeded order), then each task rephrasing with the row's own examples. Seeded by
        row (by block with ``fewshot_reuse``, so the rows of a block share each vote's prompt
        prefix too) and vote; the main sequence is unchanged."""
        task, prompt = self.task, self.task.prompt
        out = []
        for vote in range(1, task.votes):
            assert task.pool is not None
            rng = random.Random(f"{task.seed}:{index // task.reuse}:{vote}")  # shared like the main draw
            if task.similar is not None:
                order = list(range(len(examples)))
                rng.shuffle(order)
                drawn, drawn_ids = [examples[i] for i in order], tuple(ids[i] for i in order)
            else:
                sample = task.pool.draw(rng, task.strategy, task.per_class)
                drawn, drawn_ids = sample.examples, tuple(sample.ids)
            _, messages = self._chat(prompt, labels, drawn, row)
            out.append((tuple(messages), drawn_ids))
        for rephrased in task.rephrasings:
            _, messages = self._chat(rephrased, labels, examples, row)
            out.append((tuple(messages), ids))
        return tuple(out)

    def _chat(
        self,
        prompt: BasePrompt,
        labels: str | list[str] | None,
        examples: list[dict[str, Any]],
        row: dict[str, Any] | None,
        attributes: dict[str, str] | None = None,
    ) -> tuple[str, list[dict[str, str]]]:
        """A prompt's text and messages; shown as turns, a generated label's examples each ask for
        their own label."""
        column = self.task.pool.label_column if self.task.pool is not None else None
        own = isinstance(labels, str) and column is not None and prompt.examples_as_turns
        return prompt.chat(
            labels,
            examples,
            row,
            attributes,
            example_labels=[str(e[column]) for e in examples] if own and column else None,
            system=self.system,
            prefill=self.task.use_prefill,
        )


def plan_prompts(
    prompt_template: BasePrompt,
    fewshot_dataset: Dataset | None = None,
    fewshot_sampling_strategy: str | None = None,
    fewshot_examples_per_class: int | None = None,
    fewshot_sampling_column: str | None = None,
    unlabeled_dataset: Dataset | None = None,
    *,
    count: int = 10,
    llm: LLM | None = None,
    options: GenerationOptions | None = None,
) -> list[WorkItem]:
    """The first ``count`` prompts ``generate`` would send with these arguments (no model call)."""
    options = options or GenerationOptions()
    task = resolve_task(
        prompt_template,
        fewshot_dataset,
        fewshot_sampling_strategy,
        fewshot_examples_per_class,
        fewshot_sampling_column,
        unlabeled_dataset,
        llm=llm,
        sampling=options.sampling,
    )
    return Planner(task, options.sampling.system_prompt).items(0, count)


__all__ = [
    "MAX_PLANNED",
    "Planner",
    "Task",
    "check_count",
    "plan_prompts",
    "resolve_task",
    "row_maker",
    "signature",
]
