"""What an OpenAI-compatible server's error answer means: its message and how long it asks us to wait.

Kept apart from the client so the parsing of error bodies and ``Retry-After`` headers can be read
and tested on its own; the client maps the result onto ``fabricator.errors``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: a 400 whose message matches this is a prompt longer than the model's context
CONTEXT_OVERFLOW = re.compile(r"context|too long|exceed|maximum .*tokens", re.IGNORECASE)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` header, or ``None`` when it says nothing usable.

    Accepts delay-seconds (fractions too; negative means 0) and an HTTP date, counted from ``now``
    (epoch seconds, default the current time; tests pass a fixed one). Garbage gives ``None``
    rather than an error: a bad header must not turn a retryable 429 into a crash.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def error_text(raw: bytes, limit: int = 500) -> str:
    """The server's own error message from an error body (OpenAI, FastAPI, plain text...)."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:limit]
        for value in (err, data.get("message"), data.get("detail")):
            if isinstance(value, str) and value:
                return value[:limit]
            if value:
                return _dumps(value)[:limit]
    text = raw.decode("utf-8", "replace").strip()
    return text[:limit] if text else "(empty body)"
