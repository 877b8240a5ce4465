"""One options model for ``generate``, ``agenerate``, recipes' ``generation:`` section and the CLI.

The options are written once, here, in five groups: ``sampling`` (what is asked and how the answers
are drawn), ``limits`` (how fast and how often the model is called), ``budget`` (what a run may
spend), ``journal`` (where answers and calls are kept) and ``execution`` (where the calls run).
Users may give them flat (``generate(..., seed=1, dedup=False)``, ``generation: {seed: 1}`` in a
recipe) or grouped (``GenerationOptions(sampling={"seed": 1})``); flat keys are put into their group
by name, so a new option is one field in one group. Unknown keys and wrong types are a
``ConfigError`` naming the key. The paper's positional arguments of ``generate`` are not options.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .attributes import check_attributes
from .errors import ConfigError
from .judge_criteria import JudgeCriterion, criteria_of, min_scores

SYSTEM_PROMPT = (
    "You write examples for a machine-learning training dataset. This is a data-writing task: "
    "fictional, opinionated or negative content is expected and fine. Follow the task exactly and "
    "answer with the requested value only: no preamble, no explanation, no quotes, no notes."
)

ENGINES = ("local", "ray", "batch")
#: the most rows one call may be asked to write (a longer list drifts from its tasks)
MAX_ROWS_PER_CALL = 20
# Upper bounds of the counts (issue 26): a typo of a few zeros is an error naming the bound, not a
# run that builds huge per-row lists or calls for hours. Each is far above any sensible setting.
#: the most rows (``num_samples_to_generate``) or calls (``max_prompt_calls``) one run may plan
MAX_PLANNED = 10_000_000
#: the most tokens one answer may be allowed (``max_tokens``)
MAX_TOKENS = 1_000_000
#: the most answers, prompts or task rephrasings one row may be scored with
MAX_VOTES = 100
#: the most few-shot examples one prompt may show (in all, or of each class)
MAX_EXAMPLES = 1_000
#: the most requests in flight, Ray actors or embedded server slots
MAX_CONCURRENCY = 1_024
#: the most HTTP retries of one call
MAX_RETRIES = 1_000
#: the largest token budget (a million million tokens)
MAX_BUDGET_TOKENS = 10**12
#: seeds fit a signed 64-bit integer (journals, JSON, numpy)
MAX_SEED = 2**63 - 1


def whole_number(value: Any) -> Any:
    """Counts as written: ``true`` or ``2.5`` is a mistake, not 1 or 2 (``None`` is left to the type)."""
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"must be a whole number, not {value!r}")
    return int(value)


def real_number(value: Any) -> Any:
    """Numbers are not booleans (``true`` is no rate or price); inf and NaN are refused by the models."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {value!r}")
    return value


#: a whole number (bounds are given with ``Field``); ``OptionalCount`` also takes ``None``
Count = Annotated[int, BeforeValidator(whole_number)]
OptionalCount = Annotated[int | None, BeforeValidator(whole_number)]
#: a finite number, not a boolean (the models refuse inf and NaN: ``allow_inf_nan=False``)
Number = Annotated[float, BeforeValidator(real_number)]
OptionalNumber = Annotated[float | None, BeforeValidator(real_number)]
Price = Annotated[float, BeforeValidator(real_number), Field(ge=0)]


def checked_attributes(value: Any) -> dict[str, Any] | None:
    """The ``attributes`` option checked for shape (``attributes.check_attributes``) and for
    weights a seeded draw can use: each finite, and their sum too (``random.choices`` fails on
    either, mid-run, with a traceback)."""
    specs = check_attributes(value)
    for name, spec in (specs or {}).items():
        per_label = spec.get("per_label") if isinstance(spec, dict) else None
        if isinstance(per_label, dict):
            for label, choice in per_label.items():
                _check_weights(f"{name}.per_label.{label}", choice)
        elif not (isinstance(spec, dict) and "propose" in spec):
            _check_weights(name, spec)
    return specs


def _check_weights(name: str, choice: Any) -> None:
    if not isinstance(choice, dict):
        return  # a list of values: dealt in blocks, no weights
    for value, weight in choice.items():
        if not math.isfinite(weight):
            raise ValueError(
                f"attribute {name!r}: the weight of {value!r} must be a finite number, not {weight!r}"
            )
    if not math.isfinite(sum(choice.values())):
        raise ValueError(
            f"attribute {name!r}: the weights add up to more than a number can hold; "
            "only their ratios count, so scale them down (e.g. to 1-100)"
        )


def check_budget(budget: BudgetOptions) -> None:
    """``budget_usd`` is counted in dollars at ``prices``: without them no call has a cost and the
    budget would never stop the run, so it is refused before any call instead of ignored."""
    if budget.budget_usd is not None and budget.prices is None:
        raise ConfigError(
            f"budget_usd={budget.budget_usd:g} is set but prices are not, so no call would count against it",
            hint="give prices: [prompt, completion] in USD per million tokens (e.g. prices: [0.15, 0.6]), "
            "or use budget_tokens",
        )


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SamplingOptions(_Group):
    """What each request asks and how answers are drawn and kept."""

    seed: Count = Field(default=0, ge=-MAX_SEED, le=MAX_SEED)
    temperature: Number = Field(default=0.8, ge=0.0, le=2.0)
    max_tokens: Count = Field(default=256, ge=1, le=MAX_TOKENS)
    system_prompt: str | None = SYSTEM_PROMPT  # None: no system message
    structured_output: bool | None = None  # None: JSON schema where the backend supports it
    label_synonyms: dict[str, str] | None = None
    dedup: bool = True  # drop generated rows that repeat another or copy a few-shot example
    # near duplicates (generation, docs/generation.md): Jaccard of word shingles (MinHash) and
    # cosine of sentence embeddings at or above which a row counts as a copy of an earlier one
    dedup_minhash: OptionalNumber = Field(default=None, gt=0.0, le=1.0)
    dedup_embedding: OptionalNumber = Field(default=None, gt=0.0, le=1.0)
    # label verification (generation): each row annotated back by label scoring; rows whose label
    # differs from the one asked for, or below verify_min_confidence, are dropped and replaced
    verify: bool = False
    verify_min_confidence: OptionalNumber = Field(default=None, ge=0.0, le=1.0)
    # label annotation (docs/annotation.md): how the label is picked and how sure the model is
    label_scoring: Literal["auto", "logprobs", "samples", "off"] = "auto"
    # answers drawn per row where no logprobs come back
    label_samples: Count = Field(default=5, ge=2, le=MAX_VOTES)
    calibration: Literal["off", "batch"] = "off"  # "batch": divide out the label prior of the run
    # settings chosen on held-out rows of a labelled few-shot pool (docs/tuning.md): "auto" tunes
    # an annotation whenever the pool is labelled, within tune_budget (a share of the run's calls)
    tune: Literal["auto", "off"] = "auto"
    tune_budget: Number = Field(default=0.1, gt=0.0, le=1.0)
    # ...and a classifier fitted on the pool's sentence embeddings mixed into the teacher's label
    # scores, at the weight that fits the held-out rows (0: the teacher alone; needs [student]);
    # in label-conditioned generation it drops rows it reads as another label (the pool check)
    pool_classifier: Literal["auto", "off"] = "auto"
    # prompts (few-shot draws) scored per row; agreement is shown
    votes: Count = Field(default=1, ge=1, le=MAX_VOTES)
    # other wordings of the task description: each is one more prompt per row that votes (scored)
    task_rephrasings: list[str] | None = Field(default=None, max_length=MAX_VOTES)
    min_confidence: OptionalNumber = Field(default=None, ge=0.0, le=1.0)  # keep only rows this sure
    # few-shot selection: "similar" draws the examples nearest to the row (fewshot_sampling_strategy)
    # total examples per prompt ("similar")
    fewshot_examples: OptionalCount = Field(default=None, ge=1, le=MAX_EXAMPLES)
    fewshot_reuse: Count = Field(default=1, ge=1, le=MAX_PLANNED)  # rows sharing one draw (prompt cache)
    # blocks of fewshot_reuse rows dealt round robin (row i in block i % fewshot_blocks), so rows
    # in flight at once are in different blocks and each server slot keeps serving one block's prompt
    fewshot_blocks: Count = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    # attribute samplers (generation, fabricator.attributes): {name: values} drawn per prompt
    attributes: dict[str, Any] | None = None
    # generation: rows written by one call (fabricator.grouped); the prompt and its examples are
    # paid once for them all, and the model sees its other answers, so they differ more
    rows_per_call: Count = Field(default=1, ge=1, le=MAX_ROWS_PER_CALL)
    # label-conditioned generation with a labelled pool (docs/student_loop.md): rounds steered by a
    # student tested on held-out pool rows (more rows and nearer examples where it errs)
    student_loop: bool = False
    student_rounds: Count = Field(default=4, ge=2, le=MAX_VOTES)
    # ...and first a pilot of pilot_rows rows per candidate setting, the best by the student used
    pilots: bool = False
    pilot_rows: Count = Field(default=40, ge=4, le=MAX_PLANNED)
    # filter stages by name, after the built-in ones (fabricator.pipeline.filters.registry): each
    # ``{name: ..., ...}``, its other keys that filter's options
    filters: list[dict[str, Any]] | None = None
    # LLM-as-judge (pipeline/filters/judge.py, docs/judge.md): criteria each row is scored on, and
    # the expected score below which a row is dropped (one number, or {criterion name: number})
    judge: Annotated[list[JudgeCriterion] | None, BeforeValidator(criteria_of)] = None
    min_judge_score: float | dict[str, float] | None = None

    @model_validator(mode="after")
    def _judge_minimums(self) -> SamplingOptions:
        if self.min_judge_score is not None and not self.judge:
            raise ValueError("min_judge_score is set and no judge criterion is given (judge=...)")
        min_scores(self.judge or [], self.min_judge_score)
        return self

    @field_validator("filters")
    @classmethod
    def _named_filters(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for spec in value or ():
            if not isinstance(spec.get("name"), str) or not spec["name"].strip():
                raise ValueError("each filter is a mapping with a 'name' (and that filter's options)")
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_specs(cls, value: Any) -> dict[str, Any] | None:
        return checked_attributes(value)


class LimitsOptions(_Group):
    """How hard the model is pushed: concurrency, rate limits and retries of failed transports."""

    # None: the backend's own
    max_concurrency: OptionalCount = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    requests_per_minute: OptionalNumber = Field(default=None, gt=0)
    tokens_per_minute: OptionalNumber = Field(default=None, gt=0)
    # HTTP retries per call (429, 5xx, timeouts)
    max_retries: Count = Field(default=6, ge=0, le=MAX_RETRIES)
    max_retry_wait: OptionalNumber = Field(default=60.0, ge=0)  # longer Retry-After: the row fails
    adaptive_concurrency: bool = True  # fewer requests in flight while the server answers 429/503


class BudgetOptions(_Group):
    """What a run may spend; it stops cleanly, keeping its rows, when either is spent."""

    budget_tokens: OptionalCount = Field(default=None, ge=1, le=MAX_BUDGET_TOKENS)
    budget_usd: OptionalNumber = Field(default=None, gt=0)
    prices: tuple[Price, Price] | None = None  # USD per million prompt and completion tokens
    batch_prices: tuple[Price, Price] | None = None  # the same through the batch API (engine="batch")


class JournalOptions(_Group):
    """Where answers (to resume and reuse) and every prompt and answer (to read) are kept."""

    journal_dir: str | Path | None = None
    on_journal_mismatch: Literal["error", "reuse", "fresh"] = "error"
    log_path: str | Path | None = None


class ExecutionOptions(_Group):
    """Where the calls run and what is shown while they do."""

    engine: str = "local"  # "ray": on a Ray cluster (docs/scaling.md); "batch": docs/batch.md
    ray_actors: OptionalCount = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    ray_address: str | None = None
    batch_max_requests: Count = Field(default=50_000, ge=1)  # the provider's cap per batch
    batch_max_bytes: Count = Field(default=200 * 1024 * 1024, ge=1024)  # its cap on a batch file
    batch_poll_seconds: Number = Field(default=30.0, ge=0)  # between two looks at a running batch
    batch_cancel_on_interrupt: bool = False  # Ctrl-C cancels submitted batches (paid work) too
    progress: bool = False

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}: use 'local' (default), 'ray' or 'batch'")
        return value


_GROUPS: dict[str, type[_Group]] = {
    "sampling": SamplingOptions,
    "limits": LimitsOptions,
    "budget": BudgetOptions,
    "journal": JournalOptions,
    "execution": ExecutionOptions,
}
GROUPS = tuple(_GROUPS)
#: every flat key and the group it belongs to (derived from the groups: nothing to keep in step)
FLAT_KEYS: dict[str, str] = {key: group for group, model in _GROUPS.items() for key in model.model_fields}


class GenerationOptions(BaseModel):
    """Our options of one ``generate`` call, grouped; flat keys are accepted and nested by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: flat keys this model takes (recipes take fewer: the runner sets the journal and the log)
    flat_keys: ClassVar[frozenset[str]] = frozenset(FLAT_KEYS)

    sampling: SamplingOptions = SamplingOptions()
    limits: LimitsOptions = LimitsOptions()
    budget: BudgetOptions = BudgetOptions()
    journal: JournalOptions = JournalOptions()
    execution: ExecutionOptions = ExecutionOptions()

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_keys(cls, data: Any) -> Any:
        """``{"seed": 1}`` -> ``{"sampling": {"seed": 1}}``; keys of no group are left for ``extra``."""
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            group = FLAT_KEYS.get(key) if key in cls.flat_keys else None
            if group is None:
                out[key] = value
                continue
            nested = out.setdefault(group, {})
            if isinstance(nested, BaseModel):
                nested = out[group] = nested.model_dump()
            nested[key] = value
        return out

    def flat(self) -> dict[str, Any]:
        """Every option as a flat ``key: value`` mapping (what ``generate`` takes as keywords)."""
        return {key: value for group in _GROUPS for key, value in getattr(self, group)}

    def explicit(self) -> dict[str, Any]:
        """The options the user set (defaults left out): tuning chooses only the others."""
        groups = [getattr(self, group) for group in _GROUPS]
        return {key: getattr(model, key) for model in groups for key in model.model_fields_set}

    def replace(self, **changes: Any) -> GenerationOptions:
        """A copy with some flat keys changed (checked as when given to ``generate``)."""
        return options_from(self, changes)


def options_from(
    options: GenerationOptions | None,
    flat: Mapping[str, Any],
    model: type[GenerationOptions] = GenerationOptions,
) -> GenerationOptions:
    """``options`` (or the defaults) with the flat keywords ``flat`` applied, checked.

    A key of no group, or a value of the wrong type, is a ``ConfigError`` naming the key.
    """
    if options is not None and not isinstance(options, GenerationOptions):
        raise ConfigError(
            f"options must be a fabricator.GenerationOptions, not {type(options).__name__}",
            hint="build it with GenerationOptions(...) or pass the options as keywords",
        )
    if options is None and not flat:
        return model()
    merged = {**(options.explicit() if options is not None else {}), **flat}  # defaults stay unset
    try:
        checked = model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid generation option(s): {describe(exc)}",
            hint="see the options groups in README.md (sampling, limits, budget, journal, execution)",
        ) from None
    check_budget(checked.budget)
    return checked


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``key: problem``, with group names left out of the key's path."""
    unknown = "Extra inputs are not permitted"
    return "; ".join(
        f"{'.'.join(flat_loc(e['loc']))}: {e['msg'].replace(unknown, 'unknown key')}" for e in exc.errors()
    )


def flat_loc(loc: tuple[int | str, ...]) -> list[str]:
    """An error location without the options groups (``generation.sampling.seed`` -> ``generation.seed``)."""
    return [str(part) for part in loc if part not in _GROUPS]


__all__ = [
    "ENGINES",
    "FLAT_KEYS",
    "GROUPS",
    "MAX_BUDGET_TOKENS",
    "MAX_CONCURRENCY",
    "MAX_EXAMPLES",
    "MAX_PLANNED",
    "MAX_RETRIES",
    "MAX_SEED",
    "MAX_TOKENS",
    "MAX_VOTES",
    "SYSTEM_PROMPT",
    "BudgetOptions",
    "Count",
    "ExecutionOptions",
    "GenerationOptions",
    "JournalOptions",
    "LimitsOptions",
    "Number",
    "OptionalCount",
    "OptionalNumber",
    "SamplingOptions",
    "check_budget",
    "checked_attributes",
    "describe",
    "flat_loc",
    "options_from",
    "real_number",
    "whole_number",
]
