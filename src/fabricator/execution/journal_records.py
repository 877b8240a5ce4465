"""The journal's lines: what makes a line a record, and answers' log-probabilities as JSON.

Apart from the journal's file handling so the engine can encode and decode an answer without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..llms.base import TokenChoice

__all__ = ["decode_logprobs", "encode_logprobs", "record_problem"]


def record_problem(line: bytes) -> tuple[str | None, Any]:
    """Why a journal line is not a record (``None`` if it is one), and the parsed record."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8", None
    if "\x00" in text:
        return "contains NUL bytes", None
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return "not valid JSON", None
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object", None
    if "k" not in record:
        return 'no key "k"', None
    if not isinstance(record["k"], str):
        return '"k" is not a string', None
    if not isinstance(record.get("text"), str):
        return '"text" is missing or not a string', None
    for name in ("finish_reason", "model"):
        if name in record and not isinstance(record[name], str):
            return f'"{name}" is not a string', None
    usage = record.get("usage", [0, 0])
    if not (isinstance(usage, list) and len(usage) == 2 and all(type(n) is int and n >= 0 for n in usage)):
        return '"usage" is not a pair of counts', None
    if record.get("logprobs") is not None and decode_logprobs(record["logprobs"]) is None:
        return '"logprobs" is not a list of [token, logprob, [[token, logprob], ...]]', None
    return None, record


def encode_logprobs(choices: Sequence[TokenChoice] | None) -> list[Any] | None:
    """An answer's token log-probabilities as plain JSON lists (``None`` stays ``None``)."""
    if choices is None:
        return None
    return [[c.token, c.logprob, [[t, lp] for t, lp in c.top]] for c in choices]


def decode_logprobs(raw: Any) -> tuple[TokenChoice, ...] | None:
    """The inverse of ``encode_logprobs``; ``None`` for anything else."""
    if not isinstance(raw, list):
        return None
    try:
        return tuple(
            TokenChoice(str(token), float(logprob), tuple((str(t), float(lp)) for t, lp in top))
            for token, logprob, top in raw
        )
    except (TypeError, ValueError):
        return None
