"""Entity answers -> spans: a JSON list, or the natural-language ``"<text> is <type>."`` lines.

Natural-language format (what a prompt shows)
    One line per entity, ``"<text> is <type>."``, e.g. ``"EU is ORG.\\nGerman is MISC."``; the
    paper's ``"EU is ORG entity."`` reads the same. A sentence without entities gives ``""``.
    :func:`spans_to_string` writes it and :func:`parse_span_string` reads it back.

Every parser returns ``(spans, errors)``: an entity that names an unknown type or has no text is an
error, never a guessed span. :func:`parse_entities` is the one entry point for any answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fabricator.errors import ParseError
from fabricator.parsing.json_extract import json_values
from fabricator.parsing.tags import Span

__all__ = [
    "EntityTypes",
    "parse_entities",
    "parse_entity_json",
    "parse_span_string",
    "spans_to_string",
]

_TEXT_KEYS = ("text", "entity", "span", "name", "mention", "word")
_TYPE_KEYS = ("type", "label", "entity_type", "category", "tag", "class")
_BULLET = re.compile(r"^(?:[-*\u2022]|\d+[.)])\s+")


class EntityTypes:
    """Maps a type as written (maybe expanded, maybe in other case) to the canonical type.

    ``label_types`` restricts the types (``None``: any type goes); ``expanded_label_mapping``
    (type -> expanded name, e.g. ``{"PER": "person"}``) lets answers use the expanded names.
    """

    def __init__(
        self,
        label_types: Sequence[str] | None = None,
        expanded_label_mapping: Mapping[str, str] | None = None,
    ) -> None:
        mapping = {str(k): str(v) for k, v in (expanded_label_mapping or {}).items()}
        self.inverse = {v: k for k, v in mapping.items()}
        self.allowed: list[str] | None = None
        if label_types is not None:
            # label_types may be given as originals or as their expanded names
            self.allowed = [self.inverse.get(str(t), str(t)) for t in label_types]
        self.folded: dict[str, str] = {}
        for canonical in list(self.allowed or []) + list(mapping):
            self.folded.setdefault(canonical.casefold(), canonical)
        for expanded, canonical in self.inverse.items():
            self.folded.setdefault(expanded.casefold(), canonical)

    def resolve(self, type_: str) -> str | None:
        """The canonical type, or ``None`` when ``type_`` is not allowed."""
        type_ = type_.strip()
        canonical = self.inverse.get(type_, type_)
        if self.allowed is None:
            return self.folded.get(canonical.casefold(), canonical) if canonical else None
        if canonical in self.allowed:
            return canonical
        return self.folded.get(type_.casefold()) if type_ else None

    def is_known(self, type_: str) -> bool:
        """Whether ``type_`` names a listed type or a mapped one (not just "anything goes")."""
        type_ = type_.strip()
        if self.allowed is not None:
            return self.resolve(type_) is not None
        return type_ in self.inverse or type_.casefold() in self.folded

    def describe(self) -> list[str]:
        """The allowed types as the model should write them (empty when any type goes)."""
        if self.allowed is None:
            return []
        mapping = {v: k for k, v in self.inverse.items()}
        return [mapping.get(t, t) for t in self.allowed]

    def allowed_note(self) -> str:
        """``" (allowed: [...])"`` for error messages, or ``""`` when any type goes."""
        allowed = self.describe()
        return f" (allowed: {allowed})" if allowed else ""

    def unknown(self, what: str, type_: str) -> str:
        """The error message for ``what`` (e.g. ``"span 'EU'"``) naming an unknown type."""
        return f"{what} has unknown type {type_!r}" + self.allowed_note()


def spans_to_string(spans: Iterable[Span | Mapping[str, Any]], empty: str = "") -> str:
    """``"EU is ORG.\\nGerman is MISC."``: the natural-language form a prompt shows."""
    lines = [f"{s.text} is {s.type}." for s in map(Span.coerce, spans)]
    return "\n".join(lines) if lines else empty


def _entity_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        if all(isinstance(item, Mapping) for item in value):
            return value
        return None
    if isinstance(value, Mapping):
        if any(k in value for k in _TEXT_KEYS) and any(k in value for k in _TYPE_KEYS):
            return [value]  # a single entity object instead of a list of one
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1 and all(isinstance(item, Mapping) for item in lists[0]):
            return lists[0]
    return None


def _require_text(text: Any) -> None:
    if not isinstance(text, str):
        raise ParseError(f"expected the model answer as text, got {type(text).__name__}")


def parse_entity_json(
    text: str,
    label_types: Sequence[str] | None = None,
    expanded_label_mapping: Mapping[str, str] | None = None,
) -> tuple[list[Span], list[str]]:
    """Spans from a model answer holding a JSON list of ``{"text": ..., "type": ...}``.

    Tolerates code fences, text around the JSON and a wrapping object such as
    ``{"entities": [...]}``; ``json`` only, never ``eval``. Items may carry ``start``/``end``.
    Returns ``(spans, errors)``: an item with an unknown type or without text is an error, not a
    span. Raises :class:`ParseError` when the answer holds no such list at all.
    """
    _require_text(text)
    items = next((found for found in map(_entity_list, json_values(text)) if found is not None), None)
    if items is None:
        raise ParseError(
            "the answer holds no JSON list of entities",
            raw=text,
            hint='answer with a JSON list like [{"text": "EU", "type": "ORG"}] ([] for none)',
        )
    types = EntityTypes(label_types, expanded_label_mapping)
    spans: list[Span] = []
    errors: list[str] = []
    for item in items:
        span_text = next((item[k] for k in _TEXT_KEYS if isinstance(item.get(k), str)), None)
        span_type = next((item[k] for k in _TYPE_KEYS if isinstance(item.get(k), str)), None)
        if span_text is None or not span_text.strip():
            errors.append(f"entity {item!r} has no text")
            continue
        if span_type is None:
            errors.append(f"entity {span_text!r} has no type")
            continue
        resolved = types.resolve(span_type)
        if resolved is None:
            errors.append(types.unknown(f"entity {span_text!r}", span_type))
            continue
        start, end = item.get("start"), item.get("end")
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            start = end = None
        spans.append(Span(span_text, resolved, start, end))
    return spans, errors


def _type_candidates(written: str) -> list[str]:
    candidates = [written]
    bare = re.sub(r"^(?:an?|the)\s+", "", written, flags=re.IGNORECASE)
    for value in (bare, re.sub(r"\s+entity$", "", bare, flags=re.IGNORECASE)):
        if value not in candidates:
            candidates.append(value)
    return [c for c in candidates if c]


def _read_line(line: str, types: EntityTypes) -> Span | None:
    """The span of one ``<text> is <type>`` line (no bullet, no final dot), or ``None``."""
    parts = line.split(" is ")
    for cut in range(len(parts) - 1, 0, -1):  # a known type, rightmost split first
        span_text = " is ".join(parts[:cut]).strip()
        written = " is ".join(parts[cut:]).strip()
        for candidate in _type_candidates(written):
            if span_text and types.is_known(candidate):
                return Span(span_text, types.resolve(candidate) or candidate)
    if types.allowed is None:  # any type goes: the rightmost split
        span_text = " is ".join(parts[:-1]).strip()
        bare = _type_candidates(parts[-1].strip())
        resolved = types.resolve(bare[-1]) if bare else None
        if span_text and resolved:
            return Span(span_text, resolved)
    return None


def parse_span_string(
    text: str,
    label_types: Sequence[str] | None = None,
    expanded_label_mapping: Mapping[str, str] | None = None,
) -> tuple[list[Span], list[str]]:
    """Spans from the natural-language format ``"EU is ORG.\\nGerman is MISC."``.

    Blank lines are skipped and list bullets tolerated. Each line splits at its last ``" is "``
    whose right side is a known type (so ``"What is Love is MISC."`` works); ``"is an X entity"``
    is read as ``X``. A line that does not read ``<text> is <type>.`` or names an unknown type is
    an error. Returns ``(spans, errors)``.
    """
    _require_text(text)
    types = EntityTypes(label_types, expanded_label_mapping)
    spans: list[Span] = []
    errors: list[str] = []
    for raw_line in text.splitlines():
        line = _BULLET.sub("", raw_line.strip())
        if line.endswith("."):
            line = line[:-1].rstrip()
        if not line:
            continue
        if " is " not in line:
            errors.append(f"line {raw_line.strip()!r} does not read '<text> is <type>.'")
            continue
        found = _read_line(line, types)
        if found is None:
            errors.append(f"line {raw_line.strip()!r} names no known type" + types.allowed_note())
            continue
        spans.append(found)
    return spans, errors


def parse_entities(
    text: str,
    label_types: Sequence[str] | None = None,
    expanded_label_mapping: Mapping[str, str] | None = None,
) -> tuple[list[Span], list[str]]:
    """Spans from any entity answer: a JSON list, or failing that the ``"<text> is <type>."`` lines.

    An empty answer means "no entities". Raises :class:`ParseError` when the answer is neither
    (no JSON list and no ``" is "``); otherwise returns ``(spans, errors)`` as the parsers do.
    """
    _require_text(text)
    if not text.strip():
        return [], []
    try:
        return parse_entity_json(text, label_types, expanded_label_mapping)
    except ParseError:
        if " is " not in text:
            raise
    return parse_span_string(text, label_types, expanded_label_mapping)
