"""Output formats: every task kind owns its instructions, schema, parsing, re-ask message and features.

Built in: ``FreeText`` (unlabeled generation, free-text annotation), ``Labels`` (label annotation),
``LabelConditioned`` (generation conditioned on one label per row), ``Entities`` (NER into BIO
tags), ``ExtractiveQA`` (SQuAD) and ``SchemaFormat`` (rows in the user's own schema: a Pydantic
model or a JSON Schema). Any object with the methods of ``OutputFormat`` is a format too;
inheriting ``BaseFormat`` lets it declare the optional members of ``FullFormat`` (re-asks, label
conditioning, label scoring, cut-short answers).
"""

from __future__ import annotations

from .base import BaseFormat, FullFormat, OutputFormat
from .entities import Entities
from .labels import Labels
from .qa import ExtractiveQA
from .registry import format_names, output_format, register_format
from .schema import SchemaFormat, schema_format
from .text import FreeText, LabelConditioned

# the formats a recipe may name (``output_format: {kind: ...}``) besides installed ones (entry
# points of ``fabricator.formats``); code passes any ``OutputFormat`` object directly
register_format("entities", Entities)
register_format("qa", ExtractiveQA)
register_format("schema", schema_format)


__all__ = [
    "BaseFormat",
    "Entities",
    "ExtractiveQA",
    "FreeText",
    "FullFormat",
    "LabelConditioned",
    "Labels",
    "OutputFormat",
    "SchemaFormat",
    "format_names",
    "output_format",
    "register_format",
]
