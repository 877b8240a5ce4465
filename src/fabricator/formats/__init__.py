"""Output formats: every task kind owns its instructions, schema, parsing, re-ask message and features.

Built in: ``FreeText`` (unlabeled generation, free-text annotation), ``Labels`` (label annotation),
``LabelConditioned`` (generation conditioned on one label per row), ``Entities`` (NER into BIO
tags) and ``ExtractiveQA`` (SQuAD). Any object with the methods of ``OutputFormat`` is a format too.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import BaseFormat, OutputFormat
from .entities import Entities
from .labels import Labels
from .qa import ExtractiveQA
from .text import FreeText, LabelConditioned

#: the formats a recipe may name (``output_format: {kind: ...}``); code passes any ``OutputFormat``
BY_NAME: dict[str, type[Any]] = {"entities": Entities, "qa": ExtractiveQA}


def output_format(kind: str, **options: Any) -> OutputFormat:
    """An output format by name, as recipes give it."""
    if kind not in BY_NAME:
        raise ConfigError(f"unknown output format {kind!r}", hint=f"use one of {sorted(BY_NAME)}")
    made: OutputFormat = BY_NAME[kind](**options)
    return made


__all__ = [
    "BaseFormat",
    "Entities",
    "ExtractiveQA",
    "FreeText",
    "LabelConditioned",
    "Labels",
    "OutputFormat",
    "output_format",
]
