"""Free text (unlabeled generation, free-text annotation) and label-conditioned generation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datasets import ClassLabel, Value

from ..parsing import clean_generated_text, complete_sentences
from .base import BaseFormat


class FreeText(BaseFormat):
    """One free-text value in ``column``: the answer, cleaned of echoed prefixes and stray columns."""

    reask = False  # any text is an answer: nothing to correct

    def __init__(
        self, column: str = "text", *, answer_prefix: str = "", stop_columns: Sequence[str] = ()
    ) -> None:
        self.column = column
        self.answer_prefix = answer_prefix
        self.stop_columns = tuple(stop_columns)

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return {self.column: self._clean(text)}

    def parse_cut_short(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """An answer cut off at ``max_tokens`` keeps its complete sentences."""
        return {self.column: complete_sentences(self._clean(text))}

    def features(self) -> dict[str, Any]:
        return {self.column: Value("string")}

    def _clean(self, text: str) -> str:
        return clean_generated_text(text, prefix=self.answer_prefix, stop_columns=self.stop_columns)


class LabelConditioned(BaseFormat):
    """Free text written for one label per row; the row keeps that label in ``label_column``.

    The planner draws the labels (balanced, seeded) from ``conditioning()``; ``parse`` gets the
    row's label in ``label_column`` of its row.
    """

    reask = False

    def __init__(self, text: FreeText, label_column: str, labels: Sequence[str]) -> None:
        self.text = text
        self.label_column = label_column
        self.labels = list(labels)

    def conditioning(self) -> tuple[str, list[str]] | None:
        return self.label_column, self.labels

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.text.parse(text, row), self.label_column: row[self.label_column]}

    def parse_cut_short(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.text.parse_cut_short(text, row), self.label_column: row[self.label_column]}

    def features(self) -> dict[str, Any]:
        return {**self.text.features(), self.label_column: ClassLabel(names=self.labels)}
