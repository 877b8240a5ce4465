"""The card's "How it was made": workflow, model, sampling, labels and examples, one line each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..formats.kinds import TaskKind, kind_named
from ..llms.builtin import ModelOptions
from ..options import SamplingOptions
from ..pipeline.tune.choice import confidence_note
from ..samplers.fewshot import GENERATION_EXAMPLES

if TYPE_CHECKING:
    from .recipe import Recipe

__all__ = ["how_it_was_made", "label_picking", "pool_check", "sampling", "tuning_lines", "verification"]

_WORKFLOWS = {
    "unlabeled": "unlabeled generation: the model wrote new texts from the task description",
    "label-conditioned": "label-conditioned generation: the model wrote one text for a given label per row",
    "annotation": "annotation: the model labeled the rows of the unlabeled input",
}


def _public_url(url: str) -> str:
    """A URL without user, password, query or fragment: what a card may show of an endpoint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _uniform_count(n: int | None, kind: TaskKind | None) -> str:
    """The examples of the asked label a uniform draw shows (unset in label-conditioned
    generation: ``FewShotPool.generation_count``)."""
    if n is not None:
        return f"{n} examples"
    if kind is not None and kind.conditioned:
        return f"up to {GENERATION_EXAMPLES} examples (the default; fewer for long texts or small labels)"
    return "one example"


def how_it_was_made(recipe: Recipe, summary: Mapping[str, Any], model_name: str) -> list[str]:
    mode = str(summary.get("mode", ""))
    kind = kind_named(mode)
    annotated = kind is not None and not kind.generates
    m, s = recipe.model, recipe.generation.sampling
    model = f"`{model_name}` (backend `{m.backend}`"
    o = m.options()  # the built-in backends' keys; another backend's are its own
    if isinstance(o, ModelOptions) and m.backend == "openai" and o.base_url:
        model += f", endpoint `{_public_url(o.base_url)}`"
        model += f", key from the variable named `{o.api_key_env}`" if o.api_key_env else ""
    if isinstance(o, ModelOptions) and m.backend == "embedded":
        model += f", model file `{o.model_path}`" if o.model_path else ", the model shipped with Fabricator"
    lines = [
        "## How it was made",
        "",
        f"- Workflow: {_WORKFLOWS.get(mode, mode or 'unknown')}.",
        f"- Model: {model}).",
        f"- Sampling: {sampling(s)}.",
    ]
    if recipe.prompt.label_options:
        lines.append("- Label options: " + ", ".join(f"`{o}`" for o in recipe.prompt.label_options) + ".")
    if recipe.output_format:
        lines.append(f"- Output format: `{recipe.output_format.kind}`.")
    if "calibration_changed" in summary or (annotated and recipe.prompt.label_options):
        lines.append(f"- Labels: {label_picking(s)}.")
    if s.verify:
        lines.append(f"- Label verification: {verification(s, summary.get('verification'))}.")
    if summary.get("pool_check"):
        lines.append(f"- Pool check: {pool_check(summary['pool_check'])}.")
    lines += tuning_lines(summary.get("tuning"))
    if recipe.fewshot:
        f = recipe.fewshot
        n = f.examples_per_class
        how = {
            None: f"{n} drawn at random per prompt" if n is not None else "drawn at random",
            "uniform": f"strategy `uniform`: one label per prompt, {_uniform_count(n, kind)} of it",
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


def sampling(s: SamplingOptions) -> str:
    """How answers were drawn, in one line (with how many rows one call wrote, if several)."""
    per_call = s.rows_per_call
    if per_call > 1:
        how = (
            f"seed {s.seed}, temperature {s.temperature}, {per_call} rows a call (one label and one "
            f"draw of examples each), at most {s.max_tokens} tokens per row"
        )
    else:
        how = f"seed {s.seed}, temperature {s.temperature}, at most {s.max_tokens} tokens per answer"
    return f"{how}; duplicates and copies of few-shot examples {'dropped' if s.dedup else 'kept'}"


def verification(s: Any, counts: Mapping[str, Any] | None) -> str:
    """How generated rows were checked against the label they were written for, in one line."""
    how = "each row annotated back by the same model, kept only if it reads as the label asked for"
    if s.verify_min_confidence is not None:
        how += f" with confidence {s.verify_min_confidence} or more"
    if s.calibration == "batch":
        how += " (the annotator's own label prior divided out)"
    if counts:
        how += f"; {counts.get('kept', 0)} of {counts.get('checked', 0)} checked rows kept"
    return how


def pool_check(counts: Mapping[str, Any]) -> str:
    """How the pool's classifier checked the generated rows' labels, in one line."""
    pool = f"a classifier fitted on the {counts.get('pool_rows', 0):,} labelled few-shot rows"
    if counts.get("error"):
        return f"{pool} could not be fitted ({counts['error']}), so no row was checked"
    how = f"rows {pool} read as another label than the one asked for were dropped and written again"
    how += f"; {counts.get('kept', 0)} of {counts.get('checked', 0)} checked rows kept"
    if counts.get("unchecked"):
        how += f", {counts['unchecked']} of labels with too few pool rows not checked"
    return how


def label_picking(s: Any) -> str:
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


def tuning_lines(tuning: Mapping[str, Any] | None) -> list[str]:
    """What tuning chose on the labelled pool, and the table of candidates it chose from."""
    if not tuning:
        return []
    if tuning.get("metric") == "f1":
        return _span_tuning_lines(tuning)
    lines = [
        f"- Settings chosen on the labelled few-shot pool (docs/tuning.md): `{tuning['chosen']}`, "
        f"{tuning['accuracy']:.2f} ± {tuning['margin']:.2f} accuracy on {tuning['rows']} held-out pool rows "
        "(never shown as their own examples); expected calibration error: "
        + confidence_note(tuning["rows"], tuning["temperature"], tuning["ece"], tuning["ece_before"])
        + f"; {tuning['calls']} tuning calls.",
        *_pool_lines(tuning),
        "",
        "  | candidate | held-out accuracy | held-out rows | prompts per row |",
        "  |---|---|---|---|",
    ]
    for c in tuning["candidates"]:
        accuracy = "failed: " + str(c.get("error", "")) if c["accuracy"] is None else f"{c['accuracy']:.3f}"
        lines.append(f"  | `{c['setting']}` | {accuracy} | {c.get('rows', '')} | {c['prompts_per_row']} |")
    return [*lines, ""]


def _pool_lines(tuning: Mapping[str, Any]) -> list[str]:
    """Whether the labels mix in a classifier fitted on the pool (``pipeline.tune.pool_mix``)."""
    pool = tuning.get("pool_classifier")
    if pool is None:
        error = tuning.get("pool_classifier_error")
        return [f"- No classifier was fitted on the pool: {error}"] if error else []
    figures = (
        f"held-out accuracy: teacher {pool['teacher_accuracy']:.2f}, classifier "
        f"{pool['classifier_accuracy']:.2f}"
    )
    if not pool["weight"]:
        return [
            f"- A classifier fitted on the pool, mixed in, was not clearly better than the teacher: "
            f"the labels are the teacher's ({figures})."
        ]
    return [
        f"- Labels mix the teacher's scores with a classifier fitted on the labelled pool (logistic "
        f"regression on sentence embeddings), weight {pool['weight']:g} ({figures}, mix "
        f"{pool['mixed_accuracy']:.2f})."
    ]


def _span_tuning_lines(tuning: Mapping[str, Any]) -> list[str]:
    """NER: the examples chosen by entity F1 on held-out pool sentences (``pipeline.tune.span_choice``)."""
    lines = [
        f"- Few-shot examples chosen on the labelled pool (docs/tuning.md): `{tuning['chosen']}`, "
        f"entity F1 {tuning['f1']:.2f} ± {tuning['margin']:.2f} on {tuning['rows']} held-out pool "
        f"sentences (never shown as their own examples); {tuning['calls']} tuning calls.",
        "",
        "  | candidate | held-out entity F1 |",
        "  |---|---|",
    ]
    for c in tuning["candidates"]:
        f1 = "failed: " + str(c.get("error", "")) if c.get("f1") is None else f"{c['f1']:.3f}"
        lines.append(f"  | `{c['setting']}` | {f1} |")
    return [*lines, ""]
