"""The gold and predicted value of every aligned row, per task, ready for the metric functions.

A prediction row that is absent or failed (its ``error`` column is set) yields ``None``: missing.
For NER a prediction may hold spans (a ``spans`` list, or a span string such as ``"EU is ORG."``
in the tag column) instead of tags; they are placed on the gold tokens, and spans that cannot be
placed make the row missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fabricator.dataset_transformations.span_alignment import spans_to_bio
from fabricator.errors import ConfigError, ParseError
from fabricator.parsing import parse_entities

__all__ = ["classification_values", "confidence_values", "failed", "ner_values", "qa_values"]

Rows = Sequence[Mapping[str, Any]]
AlignedRows = Sequence[Mapping[str, Any] | None]


def failed(row: Mapping[str, Any] | None) -> bool:
    """True for a gold row without a prediction and for a prediction whose ``error`` is set."""
    return row is None or bool(row.get("error"))


def classification_values(
    gold: Rows, aligned: AlignedRows, column: str, pred_column: str
) -> tuple[list[str | None], list[str | None]]:
    """Gold and predicted labels as strings (``None`` where missing)."""
    y_true = [row.get(column) for row in gold]
    y_pred = [None if row is None or failed(row) else row.get(pred_column) for row in aligned]
    return [None if v is None else str(v) for v in y_true], [None if v is None else str(v) for v in y_pred]


def confidence_values(
    gold: Rows, aligned: AlignedRows, column: str, pred_column: str, confidence_column: str
) -> tuple[list[bool], list[float]]:
    """Whether each answered row is right, and its confidence, for the rows that have both.

    Rows without a prediction, failed ones and those whose confidence is empty are left out (they
    already count as missing). A confidence that is not a number in [0, 1] is a ConfigError that
    names the gold row.
    """
    correct: list[bool] = []
    confidence: list[float] = []
    for number, (gold_row, row) in enumerate(zip(gold, aligned, strict=False)):
        if row is None or failed(row) or row.get(pred_column) is None:
            continue
        value = row.get(confidence_column)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            number_value = float(value)
        except (TypeError, ValueError):
            number_value = math.nan
        if isinstance(value, bool) or not 0.0 <= number_value <= 1.0:  # NaN fails the comparison too
            raise ConfigError(
                f"gold row {number}: the prediction's {confidence_column!r} is {value!r}, "
                "not a probability in [0, 1]",
                hint="the confidence column must hold the probability of the chosen label",
            )
        correct.append(str(row[pred_column]) == str(gold_row.get(column)))
        confidence.append(number_value)
    return correct, confidence


def qa_values(
    gold: Rows, aligned: AlignedRows, column: str, pred_column: str
) -> tuple[list[str | None], list[list[str]]]:
    """Predicted answers (``None`` where missing) and the gold answers of each question."""
    refs = [_qa_gold(row, column, i) for i, row in enumerate(gold)]
    return [_qa_prediction(row, pred_column) for row in aligned], refs


def ner_values(
    gold: Rows, aligned: AlignedRows, column: str, pred_column: str
) -> tuple[list[list[str]], list[list[str] | None]]:
    """Gold and predicted BIO tags per row (``None`` where the prediction is missing)."""
    gold_tags: list[list[str]] = []
    pred_tags: list[list[str] | None] = []
    for number, (gold_row, row) in enumerate(zip(gold, aligned, strict=False)):
        tags = gold_row.get(column)
        if not isinstance(tags, list):
            raise ConfigError(f"gold row {number}: {column!r} is not a list of tags")
        gold_tags.append([str(t) for t in tags])
        pred_tags.append(_ner_prediction(row, pred_column, gold_row, number))
    return gold_tags, pred_tags


def _qa_prediction(row: Mapping[str, Any] | None, column: str) -> str | None:
    if row is None or failed(row):
        return None
    for key in (column, "answers", "answer", "prediction_text", "prediction"):
        if key not in row:
            continue
        value = row[key]
        if isinstance(value, Mapping):
            texts = value.get("text") or []
            return texts[0] if texts else ""
        if isinstance(value, list):
            return value[0] if value else ""
        return value if value is None or isinstance(value, str) else str(value)
    return None


def _qa_gold(row: Mapping[str, Any], column: str, number: int) -> list[str]:
    value = row.get(column)
    if isinstance(value, Mapping):
        return list(value.get("text") or [])
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConfigError(f"gold row {number}: {column!r} holds no answers ({value!r})")


def _ner_prediction(
    row: Mapping[str, Any] | None, column: str, gold_row: Mapping[str, Any], number: int
) -> list[str] | None:
    if row is None or failed(row):
        return None
    gold_tokens = gold_row.get("tokens")
    tokens = row.get("tokens")
    if gold_tokens is not None and tokens is not None and list(tokens) != list(gold_tokens):
        raise ConfigError(
            f"row {number}: the predicted row has other tokens than the gold row",
            hint="the files are not aligned: add an id column or keep the same order",
        )
    tags = row.get(column)
    spans = row.get("spans") if tags is None else tags if isinstance(tags, str) else None
    if spans is not None and gold_tokens is not None:
        # spans (a list, or a model answer / "EU is ORG." string) are placed on the gold tokens
        try:
            if isinstance(spans, str):
                spans, errors = parse_entities(spans)
                if errors:
                    return None
            tags, errors = spans_to_bio(gold_tokens, spans)
        except (ConfigError, ParseError):
            return None
        if errors:
            return None
    if tags is None:
        return None
    if not isinstance(tags, list):
        raise ConfigError(f"prediction row {number}: {column!r} is not a list of tags")
    return [str(t) for t in tags]
