"""Run or plan a recipe end to end: build the model and inputs, generate, write one folder.

The output folder holds the dataset (``dataset/`` from ``save_to_disk`` and ``data.jsonl``), the
failures, a JSONL log of every prompt and response, the journal (so a re-run resumes), a copy of
the recipe, ``metadata.json`` (versions, counts, timings, tokens) and the dataset card
``README.md`` (``fabricator.app.run_files``). It must be new, empty or made by Fabricator
(``fabricator.app.output_folder``), and is locked for the run; ``log.jsonl`` starts afresh on every
run, so it holds what that run did (journaled answers included, once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, disable_progress_bars

from .._sync import run_sync
from ..generator import DatasetGenerator
from ..llms.base import LLM
from ..llms.registry import build_backend
from ..options import SYSTEM_PROMPT, GenerationOptions
from ..pipeline.prepare import RunPlan
from ..report import GenerationReport
from .card_student import write_student_plot
from .costing import Plan
from .output_folder import OutputFolder, expand_path
from .plan import plan_run, planned_run, refuse_over_budget
from .push import hub_token, push_output
from .recipe import ModelConfig, Recipe
from .recipe_inputs import RecipeInputs, recipe_inputs
from .recipe_yaml import user_path
from .run_files import write_outputs

disable_progress_bars()
log = logging.getLogger(__name__)


def build_llm(config: ModelConfig, *, planning: bool = False) -> LLM:
    """The backend a recipe's ``model`` section names, made from its validated options.

    ``planning``: for ``fabricator plan``, which only counts tokens: no API key is read or sent, and
    the embedded model gets one slot and no warm-up answer.
    """
    return build_backend(config.backend, config.options(), planning=planning)


@dataclass
class RunResult:
    output: Path
    report: GenerationReport
    rows: int
    #: why the recipe's ``hub_repo`` was not pushed to (None: pushed, or no hub_repo)
    push_skipped: str | None = None


@dataclass(frozen=True)
class RunChoices:
    """What the command line may change of a recipe's run (the defaults: as a library call).

    ``engine``, ``ray_actors`` and ``ray_address`` override the recipe's ``generation`` section.
    ``spend_budget=False`` (the CLI's default) refuses a plan over the budget before any call.
    ``push_anyway`` pushes to the recipe's ``hub_repo`` even a run with fewer rows than
    ``output.min_rows_to_push`` (default 1), which otherwise leaves the published data as it is.
    """

    on_journal_mismatch: str = "error"
    engine: str | None = None
    ray_actors: int | None = None
    ray_address: str | None = None
    spend_budget: bool = True
    push_anyway: bool = False


@contextmanager
def _backend(recipe: Recipe, llm: LLM | None, *, planning: bool = False) -> Iterator[LLM]:
    """``llm``, or the recipe's backend, closed afterwards (a backend given is the caller's)."""
    if llm is not None:
        yield llm
        return
    model = build_llm(recipe.model, planning=planning)
    try:
        yield model
    finally:
        run_sync(model.aclose())


@contextmanager
def _judge_backend(recipe: Recipe) -> Iterator[LLM | None]:
    """The recipe's ``judge_model`` backend (None: the run's model judges), closed afterwards."""
    if recipe.judge_model is None:
        yield None
        return
    judge = build_llm(recipe.judge_model)
    try:
        yield judge
    finally:
        run_sync(judge.aclose())


def plan_recipe(recipe: Recipe, output: str | Path | None = None, llm: LLM | None = None) -> Plan:
    """The plan of ``recipe`` (``fabricator plan``): no completion call, no API key sent."""
    out = user_path(output or recipe.output, "output folder")
    inputs = recipe_inputs(recipe)
    with _backend(recipe, llm, planning=True) as model:
        return plan_run(model, recipe, inputs, out)


def _options(recipe: Recipe, folder: OutputFolder, progress: bool, choices: RunChoices) -> GenerationOptions:
    """The recipe's options, and what only the run knows: the folder, the CLI's overrides."""
    g = recipe.generation
    where = choices.engine or g.execution.engine
    ray = where == "ray"
    return g.replace(
        system_prompt=g.sampling.system_prompt or SYSTEM_PROMPT,
        journal_dir=folder.path / "journal",
        on_journal_mismatch=choices.on_journal_mismatch,
        log_path=folder.start_log(),
        progress=progress,
        engine=where,
        ray_actors=(choices.ray_actors or g.execution.ray_actors) if ray else None,
        ray_address=(choices.ray_address or g.execution.ray_address) if ray else None,
    )


def _generate(
    generator: DatasetGenerator,
    recipe: Recipe,
    inputs: RecipeInputs,
    options: GenerationOptions,
    planned: RunPlan,
    judge: LLM | None = None,
) -> tuple[Dataset, GenerationReport]:
    """The paper's ``generate`` with the recipe's arguments, and their plan already made."""
    g, few = recipe.generation, recipe.fewshot
    result = generator.generate(
        prompt_template=inputs.prompt,
        fewshot_dataset=inputs.fewshot,
        fewshot_sampling_strategy=few.sampling_strategy if few else None,
        fewshot_examples_per_class=few.examples_per_class if few else None,
        fewshot_sampling_column=few.sampling_column if few else None,
        unlabeled_dataset=inputs.unlabeled,
        max_prompt_calls=g.max_prompt_calls,
        num_samples_to_generate=g.num_samples_to_generate,
        timeout_per_prompt=g.timeout_per_prompt,
        output_format=inputs.fmt,
        options=options,
        planned=planned,
        judge_llm=judge,
    )
    assert not isinstance(result, tuple) and generator.last_run is not None
    return result, generator.last_run


def _folder(recipe: Recipe, output: str | Path | None) -> OutputFolder:
    """The run's output folder, checked before reading data or building the model (the cheapest
    mistake first) and, with a ``hub_repo``, with a Hub token at hand (not after paying)."""
    out = expand_path(output or recipe.output, "output")
    inputs = [recipe.data_path(d.path) for d in (recipe.fewshot, recipe.unlabeled) if d is not None]
    folder = OutputFolder(out, inputs=inputs, recipe=recipe.source)
    folder.check()
    if recipe.output_hub and recipe.output_hub.hub_repo:
        hub_token()
    return folder


def run_recipe(
    recipe: Recipe,
    *,
    output: str | Path | None = None,
    progress: bool = True,
    llm: LLM | None = None,
    choices: RunChoices | None = None,
) -> RunResult:
    """Generate what ``recipe`` asks for and write it under ``output`` (default: the recipe's).

    The output folder is checked and locked before any model call (``fabricator.app.output_folder``).
    """
    choices = choices or RunChoices()
    folder = _folder(recipe, output)
    inputs = recipe_inputs(recipe)
    with _backend(recipe, llm) as model:
        planned = planned_run(model, recipe, inputs)  # made once: the budget check and the run share it
        if not choices.spend_budget:  # the CLI's default: refuse a plan over budget before any call
            refuse_over_budget(model, recipe, inputs, folder.path, planned)
        with folder, _judge_backend(recipe) as judge:
            generator = DatasetGenerator(model)
            started = time.time()
            options = _options(recipe, folder, progress, choices)
            result, report = _generate(generator, recipe, inputs, options, planned, judge)
            write_outputs(folder, result, report, recipe, model, started, inputs.prompt.target_column)
            write_student_plot(folder, report.summary())  # student_loop.png (student_loop only)
    skipped = None if report.interrupted else _push(folder.path, recipe, len(result), choices.push_anyway)
    return RunResult(folder.path, report, len(result), push_skipped=skipped)


def _push(out: Path, recipe: Recipe, rows: int, anyway: bool) -> str | None:
    """Push a finished run to the recipe's ``hub_repo``; why not, if it was not pushed."""
    hub = recipe.output_hub
    if hub is None or not hub.hub_repo:
        return None
    skipped = None if anyway else _why_not_push(rows, hub.min_rows_to_push)
    if skipped is None:
        push_output(out, hub.hub_repo, private=hub.private)
    else:
        log.warning("not pushed to %s: %s", hub.hub_repo, skipped)
    return skipped


def _why_not_push(rows: int, minimum: int) -> str | None:
    """A run with too few rows must not replace the data published before (None: push)."""
    if rows >= minimum:
        return None
    return (
        f"the run made {rows} row(s), fewer than output.min_rows_to_push ({minimum}); the Hub repo "
        "keeps what it had (push anyway: --push-anyway, or `fabricator push` the folder)"
    )
