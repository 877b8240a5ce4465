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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from .redact import redact_data, redact_url

if TYPE_CHECKING:
    from datasets import Dataset, Features

    from .output_folder import OutputFolder
    from .recipe import Recipe
    from .rows import Failure

__all__ = [
    "CARD",
    "CARD_MARK",
    "features_to_yaml",
    "is_card",
    "render_card",
    "shared_recipe",
    "size_category",
    "task_categories",
    "write_card",
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

#: the Hub's size buckets: (exclusive upper bound, name)
_SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)

_WORKFLOWS = {
    "unlabeled": "unlabeled generation: the model wrote new texts from the task description",
    "label-conditioned": "label-conditioned generation: the model wrote one text for a given label per row",
    "annotation": "annotation: the model labeled the rows of the unlabeled input",
}

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


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a row count (``1000`` is ``1K<n<10K``)."""
    for bound, name in _SIZES:
        if rows < bound:
            return name
    return "n>1T"


def task_categories(recipe: Recipe, mode: str) -> tuple[list[str], list[str]]:
    """The Hub's task categories and task ids the data is for, by output format and workflow."""
    kind = recipe.output_format.kind if recipe.output_format else None
    if kind == "entities":
        return ["token-classification"], ["named-entity-recognition"]
    if kind == "qa":
        return ["question-answering"], ["extractive-qa"]
    if recipe.prompt.label_options and mode in ("annotation", "label-conditioned"):
        return ["text-classification"], []
    return ["text-generation"], []


def features_to_yaml(features: Features) -> list[dict[str, Any]]:
    """``Features`` in the Hub's ``dataset_info.features`` YAML shape, from the public ``to_dict``.

    The same shape as ``datasets``' own (private) ``Features._to_yaml_list``: ``dtype`` for values,
    ``class_label`` names keyed by their id as text, ``list``/``sequence`` and ``struct``.
    """
    return [{"name": name, **_feature(spec)} for name, spec in features.to_dict().items()]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _feature(spec: Any) -> dict[str, Any]:
    if isinstance(spec, (list, tuple)):  # [feature]: a list of that feature
        return _simplify({"list": _simplify(_feature(spec[0]))})
    spec = dict(spec)
    kind = spec.pop("_type", None)
    if kind is None:  # a dict of features
        return {"struct": [{"name": n, **_feature(f)} for n, f in spec.items()]}
    if kind in ("List", "LargeList", "Sequence"):
        inner = _feature(spec.pop("feature"))
        return _simplify({{"List": "list", "LargeList": "large_list"}.get(kind, "sequence"): inner, **spec})
    if kind == "Value":
        return spec
    if not spec:
        return {"dtype": _snake(kind)}
    return {"dtype": _simplify({_snake(kind): spec})}


def _simplify(feature: dict[str, Any]) -> dict[str, Any]:
    for key in ("large_list", "list", "sequence"):
        inner = feature.get(key)
        if isinstance(inner, dict) and list(inner) in (["dtype"], ["struct"]):
            feature[key] = next(iter(inner.values()))
    label = feature.get("class_label")
    if isinstance(label, dict) and isinstance(label.get("names"), list):
        label["names"] = {str(i): name for i, name in enumerate(label["names"])}  # the Hub wants text keys
    return feature


def _public_url(url: str) -> str:
    """A URL without user, password, query or fragment: what a card may show of an endpoint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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
    from importlib.metadata import PackageNotFoundError, version

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
        *_fence(PAPER["bibtex"], "bibtex"),
    ]


def _value(value: Any) -> str:
    """A figure as ``metadata.json`` writes it (JSON), so the two can be compared as text."""
    return json.dumps(value)


def _fence(text: str, lang: str = "") -> list[str]:
    """A code block whose fence is longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, text.rstrip("\n"), fence]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _first_logged_call(log_path: Path) -> dict[str, Any] | None:
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


def _metadata(
    recipe: Recipe, summary: Mapping[str, Any], dataset: Dataset, name: str
) -> tuple[dict[str, Any], list[str]]:
    """The YAML header and, when the recipe names no language, the placeholder comment for it."""
    mode = str(summary.get("mode", ""))
    categories, ids = task_categories(recipe, mode)
    rows = int(summary["rows"])
    language = getattr(recipe, "language", None)  # recipes do not have one yet; a placeholder instead
    labeled = bool(recipe.prompt.label_options or recipe.output_format)
    meta: dict[str, Any] = {"pretty_name": name}
    if language:
        meta["language"] = [language] if isinstance(language, str) else list(language)
    meta["license"] = "unknown"
    meta["task_categories"] = categories
    if ids:
        meta["task_ids"] = ids
    meta["annotations_creators"] = ["machine-generated" if labeled else "no-annotation"]
    if mode != "annotation":  # annotated texts are the user's: how they were written is not known here
        meta["language_creators"] = ["machine-generated"]
    meta["size_categories"] = [size_category(rows)]
    meta["tags"] = ["synthetic", "fabricator"]
    meta["configs"] = [{"config_name": "default", "data_files": [{"split": "train", "path": "data.jsonl"}]}]
    nbytes = int(dataset.data.nbytes)
    meta["dataset_info"] = {
        "features": features_to_yaml(dataset.features),
        "splits": [{"name": "train", "num_bytes": nbytes, "num_examples": rows}],
        "dataset_size": nbytes,
    }
    placeholder = (
        []
        if language
        else [
            "# language:  # fill in: ISO 639-1 code(s) of the text, e.g. [en]; the recipe does not say",
        ]
    )
    return meta, placeholder


def _how_it_was_made(recipe: Recipe, summary: Mapping[str, Any], model_name: str) -> list[str]:
    mode = str(summary.get("mode", ""))
    m, s = recipe.model, recipe.generation.sampling
    model = f"`{model_name}` (backend `{m.backend}`"
    if m.backend == "openai" and m.base_url:
        model += f", endpoint `{_public_url(m.base_url)}`"
        model += f", key from the variable named `{m.api_key_env}`" if m.api_key_env else ""
    if m.backend == "embedded":
        model += f", model file `{m.model_path}`" if m.model_path else ", the model shipped with Fabricator"
    lines = [
        "## How it was made",
        "",
        f"- Workflow: {_WORKFLOWS.get(mode, mode or 'unknown')}.",
        f"- Model: {model}).",
        f"- Sampling: {_sampling(s)}.",
    ]
    if recipe.prompt.label_options:
        lines.append("- Label options: " + ", ".join(f"`{o}`" for o in recipe.prompt.label_options) + ".")
    if recipe.output_format:
        lines.append(f"- Output format: `{recipe.output_format.kind}`.")
    if "calibration_changed" in summary or (mode == "annotation" and recipe.prompt.label_options):
        lines.append(f"- Labels: {_label_picking(s)}.")
    if s.verify:
        lines.append(f"- Label verification: {_verification(s, summary.get('verification'))}.")
    if recipe.fewshot:
        f = recipe.fewshot
        n = f.examples_per_class
        how = {
            None: f"{n} drawn at random per prompt" if n is not None else "drawn at random",
            "uniform": f"strategy `uniform`: one label per prompt, {n} examples of it",
            "stratified": f"strategy `stratified`: {n} examples of every class in each prompt",
            "similar": "strategy `similar`: the examples nearest to each row, "
            + (f"{n} of each class" if n else f"{recipe.generation.sampling.fewshot_examples} in all"),
        }[f.sampling_strategy]
        by = f", classes from column `{f.sampling_column}`" if f.sampling_column else ""
        limit = f" (first {f.limit} rows)" if f.limit else ""
        lines.append(f"- Few-shot examples: `{f.path}`{limit}, {how}{by}.")
    else:
        lines.append("- Few-shot examples: none.")
    if recipe.unlabeled:
        limit = f" (first {recipe.unlabeled.limit} rows)" if recipe.unlabeled.limit else ""
        lines.append(f"- Unlabeled input: `{recipe.unlabeled.path}`{limit}.")
    return lines


def _sampling(s: Any) -> str:
    """How answers were drawn, in one line (with how many rows one call wrote, if several)."""
    per_call = getattr(s, "rows_per_call", 1)
    if per_call > 1:
        how = (
            f"seed {s.seed}, temperature {s.temperature}, {per_call} rows a call (one label and one "
            f"draw of examples each), at most {s.max_tokens} tokens per row"
        )
    else:
        how = f"seed {s.seed}, temperature {s.temperature}, at most {s.max_tokens} tokens per answer"
    return f"{how}; duplicates and copies of few-shot examples {'dropped' if s.dedup else 'kept'}"


def _verification(s: Any, counts: Mapping[str, Any] | None) -> str:
    """How generated rows were checked against the label they were written for, in one line."""
    how = "each row annotated back by the same model, kept only if it reads as the label asked for"
    if s.verify_min_confidence is not None:
        how += f" with confidence {s.verify_min_confidence} or more"
    if s.calibration == "batch":
        how += " (the annotator's own label prior divided out)"
    if counts:
        how += f"; {counts.get('kept', 0)} of {counts.get('checked', 0)} checked rows kept"
    return how


def _label_picking(s: Any) -> str:
    """How an annotation picked its labels (docs/annotation.md), in one line."""
    if s.label_scoring == "off":
        return "the answer text parsed into one of the options (label scoring off)"
    how = {
        "auto": "scored from the model's token probabilities (sampled answers voting where a backend "
        "gives none); `confidence` is the probability of the chosen label",
        "logprobs": "scored from the model's token probabilities; `confidence` is the label's probability",
        "samples": f"{s.label_samples} sampled answers voting; `confidence` is the winning label's share",
    }[s.label_scoring]
    if s.calibration == "batch":
        how += "; calibrated by dividing out the run's mean label distribution"
    if s.votes > 1:
        how += f"; {s.votes} prompts with different few-shot examples vote per row"
    if s.task_rephrasings:
        how += f"; {len(s.task_rephrasings)} other wording(s) of the task vote too"
    if s.min_confidence is not None:
        how += f"; rows below confidence {s.min_confidence} left out (in failures.jsonl)"
    return how


def _prompt_section(recipe: Recipe, call: Mapping[str, Any] | None) -> list[str]:
    lines = ["### Prompt", "", "The task description:", "", *_fence(recipe.prompt.task_description, "text")]
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
        *_fence(shown, "text"),
        "",
        "Its answer:",
        "",
        *_fence(_shorten(str(call.get("response", ""))), "text"),
    ]
    return lines


def _figures(summary: Mapping[str, Any], failures_by_kind: Mapping[str, int]) -> list[str]:
    lines = ["## Counts", ""]
    lines += _table(["figure", "value", "meaning"], [(k, _value(summary.get(k)), m) for k, m in _COUNTS])
    if failures_by_kind:
        lines += ["", "Failures by kind:", ""]
        lines += _table(["kind", "rows"], sorted(failures_by_kind.items()))
    lines += ["", "## Tokens and cost", ""]
    lines += _table(["figure", "value", "meaning"], [(k, _value(summary.get(k)), m) for k, m in _SPENDING])
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
    meta, placeholder = _metadata(recipe, summary, dataset, name)
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip("\n")
    by_kind = Counter(f.kind for f in failures)
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
        *_how_it_was_made(recipe, summary, model_name),
        "",
        *_prompt_section(recipe, _first_logged_call(folder / "log.jsonl")),
        "",
        *_figures(summary, by_kind),
    ]
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
        *_fence(recipe_yaml, "yaml"),
        "",
        *_citation(),
    ]
    return "\n".join(lines) + "\n"


def write_card(
    folder: OutputFolder,
    *,
    recipe: Recipe,
    summary: Mapping[str, Any],
    dataset: Dataset,
    model_name: str,
    failures: Iterable[Failure] = (),
) -> None:
    """Write ``README.md`` into the run's folder, atomically like every other output."""
    text = render_card(
        recipe=recipe,
        summary=summary,
        dataset=dataset,
        model_name=model_name,
        failures=failures,
        folder=folder.path,
    )
    folder.write_text(CARD, text)
