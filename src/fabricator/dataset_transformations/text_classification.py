"""Label ids <-> label text for text classification datasets.

LLMs read and write label *text*, while training code wants ``ClassLabel`` ids. These two
functions convert a ``datasets.Dataset`` in both directions, optionally through an
``expanded_label_mapping`` that turns terse dataset names into words a model understands better
(``{"pos": "positive", "neg": "negative"}``).

Conventions:

* ``label_options`` is the list of label texts *as the model sees them* (mapped when a mapping is
  given), in ``ClassLabel`` id order. ``convert_label_ids_to_texts(..., return_label_options=True)``
  returns it, and ``convert_texts_to_label_ids`` takes it back.
* The id ``-1`` (the ``datasets`` convention for "no label", e.g. unlabeled test splits) becomes
  ``None`` and ``None`` becomes ``-1`` on the way back.
* Going back, label text is matched exactly first, then ignoring case and surrounding whitespace
  (models often answer ``"Positive"``). Anything else raises :class:`ConfigError` naming the value
  and the allowed options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fabricator.errors import ConfigError
from fabricator.tables import decode_label

__all__ = ["convert_label_ids_to_texts", "convert_texts_to_label_ids"]


def _require_column(dataset: Any, column: str) -> None:
    names = list(getattr(dataset, "column_names", []) or [])
    if column not in names:
        raise ConfigError(
            f"column {column!r} is not in the dataset (columns: {names})",
            hint="pass the name of the label column",
        )


def _check_mapping(mapping: Mapping[str, str] | None, names: Sequence[str]) -> dict[str, str]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"expanded_label_mapping must be a dict, got {type(mapping).__name__}")
    unknown = [key for key in mapping if key not in names]
    if unknown:
        raise ConfigError(
            f"expanded_label_mapping has keys that are not labels of the dataset: {unknown}",
            hint=f"the labels are {list(names)}",
        )
    expanded = [str(mapping.get(name, name)) for name in names]
    if len(set(expanded)) != len(expanded):
        raise ConfigError(
            f"expanded_label_mapping maps two labels to the same text: {expanded}",
            hint="every label needs its own text, or the way back is ambiguous",
        )
    return {str(k): str(v) for k, v in mapping.items()}


def convert_label_ids_to_texts(
    dataset: Any,
    label_column: str,
    expanded_label_mapping: Mapping[str, str] | None = None,
    return_label_options: bool = False,
) -> Any:
    """Turn a ``ClassLabel`` id column into label text.

    Returns the new dataset, or ``(dataset, label_options)`` when ``return_label_options`` is set.
    ``label_options`` lists the label texts in id order (after the mapping).
    """
    from datasets import ClassLabel, Value

    _require_column(dataset, label_column)
    feature = dataset.features[label_column]
    if not isinstance(feature, ClassLabel):
        raise ConfigError(
            f"column {label_column!r} is not a ClassLabel column (it is {feature})",
            hint="it already holds text, or cast it first: dataset.cast_column(col, ClassLabel(names=[...]))",
        )
    names = list(feature.names)
    mapping = _check_mapping(expanded_label_mapping, names)
    options = [mapping.get(name, name) for name in names]

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {label_column: [decode_label(v, options, column=label_column) for v in batch[label_column]]}

    features = dataset.features.copy()
    features[label_column] = Value("string")
    converted = dataset.map(convert, batched=True, features=features, desc="label ids -> text")
    if return_label_options:
        return converted, options
    return converted


def _label_names(
    label_options: Sequence[str], expanded_label_mapping: Mapping[str, str] | None
) -> tuple[list[str], list[str]]:
    """The option texts in id order and the ``ClassLabel`` names they stand for, both checked."""
    if isinstance(label_options, (str, bytes)) or not label_options:
        raise ConfigError("label_options must be a non-empty list of label texts")
    options = [str(option) for option in label_options]
    if len(set(options)) != len(options):
        raise ConfigError(f"label_options has duplicates: {options}")
    inverse: dict[str, str] = {}
    if expanded_label_mapping:
        inverse = {str(v): str(k) for k, v in expanded_label_mapping.items()}
    names = [inverse.get(option, option) for option in options]
    if len(set(names)) != len(names):
        raise ConfigError(f"label names after the mapping are not unique: {names}")
    return options, names


class _LabelIds:
    """A label text's id: exact first, then ignoring case and surrounding space when unambiguous."""

    def __init__(self, options: list[str], names: list[str], label_column: str) -> None:
        self.options = options
        self.label_column = label_column
        self.exact = {option: i for i, option in enumerate(options)}
        # originals are accepted too, so data that was never mapped converts the same way
        for i, name in enumerate(names):
            self.exact.setdefault(name, i)
        self.folded: dict[str, int | None] = {}
        for text, i in self.exact.items():
            key = text.strip().casefold()
            self.folded[key] = i if self.folded.get(key, i) == i else None  # None: ambiguous when folded

    def of(self, value: Any, row: int) -> int:
        if value is None:
            return -1
        if isinstance(value, str):
            if value in self.exact:
                return self.exact[value]
            hit = self.folded.get(value.strip().casefold())
            if hit is not None:
                return hit
        raise ConfigError(
            f"row {row}: label {value!r} in column {self.label_column!r} is not one of the options "
            f"{self.options}",
            hint="fix or drop that row, or add the label to label_options",
        )


def convert_texts_to_label_ids(
    dataset: Any,
    label_column: str,
    label_options: Sequence[str],
    expanded_label_mapping: Mapping[str, str] | None = None,
) -> Any:
    """Turn a label-text column back into a ``ClassLabel`` id column.

    ``label_options`` are the texts in id order (as returned by :func:`convert_label_ids_to_texts`).
    With ``expanded_label_mapping`` (original name -> text, the same dict as on the way in) the
    ``ClassLabel`` gets the original names; without it, the options themselves are the names.
    """
    from datasets import ClassLabel

    _require_column(dataset, label_column)
    options, names = _label_names(label_options, expanded_label_mapping)
    ids = _LabelIds(options, names, label_column)

    def convert(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        return {label_column: [ids.of(v, i) for v, i in zip(batch[label_column], indices, strict=True)]}

    features = dataset.features.copy()
    features[label_column] = ClassLabel(names=names)
    return dataset.map(convert, batched=True, with_indices=True, features=features, desc="label text -> ids")
