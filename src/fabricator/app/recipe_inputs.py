"""What a run of a recipe reads: its prompt, few-shot and unlabeled data, and output format."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from datasets import Dataset

from ..formats import OutputFormat, output_format
from ..options import check_budget
from ..prompts import BasePrompt
from ..tables import load_table

if TYPE_CHECKING:
    from .recipe import Recipe

__all__ = ["RecipeInputs", "recipe_inputs"]


class RecipeInputs(NamedTuple):
    """The inputs of a run, as the paper's ``generate`` takes them."""

    prompt: BasePrompt
    fewshot: Dataset | None
    unlabeled: Dataset | None
    fmt: OutputFormat | None


def recipe_inputs(recipe: Recipe) -> RecipeInputs:
    """The prompt, few-shot and unlabeled data, and output format a run of ``recipe`` uses.

    A run's options are checked here too, before any data is read or file written: a recipe may
    hold ``budget_usd`` without ``prices`` (it loads), but nothing runs or plans with it.
    """
    check_budget(recipe.generation.budget)
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
    return RecipeInputs(prompt, fewshot, unlabeled, fmt)
