"""Reading a chat completion answer as it enters: nothing a server sends may crash a run.

The text is a string or the joined text parts with invalid Unicode replaced, log-probabilities are
finite and <= 0 or dropped, and token counts are counts or marked missing; ``Completion.notes``
says what was repaired (the engine counts it). Kept apart from the HTTP client: pure functions.
"""

from __future__ import annotations

import math
from typing import Any

from .base import (
    LOGPROBS_INVALID,
    TEXT_REPAIRED,
    USAGE_MISSING,
    Completion,
    TokenChoice,
    Usage,
    clean_text,
    valid_logprobs,
)

_NO_USAGE = Usage()
#: content part types whose ``text`` is the answer (others: reasoning, images... are left out)
_TEXT_PARTS = (None, "text", "output_text")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _count(value: Any) -> int | None:
    """A token count as the server gave it, or ``None`` when it is not one (missing, < 0, text...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0 or value == float("inf") or int(value) != value:
        return None
    return int(value)


def usage_of(usage: Any) -> Usage | None:
    """Token counts of an answer (with the prompt tokens served from cache, where the server says);
    ``None`` when the server gave none, or counts that are not counts (the engine estimates them)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Usage(prompt, completion, min(cached or 0, prompt))


def logprobs_of(raw: Any) -> tuple[tuple[TokenChoice, ...] | None, bool]:
    """The ``logprobs.content`` of a chat answer as checked ``TokenChoice``s (``None`` when absent),
    and whether a set was sent but dropped as invalid (NaN, inf, > 0, not numbers).

    Read as ever, then all values checked at once (a sum is finite only if every value is), so the
    common, valid case costs little more than reading it.
    """
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, list):
        return None, False
    try:
        choices = tuple(
            TokenChoice(
                str(position["token"]),
                float(position["logprob"]),
                tuple((str(t["token"]), float(t["logprob"])) for t in position.get("top_logprobs") or ()),
            )
            for position in content
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, True
    values = [v for c in choices for _, v in c.top]
    values += [c.logprob for c in choices]
    if not values or (math.isfinite(sum(values)) and max(values) <= 0.0):  # sum: never raises
        return choices, False
    checked = valid_logprobs(choices)  # slow path: finds the bad value, or takes float noise as 0
    return checked, checked is None


def _part_text(part: Any) -> str | None:
    """The answer text of one content part (``None``: a part that is not answer text)."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
        return part["text"]
    return None


def content_text(content: Any) -> str | None:
    """The answer text of ``message.content``: a string, or its text parts joined (some servers send
    a list of parts for reasoning models); ``None`` when it is neither."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text for text in map(_part_text, content) if text is not None)
    return None


def json_type(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words (for messages)."""
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _label(value: Any, default: str) -> str:
    """A short string field of the answer (``finish_reason``, ``model``), or ``default``."""
    return clean_text(value)[0] if isinstance(value, str) and value else default


def completion_of(data: dict[str, Any], choice: dict[str, Any], text: str, model: str) -> Completion:
    """The checked ``Completion`` of an answer whose text was found; ``model`` when it names none."""
    notes: list[str] = []
    text, repaired = clean_text(text)
    if repaired:
        notes.append(TEXT_REPAIRED)
    logprobs, invalid = logprobs_of(choice.get("logprobs"))
    if invalid:
        notes.append(LOGPROBS_INVALID)
    usage = usage_of(data.get("usage"))
    if usage is None:
        notes.append(USAGE_MISSING)
    return Completion(
        text,
        _label(choice.get("finish_reason"), "stop"),
        usage or _NO_USAGE,
        _label(data.get("model"), model),
        logprobs,
        tuple(notes),
    )


__all__ = ["completion_of", "content_text", "json_type", "logprobs_of", "usage_of"]
