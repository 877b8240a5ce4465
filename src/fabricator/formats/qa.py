"""Extractive QA: a question and its answer span from a context, in SQuAD format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from datasets import Dataset, Value
from datasets import Sequence as SequenceFeature

from ..dataset_transformations.question_answering import align_answer
from ..errors import ConfigError, ParseError
from ..parsing import find_json
from .base import BaseFormat


class ExtractiveQA(BaseFormat):
    """A question and its answer span from a context, in SQuAD format.

    The model writes ``{"question": ..., "answer": ...}``; the answer must occur in the context
    (matched exactly, else ignoring case and spacing, and then spelled as in the context), and
    ``answer_start`` is computed from where it occurs.
    """

    def __init__(self, *, context_column: str = "context", qa_column: str = "qa") -> None:
        self.context_column, self.qa_column = context_column, qa_column

    def prepare(self, dataset: Dataset) -> Dataset:
        if self.context_column not in dataset.column_names:
            raise ConfigError(
                f"QA data needs a {self.context_column!r} column; it has {dataset.column_names}"
            )
        if {"question", "answers"} <= set(
            dataset.column_names
        ) and self.qa_column not in dataset.column_names:
            return dataset.map(
                lambda r: {
                    self.qa_column: json.dumps(
                        {"question": r["question"], "answer": r["answers"]["text"][0]}, ensure_ascii=False
                    )
                }
            )
        return dataset

    def needed_columns(self) -> list[str]:
        return [self.context_column]

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
            "required": ["question", "answer"],
            "additionalProperties": False,
        }

    def instructions(self) -> str:
        return (
            'Answer with JSON {"question": <a question about the context>, "answer": <a short span '
            "copied exactly from the context that answers it>}."
        )

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        value = find_json(text, lambda v: isinstance(v, dict) and {"question", "answer"} <= set(v))
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("question"), str)
            or not isinstance(value.get("answer"), str)
            or not value["answer"].strip()
        ):
            raise ParseError('expected JSON {"question": ..., "answer": ...}', raw=text)
        context = row[self.context_column]
        found = align_answer(context, value["answer"].strip())
        if found is None:
            raise ParseError(f"answer {value['answer'][:60]!r} is not in the context", raw=text)
        answer, start = found
        return {
            self.context_column: context,
            "question": value["question"].strip(),
            "answers": {"text": [answer], "answer_start": [start]},
        }

    def features(self) -> dict[str, Any]:
        return {
            self.context_column: Value("string"),
            "question": Value("string"),
            "answers": {
                "text": SequenceFeature(Value("string")),
                "answer_start": SequenceFeature(Value("int32")),
            },
        }
