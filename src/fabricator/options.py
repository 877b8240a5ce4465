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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .attributes import check_attributes
from .errors import ConfigError

SYSTEM_PROMPT = (
    "You write examples for a machine-learning training dataset. This is a data-writing task: "
    "fictional, opinionated or negative content is expected and fine. Follow the task exactly and "
    "answer with the requested value only: no preamble, no explanation, no quotes, no notes."
)

ENGINES = ("local", "ray")
#: the most rows one call may be asked to write (a longer list drifts from its tasks)
MAX_ROWS_PER_CALL = 20


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingOptions(_Group):
    """What each request asks and how answers are drawn and kept."""

    seed: int = 0
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1)
    system_prompt: str | None = SYSTEM_PROMPT  # None: no system message
    structured_output: bool | None = None  # None: JSON schema where the backend supports it
    label_synonyms: dict[str, str] | None = None
    dedup: bool = True  # drop generated rows that repeat another or copy a few-shot example
    # near duplicates (generation, docs/generation.md): Jaccard of word shingles (MinHash) and
    # cosine of sentence embeddings at or above which a row counts as a copy of an earlier one
    dedup_minhash: float | None = Field(default=None, gt=0.0, le=1.0)
    dedup_embedding: float | None = Field(default=None, gt=0.0, le=1.0)
    # label verification (generation): each row annotated back by label scoring; rows whose label
    # differs from the one asked for, or below verify_min_confidence, are dropped and replaced
    verify: bool = False
    verify_min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    # label annotation (docs/annotation.md): how the label is picked and how sure the model is
    label_scoring: Literal["auto", "logprobs", "samples", "off"] = "auto"
    label_samples: int = Field(default=5, ge=2)  # answers drawn per row where no logprobs come back
    calibration: Literal["off", "batch"] = "off"  # "batch": divide out the label prior of the run
    votes: int = Field(default=1, ge=1)  # prompts (few-shot draws) scored per row; agreement is shown
    # other wordings of the task description: each is one more prompt per row that votes (scored)
    task_rephrasings: list[str] | None = None
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)  # keep only rows this sure
    # few-shot selection: "similar" draws the examples nearest to the row (fewshot_sampling_strategy)
    fewshot_examples: int | None = Field(default=None, ge=1)  # total examples per prompt ("similar")
    fewshot_reuse: int = Field(default=1, ge=1)  # consecutive rows sharing one draw (prompt cache)
    # attribute samplers (generation, fabricator.attributes): {name: values} drawn per prompt
    attributes: dict[str, Any] | None = None
    # generation: rows written by one call (fabricator.grouped); the prompt and its examples are
    # paid once for them all, and the model sees its other answers, so they differ more
    rows_per_call: int = Field(default=1, ge=1, le=MAX_ROWS_PER_CALL)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_specs(cls, value: Any) -> dict[str, Any] | None:
        return check_attributes(value)


class LimitsOptions(_Group):
    """How hard the model is pushed: concurrency, rate limits and retries of failed transports."""

    max_concurrency: int | None = Field(default=None, ge=1)  # None: the backend's own
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=6, ge=0)  # HTTP retries per call (429, 5xx, timeouts)
    max_retry_wait: float | None = Field(default=60.0, ge=0)  # longer Retry-After: the row fails
    adaptive_concurrency: bool = True  # fewer requests in flight while the server answers 429/503


class BudgetOptions(_Group):
    """What a run may spend; it stops cleanly, keeping its rows, when either is spent."""

    budget_tokens: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, gt=0)
    prices: tuple[float, float] | None = None  # USD per million prompt and completion tokens


class JournalOptions(_Group):
    """Where answers (to resume and reuse) and every prompt and answer (to read) are kept."""

    journal_dir: str | Path | None = None
    on_journal_mismatch: Literal["error", "reuse", "fresh"] = "error"
    log_path: str | Path | None = None


class ExecutionOptions(_Group):
    """Where the calls run and what is shown while they do."""

    engine: str = "local"  # "ray": on a Ray cluster (docs/scaling.md)
    ray_actors: int | None = Field(default=None, ge=1)
    ray_address: str | None = None
    progress: bool = False

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}: use 'local' (default) or 'ray'")
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
    merged = {**(options.flat() if options is not None else {}), **flat}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid generation option(s): {describe(exc)}",
            hint="see the options groups in README.md (sampling, limits, budget, journal, execution)",
        ) from None


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
    "SYSTEM_PROMPT",
    "BudgetOptions",
    "ExecutionOptions",
    "GenerationOptions",
    "JournalOptions",
    "LimitsOptions",
    "SamplingOptions",
    "describe",
    "flat_loc",
    "options_from",
]
