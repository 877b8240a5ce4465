"""Model output -> typed field values, or a row error.

Small models wrap data in chatter ("Sure! Here is a review:"), refuse ("As an AI language
model..."), run on into the next few-shot example, or answer a label as "Positive." These
functions turn an answer into the value a dataset row needs, or raise ``ParseError`` /
``RefusalError`` so the row is kept as a failure instead of bad data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from .errors import ParseError, RefusalError

_REFUSAL = re.compile(
    r"\b(?:as an? (?:ai|artificial intelligence)\b|as an? (?:large )?language model|"
    r"i(?:'m| am) sorry,? but i\b|i apologi[sz]e\b|regret to inform you that i\b|"
    r"i(?:'m| am)? ?(?:cannot|can't|can not|won't|unable to|not able to) (?:help|assist|comply|provide|create|"
    r"generate|write|fulfil|do that|produce)|"
    r"(?:violates?|against) (?:my|the) (?:\w+ )?(?:guidelines|polic(?:y|ies))|not appropriate for me)",
    re.IGNORECASE,
)
_CHATTER_LINE = re.compile(  # "Sure! Here is ...:", "Okay, ...", "Here's a review:" -- not "Great cast."
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|absolutely)\b\s*[,!.:]|here(?:'s| is| are)\b|below is\b)"
    r"[^\n]*$",
    re.IGNORECASE,
)
_TRAILING_CHATTER = re.compile(
    r"\n\s*(?:note:|i hope|let me know|feel free|this (?:review|text|example|question) )", re.IGNORECASE
)
_QUOTES = "\"'“”‘’`"


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text[:300]))


def clean_generated_text(raw: str, *, prefix: str = "", stop_columns: Sequence[str] = ()) -> str:
    """The generated value without echoed prefixes, chatter, quotes or a run-on next example.

    Raises ``RefusalError`` for refusals and for answers that are chatter only.
    """
    text = raw.replace("\r\n", "\n").strip()
    if not text:
        raise ParseError("empty answer", raw=raw)
    if is_refusal(text):
        raise RefusalError("the model refused or answered about itself", raw=raw)
    # A chatter first line ("Sure! Here is a positive review:") followed by the data.
    first, _, rest = text.partition("\n")
    if _CHATTER_LINE.match(first):
        if not rest.strip():
            head, sep, tail = first.partition(":")
            if not sep or not tail.strip():
                raise RefusalError("the answer is chatter, not data", raw=raw)
            rest = tail
        text = rest.strip()
    # An echoed answer prefix ("text: ..." / "Review: ...").
    for p in filter(None, {prefix.strip(), *(f"{c}:" for c in stop_columns)}):
        if text.lower().startswith(p.lower()):
            text = text[len(p):].strip()
    # Run-on: the model starts another example ("\ntext: ..." / "\nlabel: ...").
    cut = len(text)
    for column in stop_columns:
        m = re.search(rf"\n\s*{re.escape(column)}\s*:", text, re.IGNORECASE)
        if m:
            cut = min(cut, m.start())
    m = _TRAILING_CHATTER.search(text)
    if m:
        cut = min(cut, m.start())
    text = text[:cut].strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if not text:
        raise ParseError("nothing left after removing the prompt scaffolding", raw=raw)
    if is_refusal(text):
        raise RefusalError("the model refused or answered about itself", raw=raw)
    return text


_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*(?=\s|$)")


def complete_sentences(text: str) -> str:
    """``text`` up to its last complete sentence (for answers cut off at ``max_tokens``)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends:
        raise ParseError("the answer was cut off at max_tokens before its first sentence ended",
                         raw=text, hint="raise max_tokens")
    return text[: ends[-1]].strip()


def normalize_text(text: str) -> str:
    """Lowercase, collapse whitespace runs to one space, strip the ends: what "the same text" means
    for the duplicate filter and for the diagnostics' duplicate rate alike."""
    return " ".join(text.lower().split())


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
    if text.startswith("{"):
        try:
            value = json.loads(text)
            if isinstance(value, dict) and key in value:
                text = str(value[key])
        except json.JSONDecodeError:
            pass
    by_norm = {_norm(o): o for o in options}
    syn = {_norm(k): v for k, v in (synonyms or {}).items()}
    candidates = [text, text.split("\n")[0]]
    for c in list(candidates):
        if ":" in c:
            candidates.append(c.split(":", 1)[1])
    for c in candidates:
        n = _norm(c.strip(_QUOTES + " "))
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
