"""Input checks of the student: labelled texts out of a dataset, and label sets a classifier can learn.

Every problem is a :class:`~fabricator.errors.ConfigError` raised before any training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from fabricator.errors import ConfigError
from fabricator.tables import decode_labels, label_names

__all__ = [
    "MIN_ROWS_PER_CLASS",
    "LabelMismatchError",
    "TooFewRowsError",
    "check_classes",
    "prepare_labeled",
]

MIN_ROWS_PER_CLASS = 2


class TooFewRowsError(ConfigError):
    """The training data has a single class, or a class with fewer than 2 rows."""


class LabelMismatchError(ConfigError):
    """The test data has labels that the training data does not have."""


def _columns_error(role: str, column: str, kind: str, dataset: Any) -> ConfigError:
    have = ", ".join(repr(c) for c in dataset.column_names) or "(none)"
    option = "text_column / --text-column" if kind == "text" else "label_column / --label-column"
    return ConfigError(
        f"{role} data has no {kind} column {column!r}; its columns are: {have}",
        hint=f"name the {kind} column with {option}",
    )


def _label_names(dataset: Any, column: str, role: str) -> list[str | None]:
    """The label of every row as a name (``None`` for unlabeled rows)."""
    if label_names(dataset.features[column]) is not None:
        return decode_labels(dataset, column)
    values = dataset[column]
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(None)
        elif isinstance(v, (list, tuple, dict)):
            raise ConfigError(
                f"{role} data: label column {column!r} holds {type(v).__name__}s, not one label per row",
                hint="the student classifier is for text classification data",
            )
        elif isinstance(v, bool):
            out.append(str(v).lower())
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return out


def prepare_labeled(
    dataset: Any, *, text_column: str = "text", label_column: str = "label", role: str = "training"
) -> tuple[list[str], list[str], list[str] | None]:
    """Texts and label names of a dataset, checked; and the ClassLabel name order if it has one.

    Raises :class:`ConfigError` for a non-dataset, a missing column, no rows, texts that are not
    strings, or unlabeled rows.
    """
    from datasets import ClassLabel, Dataset

    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"{role} data must be a datasets.Dataset, not {type(dataset).__name__}",
            hint="load files with fabricator.tables.load_table",
        )
    for kind, column in (("text", text_column), ("label", label_column)):
        if column not in dataset.column_names:
            raise _columns_error(role, column, kind, dataset)
    if len(dataset) == 0:
        raise ConfigError(f"{role} data has no rows")
    texts = dataset[text_column]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(
            f"{role} data: {len(bad)} rows have no text in column {text_column!r} (first: row "
            f"{bad[0]}, value {texts[bad[0]]!r})",
            hint="drop rows without text first",
        )
    labels = _label_names(dataset, label_column, role)
    missing = [i for i, label in enumerate(labels) if label is None]
    if missing:
        raise ConfigError(
            f"{role} data: {len(missing)} of {len(labels)} rows have no label in column "
            f"{label_column!r} (first: row {missing[0]})",
            hint="drop unlabeled rows first, e.g. dataset.filter(...)",
        )
    feature = dataset.features[label_column]
    order = list(feature.names) if isinstance(feature, ClassLabel) else None
    return list(texts), [str(label) for label in labels], order


def _check_unseen(train_labels: Iterable[str], test_labels: Iterable[str]) -> None:
    known = set(train_labels)
    unseen = sorted(set(test_labels) - known)
    if unseen:
        raise LabelMismatchError(
            f"test labels {unseen} do not occur in the training data, whose labels are {sorted(known)}",
            hint="map both datasets to the same label names (or check --label-column)",
        )


def _check_task_labels(
    labels: Sequence[str], train_labels: Iterable[str], test_labels: Iterable[str]
) -> None:
    """With the task's label set given, every label of both datasets must be one of it."""
    for role, seen in (("training", train_labels), ("test", test_labels)):
        unknown = sorted(set(seen) - set(labels))
        if unknown:
            raise LabelMismatchError(
                f"{role} labels {unknown} are not among the task's labels {list(labels)}",
                hint="map the dataset to the same label names (or check --labels)",
            )


def _learnable(train_labels: Sequence[str]) -> set[str]:
    return {c for c, n in Counter(train_labels).items() if n >= MIN_ROWS_PER_CLASS}


def check_classes(
    train_labels: Sequence[str],
    test_labels: Sequence[str],
    order: Sequence[str] | None,
    labels: Sequence[str] | None = None,
) -> list[str]:
    """The class names, in ClassLabel order (else sorted); raises on bad label sets.

    With the task's ``labels`` given, test labels missing from the training data are allowed
    and classes with too few rows are left out of training (see ``train_student``).
    """
    if labels is not None:
        _check_task_labels(labels, train_labels, test_labels)
        learnable = _learnable(train_labels)
        if len(learnable) < 2:
            raise TooFewRowsError(
                f"the training data has fewer than 2 classes with at least {MIN_ROWS_PER_CLASS} "
                f"rows ({dict(sorted(Counter(train_labels).items()))}): a classifier needs 2",
                hint="generate more rows for the missing labels",
            )
        train_labels = [label for label in train_labels if label in learnable]
        test_labels = [label for label in test_labels if label in learnable]
    counts = Counter(train_labels)
    _check_unseen(counts, test_labels)
    if len(counts) < 2:
        raise TooFewRowsError(
            f"the training data has a single class ({next(iter(counts))!r}, {len(train_labels)} "
            "rows): a classifier needs at least 2 classes"
        )
    small = {label: c for label, c in sorted(counts.items()) if c < MIN_ROWS_PER_CLASS}
    if small:
        raise TooFewRowsError(
            f"too few training rows per class: {small} (at least {MIN_ROWS_PER_CLASS} each are needed)",
            hint="generate more rows for these labels",
        )
    if order:
        return [n for n in order if n in counts]
    return sorted(counts)
