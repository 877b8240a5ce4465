"""Rows in the user's own schema: a Pydantic model (or a JSON Schema dict) as the output format.

The schema is sent to backends that constrain decoding (``json_schema``) and said in words to the
others; every answer is validated by the model, a wrong one is re-asked once with the validation
error and then kept as a failure (the row driver's parse and re-ask), and the dataset's columns
follow the fields (``schema_features``). Generation and annotation alike; with ``condition_on`` a
``Literal`` field is the label each generated row is asked for (label-conditioned generation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from datasets import ClassLabel, Dataset
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, ParseError
from ..parsing import find_json
from .base import BaseFormat, OutputFormat
from .schema_features import class_names, features_of
from .schema_model import import_model, model_of_schema

#: what ``output_format=`` takes: a format, a Pydantic model class, or a JSON Schema dict
FormatSpec: TypeAlias = OutputFormat | type[BaseModel] | Mapping[str, Any]
_SHOWN_ERRORS = 3  # validation errors quoted in a re-ask (the rest are counted)


class SchemaFormat(BaseFormat):
    """One JSON object per row, validated by ``schema`` (a Pydantic model class or a JSON Schema dict).

    ``condition_on`` names a ``Literal``/``Enum`` field: each generated row is asked for one of its
    values (in the task description's ``{}``) and its answer must carry that value. ``column`` is
    where ``prepare`` writes each few-shot row as the JSON the model should answer (name it in the
    prompt's ``generate_data_for_column`` to show examples).
    """

    def __init__(
        self,
        schema: type[BaseModel] | Mapping[str, Any],
        *,
        condition_on: str | None = None,
        column: str = "json",
    ) -> None:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self.model, self.schema = schema, schema.model_json_schema()
        elif isinstance(schema, Mapping):
            self.model, self.schema = model_of_schema(schema), dict(schema)
        else:
            raise ConfigError(
                f"an output schema is a Pydantic model class or a JSON Schema, not {type(schema).__name__}"
            )
        self.fields = list(self.model.model_fields)
        self._features = features_of(self.model)  # an unsupported field type is refused here, once
        self.condition_on = condition_on
        self.labels = self._labels_of(condition_on) if condition_on is not None else None
        self.column = column

    def _labels_of(self, field: str) -> list[str]:
        if field not in self.model.model_fields:
            raise ConfigError(f"condition_on={field!r} is not a field of the schema; it has {self.fields}")
        names = class_names(self.model.model_fields[field].annotation)
        if names is None:
            raise ConfigError(
                f"condition_on={field!r} must name a Literal or Enum field of strings (the labels)",
                hint="condition on a field such as difficulty: Literal['easy', 'hard']",
            )
        return names

    def prepare(self, dataset: Dataset) -> Dataset:
        """Few-shot rows with every required field get ``column``: the row as the JSON answer."""
        required = [n for n, f in self.model.model_fields.items() if f.is_required()]
        if self.column in dataset.column_names or not set(required) <= set(dataset.column_names):
            return dataset
        present = [f for f in self.fields if f in dataset.column_names]
        names = {f: dataset.features[f] for f in present if isinstance(dataset.features[f], ClassLabel)}

        def answer(row: dict[str, Any]) -> dict[str, str]:
            values = {f: names[f].int2str(row[f]) if f in names else row[f] for f in present}
            return {self.column: json.dumps(values, ensure_ascii=False)}

        return dataset.map(answer)

    def json_schema(self) -> dict[str, Any] | None:
        return self.schema

    def instructions(self) -> str:
        return (
            f"Answer with one JSON object with the fields {', '.join(self.fields)}, following this "
            f"JSON Schema: {json.dumps(self.schema, separators=(',', ':'), ensure_ascii=False)}"
        )

    def json_instructions(self) -> str:
        return "Reply with the JSON object only."

    def reask_message(self, error: ParseError) -> str:
        return f"{error.message}. Answer again with one corrected JSON object."

    def conditioning(self) -> tuple[str, list[str]] | None:
        if self.condition_on is None or self.labels is None:
            return None
        return self.condition_on, list(self.labels)

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        value = find_json(text, lambda v: isinstance(v, dict))
        if not isinstance(value, dict):
            raise ParseError(f"expected one JSON object with the fields {', '.join(self.fields)}", raw=text)
        if self.condition_on is not None and row.get(self.condition_on) is not None:
            self._check_asked(value, row[self.condition_on], text)
        try:
            valid = self.model.model_validate(value)
        except ValidationError as exc:
            raise ParseError(validation_message(exc), raw=text) from None
        dumped = valid.model_dump(mode="json")
        return {field: dumped[field] for field in self.fields}

    def _check_asked(self, value: dict[str, Any], asked: Any, text: str) -> None:
        """A conditioned row's answer carries the value it was asked for (filled in when left out)."""
        field = str(self.condition_on)
        got = value.setdefault(field, asked)
        if got != asked:
            raise ParseError(
                f"{field} must be {asked!r}, the value this row was asked for, not {got!r}", raw=text
            )

    def features(self) -> dict[str, Any]:
        return dict(self._features)

    def __repr__(self) -> str:
        return f"SchemaFormat({self.model.__name__}, fields={self.fields})"


def validation_message(exc: ValidationError) -> str:
    """A short, one-line account of what failed validation (the re-ask's message)."""
    errors = exc.errors()
    said = [f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in errors[:_SHOWN_ERRORS]]
    more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
    return "the answer does not fit the schema: " + "; ".join(said) + more


def as_format(spec: FormatSpec | None) -> OutputFormat | None:
    """``output_format=`` as a format: a Pydantic model class or a JSON Schema dict becomes a
    ``SchemaFormat``; a format (or ``None``) is returned as given."""
    if isinstance(spec, Mapping) or (isinstance(spec, type) and issubclass(spec, BaseModel)):
        return SchemaFormat(spec)
    return spec


def schema_format(
    *,
    schema: Mapping[str, Any] | None = None,
    model: str | None = None,
    condition_on: str | None = None,
    column: str = "json",
) -> SchemaFormat:
    """The recipe's ``output_format: {kind: schema, ...}``: a JSON Schema (``schema``) or a Pydantic
    model named by its dotted path (``model: package.module:Model``), not both."""
    if (schema is None) == (model is None):
        raise ConfigError(
            "output_format kind 'schema' takes one of 'schema' (JSON Schema) or 'model' (module:Model)",
            hint="give exactly one of the two",
        )
    source = import_model(model) if model is not None else schema
    assert source is not None
    return SchemaFormat(source, condition_on=condition_on, column=column)


__all__ = ["FormatSpec", "SchemaFormat", "as_format", "schema_format", "validation_message"]
