"""YAML recipes: one validated file that says what to generate, with what model, and where to.

Unknown keys, keys given twice and wrong types are errors that name the key; every count is a
whole number within a bound; relative data paths are read from the recipe's own folder, so a
recipe and its data travel together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from ..errors import ConfigError
from ..formats import format_names
from ..llms.registry import backend_names, backend_options
from ..options import (
    GROUPS,
    MAX_EXAMPLES,
    MAX_PLANNED,
    SYSTEM_PROMPT,
    Count,
    GenerationOptions,
    OptionalCount,
    OptionalNumber,
    checked_attributes,
    describe,
)
from ..pipeline.filters.registry import filter_names
from .recipe_yaml import DuplicateKey, expandable, load_yaml, one_of, user_path, yaml_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PromptConfig(_Strict):
    task_description: str
    label_options: list[str] | None = None
    label_descriptions: dict[str, str] | None = None  # {label: what it means}, shown after the task
    generate_data_for_column: str | None = None
    fewshot_example_columns: list[str] | str | None = None
    fewshot_formatting_template: str | None = None
    target_formatting_template: str | None = None
    fewshot_example_separator: str = "\n\n"
    inner_fewshot_example_separator: str = "\n"
    examples_as_turns: bool = False  # few-shot examples as earlier turns of the chat


class DataConfig(_Strict):
    path: str
    limit: OptionalCount = Field(default=None, ge=1, le=MAX_PLANNED)

    @field_validator("path")
    @classmethod
    def _home(cls, value: str) -> str:
        return expandable(value)


class FewShotConfig(DataConfig):
    """``examples`` and ``reuse`` are the options ``fewshot_examples`` and ``fewshot_reuse``, written
    here beside the other few-shot keys (``Recipe`` puts them into ``generation``)."""

    sampling_strategy: Literal["uniform", "stratified", "similar"] | None = None
    examples_per_class: OptionalCount = Field(default=None, ge=0, le=MAX_EXAMPLES)
    sampling_column: str | None = None
    examples: OptionalCount = Field(default=None, ge=1, le=MAX_EXAMPLES)  # "similar": the k nearest
    reuse: OptionalCount = Field(default=None, ge=1, le=MAX_PLANNED)  # consecutive rows sharing one draw


class OutputFormatConfig(_Strict):
    """A structured answer: ``entities`` (NER into BIO tags), ``qa`` (extractive QA), or any format
    registered by name (``register_format``, entry points), which gets the other keys given."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    kind: str
    types: list[str] | None = None
    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    context_column: str = "context"

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        return one_of(value, format_names(), "output format")

    def options(self) -> dict[str, Any]:
        if self.kind == "entities":
            return {
                "types": self.types or [],
                "tokens_column": self.tokens_column,
                "tags_column": self.tags_column,
            }
        if self.kind == "qa":
            return {"context_column": self.context_column}
        given = {key: getattr(self, key) for key in self.model_fields_set - {"kind"}}
        return {**given, **(self.model_extra or {})}


class ModelConfig(BaseModel):
    """``model:``: a backend by name (built in, ``register_backend`` or an entry point) and its own
    options, validated by that backend's options model (an unknown key is an error naming it)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    backend: str = "embedded"
    _options: BaseModel | None = PrivateAttr(default=None)

    @field_validator("backend")
    @classmethod
    def _known(cls, value: str) -> str:
        return one_of(value, backend_names(), "backend")

    @model_validator(mode="after")
    def _backend_options(self) -> ModelConfig:
        self._options = backend_options(self.backend, self.model_extra or {})
        return self

    def options(self) -> BaseModel:
        """The backend's validated options (what its factory receives)."""
        return self._options or backend_options(self.backend, self.model_extra or {})

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        """Written back as the backend reads it: its name, then every option (defaults included)."""
        return {"backend": self.backend, **self.options().model_dump(mode=info.mode)}


class GenerationConfig(GenerationOptions):
    """A recipe's ``generation:`` section: ``generate``'s options, flat, plus three of the paper's.

    The journal, the call log and the progress bar are the runner's (the output folder, the CLI's
    ``--quiet``), and the concurrency is the model's (``model.max_concurrency``): not keys here.
    """

    flat_keys: ClassVar[frozenset[str]] = GenerationOptions.flat_keys - {
        "journal_dir",
        "on_journal_mismatch",
        "log_path",
        "progress",
        "max_concurrency",
    }

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_prompt_calls: Count = Field(default=10, ge=1, le=MAX_PLANNED)
    num_samples_to_generate: Count = Field(default=10, ge=1, le=MAX_PLANNED)
    timeout_per_prompt: OptionalNumber = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _known_filters(self) -> GenerationConfig:
        """A filter named by the recipe is known before any model call (or listed with the rest)."""
        known = filter_names()
        for spec in self.sampling.filters or ():
            one_of(spec["name"], known, "filter")
        return self

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Written back flat, as recipes are written (the groups are the model's, not the file's)."""
        data: dict[str, Any] = handler(self)
        out = {k: v for k, v in data.items() if k not in GROUPS}
        for group in GROUPS:
            out.update({k: v for k, v in data.get(group, {}).items() if k in self.flat_keys})
        if out.get("system_prompt") == SYSTEM_PROMPT:
            out["system_prompt"] = None  # as in recipes: null (or no key) is Fabricator's own
        return out


class OutputConfig(_Strict):
    """``output:`` as a mapping: the folder, and the Hub dataset repo a successful run is pushed to."""

    dir: str = "out"
    hub_repo: str | None = None
    private: bool = False
    #: a run with fewer rows is not pushed (the published data stays), unless ``--push-anyway``
    min_rows_to_push: int = Field(default=1, ge=0, le=MAX_PLANNED, strict=True)


class Recipe(_Strict):
    """The whole recipe. ``output`` is relative to the working directory.

    ``output`` is a folder, or a mapping ``{dir, hub_repo, private}`` (``OutputConfig``): then
    ``output`` is its ``dir`` and ``output_hub`` the whole mapping, written back as it was given.
    """

    prompt: PromptConfig
    fewshot: FewShotConfig | None = None
    unlabeled: DataConfig | None = None
    output_format: OutputFormatConfig | None = None
    model: ModelConfig = ModelConfig()
    #: a separate backend for ``generation.judge`` (a larger model judging a smaller one's rows)
    judge_model: ModelConfig | None = None
    generation: GenerationConfig = GenerationConfig()
    #: the ``attributes`` option, as its own section (written back inside ``generation``)
    attributes: dict[str, Any] | None = Field(default=None, exclude=True)
    output: str = "out"
    output_hub: OutputConfig | None = Field(default=None, exclude=True)  # output's mapping form
    base_dir: Path = Field(default=Path("."), exclude=True)
    source: Path | None = Field(default=None, exclude=True)  # the recipe file, never written over

    @model_validator(mode="before")
    @classmethod
    def _output_mapping(cls, data: Any) -> Any:
        """``output: {dir, hub_repo, private}`` -> ``output`` (the folder) and ``output_hub``."""
        if not isinstance(data, dict):
            return data
        if "output_hub" in data:
            raise ValueError("unknown key 'output_hub' (write output: {dir: ..., hub_repo: ...})")
        if isinstance(data.get("output"), dict):
            data = {**data, "output_hub": data["output"], "output": data["output"].get("dir", "out")}
        return data

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_specs(cls, value: Any) -> dict[str, Any] | None:
        return checked_attributes(value)

    @field_validator("output")
    @classmethod
    def _output_path(cls, value: str) -> str:
        return expandable(value)

    @model_validator(mode="after")
    def _attributes_section(self) -> Recipe:
        """``attributes:`` is the generation option ``attributes``: given in one of the two places."""
        if self.attributes is None:
            return self
        sampling = self.generation.sampling
        if sampling.attributes is not None:
            raise ValueError("attributes are given both as a section and in generation: give one of them")
        update = {"sampling": sampling.model_copy(update={"attributes": self.attributes})}
        self.generation = self.generation.model_copy(update=update)
        return self

    @model_validator(mode="after")
    def _fewshot_options(self) -> Recipe:
        """``fewshot: {examples, reuse}`` are the generation options ``fewshot_examples`` and
        ``fewshot_reuse``; given in both places, they must agree."""
        if self.fewshot is None:
            return self
        sampling = self.generation.sampling
        changes: dict[str, int] = {}
        for key, option in (("examples", "fewshot_examples"), ("reuse", "fewshot_reuse")):
            value = getattr(self.fewshot, key)
            if value is None:
                continue
            if option in sampling.model_fields_set and getattr(sampling, option) != value:
                raise ValueError(
                    f"fewshot.{key} is {value} but generation.{option} is {getattr(sampling, option)}: "
                    "give one of them"
                )
            changes[option] = value
        if changes:
            update = {"sampling": sampling.model_copy(update=changes)}
            self.generation = self.generation.model_copy(update=update)
        return self

    @model_serializer(mode="wrap")
    def _dump_output(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.output_hub is not None:
            data["output"] = self.output_hub.model_dump(exclude_defaults=True) | {"dir": self.output}
        return data

    @model_validator(mode="after")
    def _judge_model_judges(self) -> Recipe:
        if self.judge_model is not None and not self.generation.sampling.judge:
            raise ValueError("judge_model is given and no judge criterion (generation: {judge: [...]})")
        return self

    def data_path(self, path: str) -> Path:
        p = user_path(path, "data path")
        return p if p.is_absolute() else self.base_dir / p


def load_recipe(path: str | Path) -> Recipe:
    path = user_path(path, "recipe path")
    if not path.is_file():
        raise ConfigError(
            f"recipe {path} not found",
            hint="give the path of a YAML recipe, e.g. examples/sentiment/recipe.yaml",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"recipe {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            hint="save the recipe as UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"recipe {path} cannot be read: {exc.strerror or exc}",
            hint="give the path of a readable YAML recipe",
        ) from None
    try:
        raw: Any = load_yaml(text)
    except DuplicateKey as exc:
        raise ConfigError(
            f"recipe {path}: {exc.problem}; YAML would keep only the last one",
            hint=f"give {exc.key!r} once, with all its keys in one place",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"recipe {path} is not valid YAML: {yaml_problem(exc)}",
            hint="fix the YAML syntax at that line (indentation, quotes, colons)",
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {path} must be a mapping with at least a 'prompt' section")
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"recipe {path} is invalid: {describe(exc)}", hint="see the recipe reference in README.md"
        ) from None
    recipe.base_dir = path.resolve().parent
    recipe.source = path.resolve()
    return recipe
