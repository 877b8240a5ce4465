"""Free-text answers -> the generated value, or a row error.

Small models wrap data in chatter ("Sure! Here is a review:"), refuse ("As an AI language
model...") or run on into the next few-shot example. These functions keep the value a dataset row
needs, or raise ``ParseError`` / ``RefusalError`` so the row is kept as a failure, not bad data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fabricator.errors import ParseError, RefusalError

_REFUSAL = re.compile(
    r"\b(?:as an? (?:ai|artificial intelligence)\b|as an? (?:large )?language model|"
    r"i(?:'m| am) sorry,? but i\b|i apologi[sz]e\b|regret to inform you that i\b|"
    r"i(?:'m| am)? ?(?:cannot|can't|can not|won't|unable to|not able to) "
    r"(?:help|assist|comply|provide|create|generate|write|fulfil|do that|produce)|"
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
QUOTES = "\"'“”‘’`"


def is_refusal(text: str) -> bool:
    """Whether the answer opens with a refusal or talk about itself (only its head is checked)."""
    return bool(_REFUSAL.search(text[:300]))


def _drop_chatter_line(text: str, raw: str) -> str:
    """Without a chatter first line ("Sure! Here is a positive review:") before the data."""
    first, _, rest = text.partition("\n")
    if not _CHATTER_LINE.match(first):
        return text
    if not rest.strip():
        _, sep, tail = first.partition(":")
        if not sep or not tail.strip():
            raise RefusalError("the answer is chatter, not data", raw=raw)
        rest = tail
    return rest.strip()


def _strip_echoed_prefix(text: str, prefix: str, stop_columns: Sequence[str]) -> str:
    """Without an echoed answer prefix ("text: ..." / "Review: ...")."""
    for p in filter(None, {prefix.strip(), *(f"{c}:" for c in stop_columns)}):
        if text.lower().startswith(p.lower()):
            text = text[len(p) :].strip()
    return text


def _run_on_start(text: str, stop_columns: Sequence[str]) -> int:
    """Where the model starts another example (a line "text: ..." / "label: ...") or signs off."""
    cut = len(text)
    for column in stop_columns:
        m = re.search(rf"\n\s*{re.escape(column)}\s*:", text, re.IGNORECASE)
        if m:
            cut = min(cut, m.start())
    m = _TRAILING_CHATTER.search(text)
    if m:
        cut = min(cut, m.start())
    return cut


def clean_generated_text(raw: str, *, prefix: str = "", stop_columns: Sequence[str] = ()) -> str:
    """The generated value without echoed prefixes, chatter, quotes or a run-on next example.

    Raises ``RefusalError`` for refusals and for answers that are chatter only.
    """
    text = raw.replace("\r\n", "\n").strip()
    if not text:
        raise ParseError("empty answer", raw=raw)
    if is_refusal(text):
        raise RefusalError("the model refused or answered about itself", raw=raw)
    text = _strip_echoed_prefix(_drop_chatter_line(text, raw), prefix, stop_columns)
    text = text[: _run_on_start(text, stop_columns)].strip()
    if len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
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
        raise ParseError(
            "the answer was cut off at max_tokens before its first sentence ended",
            raw=text,
            hint="raise max_tokens",
        )
    return text[: ends[-1]].strip()


def normalize_text(text: str) -> str:
    """Lowercase, collapse whitespace runs to one space, strip the ends: what "the same text" means
    for the duplicate filter and for the diagnostics' duplicate rate alike."""
    return " ".join(text.lower().split())
