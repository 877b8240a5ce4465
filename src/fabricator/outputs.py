"""Output formats: how a model answer becomes the typed columns of a row.

The generator handles labels and free text itself; structured tasks plug in an ``OutputFormat``:
it prepares the input data (e.g. a ``text`` column from ``tokens``), tells the model the answer's
shape (a JSON schema where the backend can constrain it, else instructions), and parses an
answer against the row it belongs to, raising ``ParseError`` for anything that is not valid data
(an entity that is not in the sentence, an answer that is not in the context).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from datasets import ClassLabel, Dataset, Value
from datasets import Sequence as SequenceFeature

from .dataset_transformations.question_answering import align_answer
from .dataset_transformations.span_alignment import spans_to_bio
from .errors import ConfigError, ParseError
from .parsing import bio_to_spans, find_json, parse_entity_json


@runtime_checkable
class OutputFormat(Protocol):
    """What a structured task needs from the generator."""

    def prepare(self, dataset: Dataset) -> Dataset:
        """Add the columns the prompt shows (run on few-shot and unlabeled data)."""

    def needed_columns(self) -> list[str]:
        """Columns of the unlabeled row that ``parse`` reads."""

    def json_schema(self) -> dict[str, Any] | None: ...

    def instructions(self) -> str: ...

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]: ...

    def features(self) -> dict[str, Any]: ...


class Entities:
    """Named entities as a JSON list of ``{"text", "type"}``, turned into BIO tags.

    Few-shot rows with ``tokens`` and ``tags`` get a ``text`` column (tokens joined by spaces)
    and an ``entities`` column (the JSON the model should write); unlabeled rows get ``text``.
    """

    def __init__(
        self,
        types: Sequence[str],
        *,
        tokens_column: str = "tokens",
        tags_column: str = "ner_tags",
        text_column: str = "text",
        entities_column: str = "entities",
        constrained: bool = False,
    ) -> None:
        if not types:
            raise ConfigError("Entities needs the entity types, e.g. ['PER', 'ORG', 'LOC', 'MISC']")
        self.types = list(types)
        self.tokens_column, self.tags_column = tokens_column, tags_column
        self.text_column, self.entities_column = text_column, entities_column
        self.tag_names = ["O"] + [f"{p}-{t}" for t in self.types for p in ("B", "I")]
        # Off by default: measured on the embedded 1.5B model, schema-constrained decoding answered
        # "[]" for 100 of 100 CoNLL sentences, while the same prompt with the "entities:" prefill
        # and the tolerant JSON parser lists entities.
        self.constrained = constrained

    def prepare(self, dataset: Dataset) -> Dataset:
        if self.tokens_column not in dataset.column_names:
            raise ConfigError(
                f"NER data needs a {self.tokens_column!r} column; it has {dataset.column_names}"
            )
        tag_feature = dataset.features.get(self.tags_column)
        names = getattr(getattr(tag_feature, "feature", None), "names", None)
        has_tags = self.tags_column in dataset.column_names

        def add(row: dict[str, Any]) -> dict[str, Any]:
            out = {self.text_column: " ".join(row[self.tokens_column])}
            if has_tags:
                tags = [names[t] for t in row[self.tags_column]] if names else row[self.tags_column]
                spans = bio_to_spans(row[self.tokens_column], tags)
                out[self.entities_column] = json.dumps([{"text": s.text, "type": s.type} for s in spans])
            return out

        return dataset.map(add)

    def needed_columns(self) -> list[str]:
        return [self.tokens_column]

    def json_schema(self) -> dict[str, Any] | None:
        if not self.constrained:
            return None
        item = {
            "type": "object",
            "properties": {"text": {"type": "string"}, "type": {"enum": self.types}},
            "required": ["text", "type"],
            "additionalProperties": False,
        }
        return {"type": "array", "items": item}

    def instructions(self) -> str:
        return (
            'Answer with a JSON list of the named entities in the text, each {"text": <the exact '
            f'words from the text>, "type": <one of {", ".join(self.types)}>}}; [] if there are none.'
        )

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        spans, errors = parse_entity_json(text, label_types=self.types)
        tokens = row[self.tokens_column]
        tags, placement_errors = spans_to_bio(tokens, spans, label_types=self.types)
        errors = [*errors, *placement_errors]
        if errors:
            raise ParseError("; ".join(errors), raw=text)
        return {self.tokens_column: list(tokens), self.tags_column: [self.tag_names.index(t) for t in tags]}

    def features(self) -> dict[str, Any]:
        return {
            self.tokens_column: SequenceFeature(Value("string")),
            self.tags_column: SequenceFeature(ClassLabel(names=self.tag_names)),
        }


class ExtractiveQA:
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


def output_format(kind: str, **options: Any) -> OutputFormat:
    """An output format by name, as recipes give it."""
    formats = {"entities": Entities, "qa": ExtractiveQA}
    if kind not in formats:
        raise ConfigError(f"unknown output format {kind!r}", hint=f"use one of {sorted(formats)}")
    return formats[kind](**options)
