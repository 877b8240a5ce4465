"""The dataset card: ``README.md`` beside a run's data, in the Hugging Face Hub's format.

A folder shared or pushed as it is then says how its data was made. The YAML header is what the
Hub reads (task, size, license, features, which file is the data); the sections below it give the
workflow, model, prompt, counts, tokens and cost, quality figures when an evaluation report is in
the folder, and the recipe. Every figure is read from the run's summary, the very dict that
``metadata.json`` holds, so the two never disagree. The card never reads the environment: a recipe
names only the variable that holds a key, and that name is all the card can show.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..execution.work import Failure, FailureKind
from ..markdown import fence, table
from ..redact import redact_data, redact_url
from .card_header import card_header, features_to_yaml, size_category, task_categories
from .card_judge import judge_section
from .card_method import how_it_was_made
from .card_student import student_loop_section

if TYPE_CHECKING:
    from datasets import Dataset

    from .recipe import Recipe

__all__ = [
    "CARD",
    "CARD_MARK",
    "features_to_yaml",
    "first_logged_call",
    "is_card",
    "render_card",
    "shared_recipe",
    "size_category",
    "task_categories",
]

CARD = "README.md"
#: the card's first line after ``---``: how the output folder tells our card from a user's README
CARD_MARK = "# Dataset card written by Fabricator: a rerun into this folder writes it anew."
#: this project, as the card names it (its PyPI name; it has no URL of its own yet)
PROJECT = "fabricator-data"
#: the paper whose toolkit Fabricator implements
PAPER = {
    "citation": (
        "Jonas Golde, Patrick Haller, Felix Hamborg, Julian Risch and Alan Akbik (2023): "
        "*Fabricator: An Open Source Toolkit for Generating Labeled Training Data with Teacher LLMs*. "
        "EMNLP 2023, System Demonstrations. [arXiv:2309.09582](https://arxiv.org/abs/2309.09582)."
    ),
    "bibtex": """@inproceedings{golde2023fabricator,
  title = {Fabricator: An Open Source Toolkit for Generating Labeled Training Data with Teacher LLMs},
  author = {Golde, Jonas and Haller, Patrick and Hamborg, Felix and Risch, Julian and Akbik, Alan},
  booktitle = {Proceedings of the 2023 Conference on Empirical Methods in Natural Language Processing:
               System Demonstrations},
  year = {2023},
  eprint = {2309.09582},
  archivePrefix = {arXiv},
  url = {https://arxiv.org/abs/2309.09582}
}""",
}
#: the evaluation report ``fabricator evaluate student`` writes next to the data by default
EVALUATION_REPORT = "report.md"
_MAX_MESSAGE = 4000  # characters of one prompt message shown in the card


# (summary key, what it means): the tables of the card, in order
_COUNTS = (
    ("rows", "rows in the dataset"),
    ("requested", "rows the recipe asked for"),
    ("failures", "rows that could not be made (failures.jsonl)"),
    ("interrupted", "whether the run was stopped before it finished"),
)
_SPENDING = (
    ("calls", "model calls made (first asks, re-asks, top-ups)"),
    ("call_cap", "the cap on model calls (max_prompt_calls)"),
    ("requests", "requests sent to the model by this run"),
    ("succeeded", "requests answered"),
    ("cached", "answers reused from the journal of an earlier run"),
    ("retries", "HTTP retries (429, 5xx, timeouts)"),
    ("failed_requests", "requests that failed for good"),
    ("prompt_tokens", "prompt tokens this run"),
    ("completion_tokens", "completion tokens this run"),
    ("cached_tokens", "tokens the reused answers cost when first made"),
    ("cost_usd", "cost in US dollars at the recipe's prices (null: no prices given)"),
    ("elapsed_s", "seconds the generation took"),
    ("stopped", "why the run stopped early, if it did"),
)


def is_card(path: str | Path) -> bool:
    """Whether ``path`` is a card Fabricator wrote (so a rerun may write over it)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            head = file.read(len(CARD_MARK) + 8)
    except OSError:
        return False
    return head.splitlines()[1:2] == [CARD_MARK]


def shared_recipe(recipe: Recipe) -> dict[str, Any]:
    """The recipe as ``recipe.yaml`` and the card hold it: the endpoint without its credentials,
    no URL credentials anywhere else either (a pushed folder is public by default)."""
    data: dict[str, Any] = redact_data(recipe.model_dump(mode="json"))
    model = data.get("model") or {}
    if isinstance(model.get("base_url"), str):
        model["base_url"] = redact_url(model["base_url"])
    return data


def project_version() -> str:
    """This project's installed version (``fabricator-data``), or ``unknown`` from a bare source tree."""
    try:
        return version(PROJECT)
    except PackageNotFoundError:
        return "unknown"


def made_with() -> str:
    """What made the data: this project by name and version (it has no URL of its own yet)."""
    return f"Fabricator (`{PROJECT}` {project_version()})"


def _citation() -> list[str]:
    """The paper whose toolkit this project implements, cited as a paper (not as this code)."""
    return [
        "## Citation",
        "",
        f"Made with {made_with()}, an implementation of the toolkit described in {PAPER['citation']}",
        "",
        *fence(PAPER["bibtex"], "bibtex"),
    ]


def _value(value: Any) -> str:
    """A figure as ``metadata.json`` writes it (JSON), so the two can be compared as text."""
    return json.dumps(value)


def first_logged_call(log_path: Path) -> dict[str, Any] | None:
    """The first row's call in the run's log (attribute proposals come before it): a prompt
    exactly as the model got it, and its answer."""
    try:
        with open(log_path, encoding="utf-8") as file:
            for line in file:
                call = json.loads(line) if line.strip() else None
                if isinstance(call, dict) and call.get("row") is not None:
                    return call
    except (OSError, ValueError):
        return None
    return None


def _shorten(text: str) -> str:
    if len(text) <= _MAX_MESSAGE:
        return text
    return text[:_MAX_MESSAGE] + f"\n... ({len(text) - _MAX_MESSAGE} more characters)"


def _prompt_section(recipe: Recipe, call: Mapping[str, Any] | None) -> list[str]:
    lines = ["### Prompt", "", "The task description:", "", *fence(recipe.prompt.task_description, "text")]
    if call is None:
        return [*lines, "", "This run logged no model call (log.jsonl is empty)."]
    messages = call.get("messages") or []
    shown = "\n\n".join(
        f"[{m.get('role', '?')}]\n{_shorten(str(m.get('content', '')))}"
        for m in messages
        if isinstance(m, dict)
    )
    lines += [
        "",
        f"One prompt exactly as the model got it (row {call.get('row')}, the first row's call in log.jsonl):",
        "",
    ]
    lines += [
        *fence(shown, "text"),
        "",
        "Its answer:",
        "",
        *fence(_shorten(str(call.get("response", ""))), "text"),
    ]
    return lines


def _figures(summary: Mapping[str, Any], failures_by_kind: Mapping[str, int]) -> list[str]:
    lines = ["## Counts", ""]
    lines += table(["figure", "value", "meaning"], [(k, _value(summary.get(k)), m) for k, m in _COUNTS])
    if failures_by_kind:
        lines += ["", "Failures by kind:", ""]
        lines += table(["kind", "rows"], sorted(failures_by_kind.items()))
    lines += ["", "## Tokens and cost", ""]
    lines += table(["figure", "value", "meaning"], [(k, _value(summary.get(k)), m) for k, m in _SPENDING])
    return lines


def _quality(folder: Path) -> list[str]:
    """The metrics of an evaluation report in the folder, if there is one; nothing otherwise."""
    report = folder / EVALUATION_REPORT
    try:
        text = report.read_text(encoding="utf-8")
        written = report.stat().st_mtime
    except OSError:
        return []
    match = re.search(r"^## Metrics\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    if match is None:
        return []
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(written))
    lines = ["## Quality", "", f"From [{EVALUATION_REPORT}]({EVALUATION_REPORT}) (written {stamp})."]
    try:
        stale = written < (folder / "data.jsonl").stat().st_mtime
    except OSError:
        stale = False
    if stale:
        lines.append("It was written before this data: run the evaluation again for current figures.")
    return [*lines, "", match.group(1).strip()]


def render_card(
    *,
    recipe: Recipe,
    summary: Mapping[str, Any],
    dataset: Dataset,
    model_name: str,
    failures: Iterable[Failure] = (),
    folder: str | Path = ".",
) -> str:
    """The text of ``README.md`` for a run that wrote ``dataset`` into ``folder``.

    ``summary`` is the dict ``metadata.json`` holds (``GenerationReport.summary()``): every figure
    in the card is read from it. ``folder`` is where ``log.jsonl`` and an evaluation report are read.
    """
    folder = Path(folder)
    name = folder.resolve().name or "fabricator-dataset"
    meta, placeholder = card_header(recipe, summary, dataset, name)
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip("\n")
    by_kind = Counter(FailureKind(f.kind).value for f in failures)  # the names JSON writes
    lines = ["---", CARD_MARK, *placeholder, header, "---", ""]
    lines += [
        f"# {name}",
        "",
        "<!-- Written by Fabricator on every run into this folder: a rerun replaces edits made here. "
        "Keep the first comment line of the header, or the next run refuses to write over this file. -->",
        "",
        f"Synthetic data made with {made_with()}: {summary['rows']} "
        f"rows by `{model_name}`. The data is `data.jsonl` (also `dataset/`, from `save_to_disk`); "
        "`provenance.jsonl` says how each row was made, `failures.jsonl` what could not be made, "
        "`log.jsonl` every prompt and answer, and `metadata.json` the versions and the figures below.",
        "",
        "To look rather than read: [report.html](report.html) shows the figures, the first call and the "
        "rows with filters on one page that needs no network (`fabricator view` this folder serves it).",
        "",
        *how_it_was_made(recipe, summary, model_name),
        "",
        *_prompt_section(recipe, first_logged_call(folder / "log.jsonl")),
        "",
        *_figures(summary, by_kind),
    ]
    judged = judge_section(summary, recipe.generation.sampling.judge)
    if judged:
        lines += ["", *judged]
    looped = student_loop_section(summary)
    if looped:
        lines += ["", *looped]
    quality = _quality(folder)
    if quality:
        lines += ["", *quality]
    lines += ["", "## Language and license", ""]
    if "language" not in meta:
        lines.append(
            "The recipe does not say which language the text is in: fill in `language:` in the YAML "
            "header above (ISO 639-1 codes, e.g. `[en]`) before sharing the data."
        )
        lines.append("")
    lines.append(
        "No license was given (`license: unknown`): set one in the header above, in keeping with the "
        "terms of the model's provider and of the input data."
    )
    recipe_yaml = yaml.safe_dump(shared_recipe(recipe), sort_keys=False, allow_unicode=True)
    lines += [
        "",
        "## Recipe",
        "",
        "The recipe of this run (as in `recipe.yaml`):",
        "",
        *fence(recipe_yaml, "yaml"),
        "",
        *_citation(),
    ]
    return "\n".join(lines) + "\n"
