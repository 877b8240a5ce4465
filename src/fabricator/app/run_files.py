"""What a finished run writes into its output folder: data, provenance, failures, metadata, card
and the report page (``report.html``).

Every file goes through the folder's temporary-name-and-rename path, so a crash mid-write leaves
the previous file whole; ``metadata.json`` and the card read the same summary dict.
"""

from __future__ import annotations

import json
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml
from datasets import ClassLabel

from ..evaluation.diversity import attributes_from_provenance, diversity
from ..llms.base import LLM
from ..redact import redact_data
from ..report import GenerationReport
from ..tables import decode_labels, write_jsonl, write_records
from .card import CARD, render_card, shared_recipe
from .output_folder import OutputFolder
from .recipe import Recipe
from .view import REPORT_PAGE, collect_run, render_page

__all__ = ["write_outputs"]


def write_outputs(
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
    card = render_card(
        recipe=recipe,
        summary=summary,
        dataset=dataset,
        model_name=model.name,
        failures=report.failures,
        folder=folder.path,
    )
    folder.write_text(CARD, card)
    folder.write_text(REPORT_PAGE, render_page(collect_run(folder.path)))  # `fabricator view`'s page


def _diversity(dataset: Any, report: GenerationReport, text_column: str) -> dict[str, Any]:
    """Generated text's diversity (no embeddings: `fabricator evaluate diversity` adds them)."""
    if not report.kind.generates or text_column not in dataset.column_names or len(dataset) == 0:
        return {}
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
    found = {"python": platform.python_version()}
    for name in ("fabricator-data", "datasets", "aiohttp", "xllamacpp", "ray"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
