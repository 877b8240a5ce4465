"""Label answers -> exactly one of the label options, or a row error."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from fabricator.errors import ParseError
from fabricator.parsing.json_extract import find_json
from fabricator.parsing.text import QUOTES

__all__ = ["normalize_label"]


def _norm(s: str) -> str:
    return re.sub(r"[^\w\s/-]", "", s.lower()).strip()


def normalize_label(
    raw: str,
    options: Sequence[str],
    *,
    synonyms: Mapping[str, str] | None = None,
    key: str = "label",
) -> str:
    """Map a free-text or JSON answer onto exactly one of ``options``.

    Accepts case and punctuation variants ("Positive."), a JSON object ``{"label": ...}``, an
    echoed prefix ("label: pos"), a unique prefix ("pos"), a listed synonym, or a sentence that
    names exactly one option ("I think it is positive"). Anything else is a ``ParseError``.
    """
    text = raw.strip()
    if text.startswith(("{", "```")):
        value = find_json(text, lambda v: isinstance(v, dict) and key in v)
        if value is not None:
            text = str(value[key])
    by_norm = {_norm(o): o for o in options}
    syn = {_norm(k): v for k, v in (synonyms or {}).items()}
    candidates = [text, text.split("\n")[0]]
    for c in list(candidates):
        if ":" in c:
            candidates.append(c.split(":", 1)[1])
    for c in candidates:
        n = _norm(c.strip(QUOTES + " "))
        if n in by_norm:
            return by_norm[n]
        if n in syn and syn[n] in options:
            return syn[n]
    n = _norm(candidates[1])
    prefixed = {o for k, o in by_norm.items() if n and k.startswith(n)}  # "pos" -> "positive"
    if len(prefixed) == 1:
        return prefixed.pop()
    words = set(re.findall(r"[\w/-]+", text.lower()))
    named = {o for k, o in by_norm.items() if k in words or (" " in k and k in _norm(text))}
    named |= {v for k, v in syn.items() if k in words and v in options}
    if len(named) == 1:  # "Positive, because ..." / "I think it is negative"
        return named.pop()
    raise ParseError(f"answer {raw.strip()[:80]!r} is not one of {list(options)}", raw=raw)
