"""The one JSON extractor: every parser that reads JSON out of a model answer goes through here.

Models wrap JSON in code fences, chatter before and after, or several attempts. Values are found
with ``json`` only (never ``eval``): fenced blocks first, then the whole answer, each read left to
right from every ``{`` or ``[``, so nested values are offered too, after the value holding them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["find_json", "json_values"]

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_OPENERS = re.compile(r"[\[{]")


def json_values(text: str) -> Iterator[Any]:
    """Every JSON object or array in ``text``, in the order described in the module docstring."""
    decoder = json.JSONDecoder()
    for source in [*_FENCE.findall(text), text]:
        for match in _OPENERS.finditer(source):
            try:
                value, _ = decoder.raw_decode(source, match.start())
            except json.JSONDecodeError:
                continue
            yield value


def find_json(text: str, accept: Callable[[Any], bool] = lambda value: True) -> Any | None:
    """The first JSON value in ``text`` that ``accept`` takes, or ``None``."""
    return next((value for value in json_values(text) if accept(value)), None)
