"""Resolving the arguments of ``generate`` into a checked ``Task`` (before any model call).

The paper's arguments and the options pick the task's output format, its few-shot pool (indexed
once), how labels are scored and whether answers are structured; every mistake is a
``ConfigError`` with a hint, raised here rather than mid-run.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from datasets import Dataset

from ..attributes import resolve_attributes
from ..errors import ConfigError
from ..formats import Entities, FreeText, LabelConditioned, Labels, OutputFormat
from ..formats.base import FullFormat, full_format
from ..formats.kinds import TaskKind, kind_of
from ..formats.schema import FormatSpec, as_format
from ..llms.base import LLM
from ..llms.capabilities import capabilities_of
from ..llms.fake import Fake
from ..options import MAX_PLANNED, SamplingOptions
from ..prompts import BasePrompt
from ..samplers import SAMPLING_STRATEGIES, STRATEGY_HINT, FewShotPool, SimilarIndex, embedder_of
from .student_loop.split import MIN_TEST_ROWS
from .task import Task

if TYPE_CHECKING:
    from typing_extensions import Unpack


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


class ResolveOptions(TypedDict, total=False):
    """What ``resolve_task`` takes besides the paper's arguments."""

    llm: LLM | None
    sampling: SamplingOptions | None
    output_format: FormatSpec | None  # a format, or a Pydantic model / JSON Schema (``SchemaFormat``)
    canned: bool  # the backend's answers are canned (``dummy_response``): a dry run


def resolve_task(
    prompt: BasePrompt,
    fewshot: Dataset | None = None,
    strategy: str | None = None,
    per_class: int | None = None,
    sampling_column: str | None = None,
    unlabeled: Dataset | None = None,
    **how: Unpack[ResolveOptions],
) -> Task:
    """The task of ``generate``'s arguments (the paper's first five, in its order), checked.

    ``how``: the backend (``llm``), the ``sampling`` options, an ``output_format``; ``canned``
    (a ``dummy_response``): the kind of a dry run, decided here once (``TaskKind.canned``).
    """
    sampling = how.get("sampling") or SamplingOptions()
    llm: LLM = how.get("llm") or Fake()
    output_format = as_format(how.get("output_format"))
    if not isinstance(prompt, BasePrompt):
        raise ConfigError("prompt_template must be a fabricator.prompts.BasePrompt")
    if strategy not in SAMPLING_STRATEGIES:
        raise ConfigError(f"unknown fewshot_sampling_strategy {strategy!r}", hint=STRATEGY_HINT)
    per_class = _fewshot_count(strategy, per_class, sampling.fewshot_examples)
    if strategy is not None and fewshot is None:
        raise ConfigError(f"fewshot_sampling_strategy={strategy!r} needs a fewshot_dataset")
    if output_format is not None:
        unlabeled, fewshot = _prepared(output_format, unlabeled, fewshot)
    conditioned = output_format is not None and full_format(output_format).conditioning() is not None
    kind = kind_of(
        annotates=unlabeled is not None,
        labeled=bool(prompt.label_options) or conditioned,
        canned=how.get("canned", False),
    )
    if unlabeled is not None:
        _check_unlabeled(prompt, unlabeled)
    attributes = resolve_attributes(sampling.attributes, prompt, kind)
    label_column = sampling_column or (
        prompt.target_column if not kind.generates and prompt.label_options else "label"
    )
    fmt = full_format(output_format or _format_of(prompt, kind, label_column, sampling.label_synonyms))
    _check_selection(strategy, kind, sampling.fewshot_reuse)
    if conditioned:
        _check_conditioning(prompt, kind, fmt)
    text_columns = _similarity_columns(prompt, output_format) if strategy == "similar" else []
    selection = Selection(strategy, per_class, label_column, text_columns)
    pool, similar = (
        _pool_of(prompt, fewshot, selection, fmt, sampling) if fewshot is not None else (None, None)
    )
    if pool is not None and per_class is None and strategy == "uniform" and kind.conditioned:
        reserve = MIN_TEST_ROWS if sampling.student_loop or sampling.pilots else 0  # never shown
        per_class = pool.generation_count(prompt.label_options or sorted(pool.by_label), reserve)
    can_structure = _can_structure(llm, sampling)
    needed = prompt.input_columns + fmt.needed_columns() + text_columns
    rows = unlabeled.select_columns(list(dict.fromkeys(needed))).to_list() if unlabeled is not None else None
    rephrasings = tuple(prompt.rephrased(text) for text in sampling.task_rephrasings or ())
    scoring = _checked_scoring(fmt, kind, sampling, has_pool=pool is not None)
    structured = (
        scoring is None
        and fmt.reask
        and fmt.json_schema() is not None
        and (can_structure if sampling.structured_output is None else sampling.structured_output)
    )
    _check_rows_per_call(sampling.rows_per_call, kind, fmt, prompt)
    return Task(
        prompt,
        kind,
        fmt,
        pool,
        strategy,
        per_class,
        unlabeled,
        rows,
        structured,
        capabilities_of(llm).prefill and not structured,
        sampling,
        scoring,
        similar=similar,
        rephrasings=rephrasings,
        attributes=attributes,
    )


@dataclass(frozen=True)
class Selection:
    """How few-shot examples are picked: the strategy, its count, the label and text columns."""

    strategy: str | None
    per_class: int | None
    label_column: str
    text_columns: list[str]


def _prepared(
    output_format: OutputFormat, unlabeled: Dataset | None, fewshot: Dataset | None
) -> tuple[Dataset | None, Dataset | None]:
    """The datasets with the columns a structured format's prompt shows (``prepare``); a format
    that reads no input columns (a schema) may generate rows too."""
    if not isinstance(output_format, OutputFormat):
        raise ConfigError(
            f"output_format must be an OutputFormat, not {type(output_format).__name__}",
            hint="use fabricator.formats.Entities(...) or ExtractiveQA(...)",
        )
    if unlabeled is None and output_format.needed_columns():
        raise ConfigError("an output_format (entities, qa) annotates data: give unlabeled_dataset")
    if unlabeled is not None:
        unlabeled = output_format.prepare(unlabeled)
    return unlabeled, output_format.prepare(fewshot) if fewshot is not None else None


def _pool_of(
    prompt: BasePrompt, fewshot: Dataset, selection: Selection, fmt: FullFormat, sampling: SamplingOptions
) -> tuple[FewShotPool, SimilarIndex | None]:
    """The few-shot pool, indexed once (by label where draws need it), checked against the draws;
    with "similar", its embedding index (the pool embedded once, before any model call)."""
    if len(fewshot) == 0:
        raise ConfigError("the few-shot dataset is empty", hint="give examples or pass None")
    strategy, per_class, label_column = selection.strategy, selection.per_class, selection.label_column
    by_label = (strategy is not None and (strategy != "similar" or bool(per_class))) or (
        fmt.conditioning() is not None and label_column in fewshot.column_names
    )
    columns = prompt.relevant_columns_for_fewshot_examples or [prompt.target_column]
    pool = FewShotPool(
        fewshot,
        columns=[*columns, *selection.text_columns],
        label_column=label_column if by_label else None,
        label_options=prompt.label_options,
    )
    examples = sampling.fewshot_examples
    pool.check(strategy, per_class, prompt.label_options or sorted(pool.by_label), examples)
    if strategy != "similar":
        return pool, None
    balance = pool.label_column if per_class else None
    return pool, SimilarIndex(pool.rows, selection.text_columns, embedder_of(strategy), balance)


def _checked_scoring(
    fmt: FullFormat, kind: TaskKind, sampling: SamplingOptions, *, has_pool: bool
) -> str | None:
    """How labels are scored (``label_scoring``), with the options that need scoring checked
    (as for the same run on a real backend: a dry run checks them too)."""
    scoring = label_scoring(fmt, kind, sampling.label_scoring)
    rephrasings = len(sampling.task_rephrasings or ())
    if rephrasings and scoring is None:
        raise ConfigError(
            f"task_rephrasings ({rephrasings}) vote on a row's label, so they need scored label annotation",
            hint="annotate an unlabeled_dataset into label_options with label_scoring on, "
            "or drop task_rephrasings",
        )
    _check_scored_options(sampling, _scoring_asked(fmt, kind, sampling.label_scoring), kind)
    if sampling.votes > 1 and (scoring is None or not has_pool):
        raise ConfigError(
            f"votes={sampling.votes} needs scored label annotation with few-shot examples "
            "(each vote is a prompt with other examples)",
            hint="give a fewshot_dataset and keep label_scoring on, or set votes=1",
        )
    return scoring


def _can_structure(llm: LLM, sampling: SamplingOptions) -> bool:
    """Whether the backend takes a JSON schema; asking for one it cannot take is an error."""
    can_structure = capabilities_of(llm).json_schema
    if sampling.structured_output and not can_structure:
        raise ConfigError(
            f"backend {llm.name!r} does not support structured (JSON schema) output",
            hint="use structured_output=None (auto) or False",
        )
    return can_structure


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


def _check_selection(strategy: str | None, kind: TaskKind, reuse: int) -> None:
    """Strategy "similar" needs rows to be similar to; a shared draw needs rows that can share one."""
    if strategy == "similar" and kind.generates:
        raise ConfigError(
            "fewshot_sampling_strategy='similar' picks the examples nearest to each row being "
            f"annotated, and {kind.name} generation has no rows",
            hint="give unlabeled_dataset to annotate, or use 'uniform' / 'stratified' to generate",
        )
    if reuse > 1 and strategy == "similar":
        raise ConfigError(
            "fewshot_reuse shares one draw of examples across rows; 'similar' picks them per row",
            hint="leave fewshot_reuse at 1 with 'similar'",
        )


def _check_conditioning(prompt: BasePrompt, kind: TaskKind, fmt: FullFormat) -> None:
    """A format that conditions each generated row on one label (a schema's ``condition_on``)
    shows it in the task description's ``{}``; label options, if given, are the same labels."""
    column, labels = fmt.conditioning() or ("", [])
    if not kind.generates:
        raise ConfigError(
            f"{fmt!r} conditions generated rows on {column!r}, and this run annotates",
            hint="drop condition_on to annotate, or drop unlabeled_dataset to generate",
        )
    if prompt.label_options and set(prompt.label_options) != set(labels):
        raise ConfigError(f"label_options {prompt.label_options} are not the values of {column!r}: {labels}")
    if prompt.task_text("\x00") == prompt.task_text("\x01"):
        raise ConfigError(
            f"each row is asked for one {column} ({', '.join(labels)}) in the task description's "
            "'{}', and it has none",
            hint="write it like 'Write a {} question about history.'",
        )


def _check_rows_per_call(rows: int, kind: TaskKind, fmt: OutputFormat, prompt: BasePrompt) -> None:
    """``rows_per_call`` above 1 lists several rows' tasks in one prompt: generation of free text
    only (an annotated row has its own input; a structured answer has its own schema), with the
    examples inline (a grouped prompt shows them once, after the tasks)."""
    if rows > 1 and prompt.examples_as_turns:
        raise ConfigError(
            f"rows_per_call={rows} shows the examples once, inline; it cannot show them as turns",
            hint="use rows_per_call=1 with examples_as_turns, or examples_as_turns=False",
        )
    if rows > 1 and (not kind.generates or not isinstance(fmt, (FreeText, LabelConditioned))):
        raise ConfigError(
            f"rows_per_call={rows} writes several generated texts in one answer; it does not apply "
            f"to {type(fmt).__name__ if kind.generates else kind.name}",
            hint="leave rows_per_call at 1 for annotation and structured output formats",
        )


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


def label_scoring(fmt: FullFormat, kind: TaskKind, wanted: str) -> str | None:
    """How an annotation picks its labels: scored (``wanted``) when the format has label options.

    Dry runs (canned answers) and other formats parse the answer text as before (``None``).
    """
    return None if kind.canned else _scoring_asked(fmt, kind, wanted)


def _scoring_asked(fmt: FullFormat, kind: TaskKind, wanted: str) -> str | None:
    """The scoring the options ask for, as on a real backend (what the scored options are checked by)."""
    if wanted == "off" or kind.generates or fmt.score_options() is None:
        return None
    return wanted


def _check_scored_options(sampling: SamplingOptions, scoring: str | None, kind: TaskKind) -> None:
    """``min_confidence`` and annotation's ``calibration`` read scored labels: refused where the
    run scores none, instead of being silently ignored (verification's are checked with it)."""
    asked = [
        name
        for name, on in (
            ("min_confidence", sampling.min_confidence is not None),
            ("calibration", sampling.calibration != "off" and not kind.generates),
        )
        if on
    ]
    if asked and scoring is None:
        raise ConfigError(
            f"{' and '.join(asked)} work{'' if len(asked) > 1 else 's'} on scored labels, and this "
            f"run scores none ({kind.name}, label_scoring={sampling.label_scoring!r})",
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
    prompt: BasePrompt, kind: TaskKind, label_column: str, synonyms: Mapping[str, str] | None
) -> OutputFormat:
    """The format the paper's arguments mean when no ``output_format`` is given.

    Label options and annotation into the label column: the model writes a label. Label options
    otherwise (generation, or NLI-style annotation of another column): the model writes text for
    one label per row. No label options: free text.
    """
    target = prompt.target_column
    if prompt.label_options and not kind.generates and target == label_column:
        return Labels(target, prompt.label_options, synonyms=synonyms, keep_other_text=kind.canned)
    text = FreeText(
        target,
        answer_prefix=prompt.answer_prefix(),
        stop_columns=(*(prompt.relevant_columns_for_fewshot_examples or []), target, label_column),
    )
    if prompt.label_options:
        return LabelConditioned(text, label_column, prompt.label_options)
    return text


__all__ = ["MAX_PLANNED", "check_count", "label_scoring", "resolve_task"]
