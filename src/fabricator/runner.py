"""Run a recipe end to end: build the model and prompt, generate, write everything to one folder.

The output folder holds the dataset (``dataset/`` from ``save_to_disk`` and ``data.jsonl``), the
failures, a JSONL log of every prompt and response, the journal (so a re-run resumes), a copy of
the recipe, ``metadata.json`` (versions, counts, timings, tokens) and the dataset card
``README.md`` (``fabricator.card``). It must be new, empty or made by Fabricator
(``fabricator.output_folder``), and is locked for the run; ``log.jsonl`` starts afresh on every
run, so it holds what that run did (journaled answers included, once).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from datasets import disable_progress_bars

from .card import shared_recipe, write_card
from .costing import refuse_over_budget
from .errors import ConfigError
from .generator import DatasetGenerator
from .llms.base import LLM
from .options import SYSTEM_PROMPT
from .output_folder import OutputFolder, expand_path
from .recipe import ModelConfig, Recipe, recipe_inputs
from .redact import redact_data
from .report import GenerationReport
from .tables import write_jsonl, write_records

disable_progress_bars()
log = logging.getLogger(__name__)


def build_llm(config: ModelConfig, *, planning: bool = False) -> LLM:
    """The backend a recipe's ``model`` section names.

    ``planning``: for ``fabricator plan``, which only counts tokens: no API key is read or sent, and
    the embedded model gets one slot and no warm-up answer.
    """
    if config.backend == "fake":
        from .llms.fake import Fake

        return Fake(
            config.responses or "This is a fake response.",
            name=config.name or "fake",
            max_concurrency=config.max_concurrency or 8,
        )
    if config.backend == "openai":
        from .llms.openai import OpenAICompatible

        if not config.name:
            raise ConfigError("model.name is required for the openai backend", hint="e.g. name: gpt-4o-mini")
        # the key goes only where it was named for: api_key_env if given, else OPENAI_API_KEY for
        # OpenAI's own host (OpenAICompatible decides; an unset api_key_env is a ConfigError there)
        return OpenAICompatible(
            model=config.name,
            base_url=config.base_url or "https://api.openai.com/v1",
            api_key="" if planning else None,  # the plan sends nothing
            api_key_env=None if planning else config.api_key_env,
            max_concurrency=config.max_concurrency or 16,
            supports_prefill=config.supports_prefill,
        )
    from .llms.embedded import LlamaCpp

    if planning:
        return LlamaCpp(config.model_path, n_parallel=1, warmup=False)
    return LlamaCpp(config.model_path, n_parallel=config.parallel, max_concurrency=config.max_concurrency)


@dataclass
class RunResult:
    output: Path
    report: GenerationReport
    rows: int
    #: why the recipe's ``hub_repo`` was not pushed to (None: pushed, or no hub_repo)
    push_skipped: str | None = None


def run_recipe(
    recipe: Recipe,
    *,
    output: str | Path | None = None,
    on_journal_mismatch: str = "error",
    progress: bool = True,
    llm: LLM | None = None,
    engine: str | None = None,
    ray_actors: int | None = None,
    ray_address: str | None = None,
    spend_budget: bool = True,
    push_anyway: bool = False,
) -> RunResult:
    """Generate what ``recipe`` asks for and write it under ``output`` (default: the recipe's).

    ``engine``, ``ray_actors`` and ``ray_address`` override the recipe's ``generation`` section.
    The output folder is checked and locked before any model call (``fabricator.output_folder``).
    ``spend_budget=False`` (the CLI's default) refuses a plan over the budget before any call.
    ``push_anyway`` pushes to the recipe's ``hub_repo`` even a run with fewer rows than
    ``output.min_rows_to_push`` (default 1), which otherwise leaves the published data as it is.
    """
    out = expand_path(output or recipe.output, "output")
    fewshot_path = recipe.data_path(recipe.fewshot.path) if recipe.fewshot else None
    unlabeled_path = recipe.data_path(recipe.unlabeled.path) if recipe.unlabeled else None
    folder = OutputFolder(
        out, inputs=[i for i in (fewshot_path, unlabeled_path) if i is not None], recipe=recipe.source
    )
    folder.check()  # before reading data or building the model: the cheapest mistake first
    hub = recipe.output_hub.hub_repo if recipe.output_hub else None
    if hub:  # no token: stop now, not after paying for the run
        from .push import hub_token

        hub_token()
    prompt, fewshot, unlabeled, fmt = recipe_inputs(recipe)
    g = recipe.generation
    model = llm or build_llm(recipe.model)
    try:
        if not spend_budget:  # the CLI's default: refuse a plan over budget before any call
            refuse_over_budget(recipe, model, prompt, fewshot, unlabeled, fmt, out)
        with folder:
            generator = DatasetGenerator(model)
            where = engine or g.execution.engine
            log_path = folder.start_log()
            started = time.time()
            # the recipe's options, and what only the run knows: the folder, the CLI's overrides
            options = g.replace(
                system_prompt=g.sampling.system_prompt or SYSTEM_PROMPT,
                journal_dir=folder.path / "journal",
                on_journal_mismatch=on_journal_mismatch,
                log_path=log_path,
                progress=progress,
                engine=where,
                ray_actors=(ray_actors or g.execution.ray_actors) if where == "ray" else None,
                ray_address=(ray_address or g.execution.ray_address) if where == "ray" else None,
            )
            result = generator.generate(
                prompt_template=prompt,
                fewshot_dataset=fewshot,
                fewshot_sampling_strategy=recipe.fewshot.sampling_strategy if recipe.fewshot else None,
                fewshot_examples_per_class=recipe.fewshot.examples_per_class if recipe.fewshot else None,
                fewshot_sampling_column=recipe.fewshot.sampling_column if recipe.fewshot else None,
                unlabeled_dataset=unlabeled,
                max_prompt_calls=g.max_prompt_calls,
                num_samples_to_generate=g.num_samples_to_generate,
                timeout_per_prompt=g.timeout_per_prompt,
                output_format=fmt,
                options=options,
            )
            assert not isinstance(result, tuple)
            report = generator.last_run
            assert report is not None
            _write_outputs(folder, result, report, recipe, model, started, prompt.target_column)
    finally:
        close = getattr(model, "aclose", None)
        if close is not None and llm is None:
            from ._sync import run_sync

            run_sync(close())
    skipped = None
    if hub and recipe.output_hub and not report.interrupted:
        skipped = None if push_anyway else _why_not_push(len(result), recipe.output_hub.min_rows_to_push)
        if skipped is None:
            from .push import push_output

            push_output(out, hub, private=recipe.output_hub.private)
        else:
            log.warning("not pushed to %s: %s", hub, skipped)
    return RunResult(out, report, len(result), push_skipped=skipped)


def _why_not_push(rows: int, minimum: int) -> str | None:
    """A run with too few rows must not replace the data published before (None: push)."""
    if rows >= minimum:
        return None
    return (
        f"the run made {rows} row(s), fewer than output.min_rows_to_push ({minimum}); the Hub repo "
        "keeps what it had (push anyway: --push-anyway, or `fabricator push` the folder)"
    )


def _write_outputs(
    folder: OutputFolder,
    dataset: Any,
    report: GenerationReport,
    recipe: Recipe,
    model: LLM,
    started: float,
    text_column: str,
) -> None:
    """Every file goes to a temporary name first: a crash mid-write leaves the old file whole."""
    folder.write_dataset(dataset)
    folder.write_file("data.jsonl", lambda tmp: write_jsonl(dataset, tmp))
    folder.write_file("provenance.jsonl", lambda tmp: write_records(report.provenance, tmp))
    folder.write_file(
        "failures.jsonl",
        lambda tmp: write_records((redact_data(failure.as_dict()) for failure in report.failures), tmp),
    )
    folder.write_text(
        "recipe.yaml", yaml.safe_dump(shared_recipe(recipe), sort_keys=False, allow_unicode=True)
    )
    if report.attributes:  # the values the rows were drawn from (proposed ones too): reusable as given
        folder.write_text("attributes.json", json.dumps(report.attributes, indent=2, ensure_ascii=False))
    summary = report.summary()  # one dict for metadata.json and the card: the same figures in both
    folder.write_text(
        "metadata.json",
        json.dumps(
            redact_data(  # error messages in the summary may quote an endpoint
                {
                    "model": model.name,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                    "versions": _versions(),
                    "summary": summary,
                    "columns": {c: str(f) for c, f in dataset.features.items()},
                    **_diversity(dataset, report, text_column),
                }
            ),
            indent=2,
        ),
    )
    write_card(
        folder,
        recipe=recipe,
        summary=summary,
        dataset=dataset,
        model_name=model.name,
        failures=report.failures,
    )


def _diversity(dataset: Any, report: GenerationReport, text_column: str) -> dict[str, Any]:
    """Generated text's diversity (no embeddings: `fabricator evaluate diversity` adds them)."""
    if report.mode == "annotation" or text_column not in dataset.column_names or len(dataset) == 0:
        return {}
    from datasets import ClassLabel

    from .evaluation.diversity import attributes_from_provenance, diversity
    from .tables import decode_labels

    classes = [c for c, f in dataset.features.items() if isinstance(f, ClassLabel)]
    labels = [str(v) for v in decode_labels(dataset, classes[0])] if classes else None
    figures = diversity(
        [str(t) for t in dataset[text_column]],
        labels=labels,
        attributes=attributes_from_provenance(report.provenance),
        embeddings=False,
    )
    return {"diversity": figures}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("fabricator-data", "datasets", "aiohttp", "xllamacpp", "ray"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
