"""What an OpenAI-compatible server's error answer means: its message and how long it asks us to wait.

Kept apart from the client so the parsing of error bodies and ``Retry-After`` headers can be read
and tested on its own; the client maps the result onto ``fabricator.errors``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from urllib.parse import unquote, urlsplit

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: a 400 whose message matches this is a prompt longer than the model's context
CONTEXT_OVERFLOW = re.compile(r"context|too long|exceed|maximum .*tokens", re.IGNORECASE)
_HTML = re.compile(rb"^\s*<(!doctype|html|head|body|\?xml)", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def url_secrets(url: str) -> list[str]:
    """The credentials in ``url`` (user info, password), longest first, to scrub from any text
    (``fabricator.redact`` cuts them out of URLs; this finds them anywhere, an aiohttp message too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0]
    password = parts.password or ""
    found = {userinfo, unquote(userinfo), password, unquote(password)}
    return sorted((s for s in found if s), key=len, reverse=True)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
    """The server's own error message from an error body (OpenAI, FastAPI, plain text, an HTML
    page...), on one line: it goes into a one-line error message."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return one_line(str(err["message"]), limit)
        for value in (err, data.get("message"), data.get("detail")):
            if isinstance(value, str) and value:
                return one_line(value, limit)
            if value:
                return one_line(_dumps(value), limit)
    if _HTML.match(raw[:200]):
        return "an HTML page: " + html_gist(raw.decode("utf-8", "replace"), limit)
    text = one_line(raw.decode("utf-8", "replace"), limit)
    return text if text else "(empty body)"


def html_gist(page: str, limit: int = 200) -> str:
    """What an HTML error page says: its title, else its text without tags."""
    title = _TITLE.search(page)
    text = title.group(1) if title else _TAG.sub(" ", page)
    return one_line(text, limit) or "(no text)"
