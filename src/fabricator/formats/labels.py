"""Label annotation: the model picks one of the label options for each unlabeled row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datasets import ClassLabel

from ..errors import ParseError
from ..parsing import normalize_label
from .base import BaseFormat


class Labels(BaseFormat):
    """One of ``options`` in ``column`` (synonyms and a JSON ``{"label": ...}`` answer accepted).

    ``keep_other_text`` (a dry run with ``dummy_response``): an answer that is no label is kept as
    text, as the paper does, instead of failing every row; the column is then plain text.
    """

    def __init__(
        self,
        column: str,
        options: Sequence[str],
        *,
        synonyms: Mapping[str, str] | None = None,
        keep_other_text: bool = False,
    ) -> None:
        self.column = column
        self.options = list(options)
        self.synonyms = dict(synonyms) if synonyms else None
        self.keep_other_text = keep_other_text

    def json_schema(self) -> dict[str, Any] | None:
        return {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": self.options}},
            "required": ["label"],
            "additionalProperties": False,
        }

    def instructions(self) -> str:
        return f"Answer with exactly one of: {', '.join(self.options)}."

    def json_instructions(self) -> str:
        return 'Reply as JSON: {"label": "<one of the options>"}.'

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        try:
            value = normalize_label(text, self.options, synonyms=self.synonyms)
        except ParseError:
            if not self.keep_other_text:
                raise
            value = text.strip()
        return {self.column: value}

    def score_options(self) -> dict[str, str] | None:
        """The answers that mean each label (the label itself and its synonyms), for label scoring."""
        if self.keep_other_text:
            return None
        answers = {label: label for label in self.options}
        for synonym, label in (self.synonyms or {}).items():
            if label in answers:
                answers.setdefault(synonym, label)
        return answers

    def features(self) -> dict[str, Any]:
        return {self.column: ClassLabel(names=self.options)}
