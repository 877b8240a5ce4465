"""Credentials cut out of URLs before they reach a file, a log line or a message.

A recipe may name an endpoint as ``http://user:password@host/v1``: the client needs the password,
nothing a run writes or prints does. Every place that shows a URL, or text that may hold one (an
error message, a saved recipe), passes it through :func:`redact_url` or :func:`redact_text`.
This module imports nothing of Fabricator, so every layer (``llms/`` included) may use it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_data", "redact_text", "redact_url"]

REDACTED = "***"
# scheme://userinfo@ where userinfo has no '/', '@' or whitespace: the credentials of a URL in text
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"<>]+)@")
# query parameters that carry a secret (api_key, access_token, sig, password, ...)
_SECRET_PARAM = re.compile(r"(?i)(key|token|secret|password|passwd|pwd|sig|signature|auth|credential)")


def _clean_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_SECRET_PARAM.search(name) for name, _ in pairs):
        return query
    return urlencode([(n, REDACTED if _SECRET_PARAM.search(n) else v) for n, v in pairs], safe="*")


def redact_url(url: str) -> str:
    """``url`` without its ``user:password@`` and with secret-looking query values masked.

    Anything that does not parse as a URL is returned with :func:`redact_text` applied.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # e.g. a port that is not a number: mask what looks like credentials
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return redact_text(url)
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, _clean_query(parts.query), parts.fragment))


def redact_text(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***`` (``http://***@host``)."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def redact_data(value: Any) -> Any:
    """A copy of JSON-like ``value`` (dicts, lists, strings) with :func:`redact_text` on every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value
