"""The YAML header of a dataset card: what the Hub reads (task, size, features, files)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..formats.kinds import kind_named

if TYPE_CHECKING:
    from datasets import Dataset, Features

    from .recipe import Recipe

__all__ = ["card_header", "features_to_yaml", "size_category", "task_categories"]

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
    task = kind_named(mode)  # a row's label is the model's (annotation) or was asked for
    if recipe.prompt.label_options and task is not None and (task.conditioned or not task.generates):
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


def card_header(
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
    task = kind_named(mode)  # annotated texts are the user's: how they were written is not known here
    if task is None or task.generates:
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
