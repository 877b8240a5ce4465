"""YAML recipes: one validated file that says what to generate, with what model, and where to.

Unknown keys and wrong types are errors that name the key; relative data paths are read from the
recipe's own folder, so a recipe and its data travel together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from .attributes import check_attributes
from .errors import ConfigError
from .options import GROUPS, SYSTEM_PROMPT, GenerationOptions, describe

if TYPE_CHECKING:  # what a recipe's inputs become (imported when they are built)
    from datasets import Dataset

    from .formats import OutputFormat
    from .prompts import BasePrompt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    limit: int | None = Field(default=None, ge=1)


class FewShotConfig(DataConfig):
    """``examples`` and ``reuse`` are the options ``fewshot_examples`` and ``fewshot_reuse``, written
    here beside the other few-shot keys (``Recipe`` puts them into ``generation``)."""

    sampling_strategy: Literal["uniform", "stratified", "similar"] | None = None
    examples_per_class: int | None = Field(default=None, ge=0)
    sampling_column: str | None = None
    examples: int | None = Field(default=None, ge=1)  # "similar": the k nearest examples
    reuse: int | None = Field(default=None, ge=1)  # consecutive rows sharing one draw


class OutputFormatConfig(_Strict):
    """A structured answer: ``entities`` (NER into BIO tags) or ``qa`` (extractive QA)."""

    kind: Literal["entities", "qa"]
    types: list[str] | None = None
    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    context_column: str = "context"

    def options(self) -> dict[str, Any]:
        if self.kind == "entities":
            return {
                "types": self.types or [],
                "tokens_column": self.tokens_column,
                "tags_column": self.tags_column,
            }
        return {"context_column": self.context_column}


class ModelConfig(_Strict):
    backend: Literal["embedded", "openai", "fake"] = "embedded"
    name: str | None = None
    base_url: str | None = None
    # the variable holding this server's key; unset: OPENAI_API_KEY, and only for api.openai.com
    api_key_env: str | None = None
    model_path: str | None = None
    parallel: int = Field(default=4, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)
    supports_prefill: bool = False
    responses: list[str] | str | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value


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

    max_prompt_calls: int = Field(default=10, ge=1)
    num_samples_to_generate: int = Field(default=10, ge=1)
    timeout_per_prompt: float | None = Field(default=None, gt=0)

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
        return check_attributes(value)

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

    def data_path(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path).expanduser()
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
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"recipe {path} is not valid YAML: {_yaml_problem(exc)}",
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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def recipe_inputs(
    recipe: Recipe,
) -> tuple[BasePrompt, Dataset | None, Dataset | None, OutputFormat | None]:
    """The prompt, few-shot and unlabeled data, and output format a run of ``recipe`` uses."""
    from .outputs import output_format
    from .prompts import BasePrompt
    from .tables import load_table

    p = recipe.prompt
    prompt = BasePrompt(
        task_description=p.task_description,
        generate_data_for_column=p.generate_data_for_column,
        fewshot_example_columns=p.fewshot_example_columns,
        label_options=p.label_options,
        label_descriptions=p.label_descriptions,
        fewshot_formatting_template=p.fewshot_formatting_template,
        target_formatting_template=p.target_formatting_template,
        fewshot_example_separator=p.fewshot_example_separator,
        inner_fewshot_example_separator=p.inner_fewshot_example_separator,
        examples_as_turns=p.examples_as_turns,
    )
    fewshot = (
        load_table(recipe.data_path(recipe.fewshot.path), recipe.fewshot.limit) if recipe.fewshot else None
    )
    unlabeled = (
        load_table(recipe.data_path(recipe.unlabeled.path), recipe.unlabeled.limit)
        if recipe.unlabeled
        else None
    )
    fmt = (
        output_format(recipe.output_format.kind, **recipe.output_format.options())
        if recipe.output_format
        else None
    )
    return prompt, fewshot, unlabeled, fmt
