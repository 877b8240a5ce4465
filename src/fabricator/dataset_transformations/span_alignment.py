"""Entity spans -> BIO tags on a tokenized sentence: where does each entity a model names sit?

``B-`` on the first token of an entity and ``I-`` on the rest. Rules:

1. Spans with offsets are placed first; the offsets must lie on token boundaries and, when the
   span has text, ``sentence[start:end]`` must equal it.
2. Spans without offsets are located by their text, at token boundaries (an exact match, or
   failing that a match ignoring whitespace, so ``"Blackburn's"`` finds ``Blackburn 's``;
   case is never ignored). Longer texts are placed before shorter ones.
3. An entity text listed without offsets tags **every** free occurrence of that text with its
   type (a model usually lists an entity once even when it occurs twice). When the same text
   is listed with different types, the listings are paired with the occurrences in order,
   which needs as many listings as free occurrences; otherwise the row is ambiguous (an error).
4. An occurrence inside a longer entity already placed is skipped (BIO cannot nest), so
   ``"Washington"`` next to ``"Washington Post"`` tags only the stand-alone ``Washington``.
   An occurrence that partly overlaps a placed entity is an error.
5. A span whose text is not in the sentence, whose offsets do not fit, whose type is unknown
   or whose text is empty is an error. Tags are never invented: the dataset-level function
   keeps such a row with its ``error`` and ``None`` tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fabricator.errors import ConfigError
from fabricator.parsing import EntityTypes, Span, token_offsets

__all__ = ["spans_to_bio"]


class _Sentence:
    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.text = " ".join(self.tokens)
        offsets = token_offsets(self.tokens)
        self.by_start = {s: i for i, (s, _) in enumerate(offsets)}
        self.by_end = {e: i for i, (_, e) in enumerate(offsets)}
        self.compact = "".join(self.tokens)
        position = 0
        self.compact_start: dict[int, int] = {}
        self.compact_end: dict[int, int] = {}
        for i, token in enumerate(self.tokens):
            self.compact_start.setdefault(position, i)
            position += len(token)
            self.compact_end[position] = i  # the last token ending here (empty tokens: rare)

    @staticmethod
    def _find_all(haystack: str, needle: str) -> Iterable[int]:
        position = haystack.find(needle)
        while position != -1:
            yield position
            position = haystack.find(needle, position + 1)

    def occurrences(self, text: str) -> list[tuple[int, int]]:
        """Token ranges ``(first, last)`` where ``text`` occurs at token boundaries."""
        found = []
        for pos in self._find_all(self.text, text):
            first, last = self.by_start.get(pos), self.by_end.get(pos + len(text))
            if first is not None and last is not None and first <= last:
                found.append((first, last))
        if found:
            return found
        needle = "".join(text.split())
        if not needle:
            return []
        for pos in self._find_all(self.compact, needle):
            first, last = self.compact_start.get(pos), self.compact_end.get(pos + len(needle))
            if first is not None and last is not None and first <= last:
                found.append((first, last))
        return found


class _Placement:
    """The tags of one sentence as entities are placed, and the problems found on the way."""

    def __init__(self, sentence: _Sentence) -> None:
        self.sentence = sentence
        self.tags = ["O"] * len(sentence.tokens)
        self.owner: list[int | None] = [None] * len(sentence.tokens)
        self.placed: list[tuple[int, int, str]] = []
        self.errors: list[str] = []

    def place(self, first: int, last: int, type_: str) -> None:
        self.owner[first : last + 1] = [len(self.placed)] * (last - first + 1)
        self.placed.append((first, last, type_))
        self.tags[first] = f"B-{type_}"
        for k in range(first + 1, last + 1):
            self.tags[k] = f"I-{type_}"

    def relation(self, first: int, last: int) -> str:
        """'free', 'same:<type>' (an equal entity), 'inside' a longer one, or 'crossing'."""
        owners = {self.owner[k] for k in range(first, last + 1)}
        if owners == {None}:
            return "free"
        if len(owners) == 1:
            p_first, p_last, p_type = self.placed[owners.pop()]  # type: ignore[index]
            if (p_first, p_last) == (first, last):
                return f"same:{p_type}"
            if p_first <= first and last <= p_last:
                return "inside"
        return "crossing"

    def place_at_offsets(self, span: Span) -> None:
        """Rule 1: a span with offsets, checked against the sentence and its token boundaries."""
        sentence = self.sentence
        if span.start is None or span.end is None:
            self.errors.append(f"span {span.text!r} has only one of start/end")
            return
        if span.text and sentence.text[span.start : span.end] != span.text:
            self.errors.append(
                f"span {span.text!r} does not match the sentence at {span.start}:{span.end} "
                f"({sentence.text[span.start : span.end]!r})"
            )
            return
        first, last = sentence.by_start.get(span.start), sentence.by_end.get(span.end)
        if first is None or last is None or first > last:
            self.errors.append(
                f"span {span.text!r} at {span.start}:{span.end} does not align to token boundaries"
            )
            return
        rel = self.relation(first, last)
        if rel == "free":
            self.place(first, last, span.type)
        elif rel != f"same:{span.type}":  # an exact duplicate is harmless
            self.errors.append(f"span {span.text!r} at {span.start}:{span.end} overlaps another entity")

    def free_occurrences(self, text: str, types: list[str]) -> tuple[list[tuple[int, int]], list[str]]:
        """Rules 3 and 4: the free occurrences of ``text``, and why others conflict."""
        free, conflicts = [], []
        for first, last in self.sentence.occurrences(text):
            rel = self.relation(first, last)
            if rel == "free":
                free.append((first, last))
            elif rel == "crossing":
                conflicts.append("overlaps another entity")
            elif rel.startswith("same:") and rel[5:] not in types:
                conflicts.append(f"is already placed as {rel[5:]}")
        return free, conflicts

    def place_by_text(self, text: str, group: list[Span]) -> None:
        """Rules 2 to 4: every free occurrence of ``text``, typed by its listings ``group``."""
        if not self.sentence.occurrences(text):
            self.errors.append(f"span {text!r} ({group[0].type}) is not in the sentence")
            return
        types = list(dict.fromkeys(span.type for span in group))
        free, conflicts = self.free_occurrences(text, types)
        if conflicts:
            self.errors.append(f"span {text!r} ({group[0].type}) {conflicts[0]}")
            return
        if len(types) == 1:
            assignments = [(occ, types[0]) for occ in free]
        elif len(group) == len(free):
            assignments = [(occ, span.type) for occ, span in zip(free, group, strict=True)]
        else:
            self.errors.append(
                f"span {text!r} is listed with types {types} but occurs {len(free)} time(s): "
                "give offsets or one listing per occurrence"
            )
            return
        for (first, last), type_ in assignments:
            self.place(first, last, type_)


def _sort_spans(
    spans: Iterable[Span | Mapping[str, Any]], known: EntityTypes, errors: list[str]
) -> tuple[list[Span], dict[str, list[Span]]]:
    """The spans with offsets, and those without grouped by text; the others become ``errors``."""
    explicit: list[Span] = []
    implicit: dict[str, list[Span]] = {}
    for raw in spans:
        try:
            span = Span.coerce(raw)
        except ConfigError as exc:
            errors.append(exc.message)
            continue
        type_ = known.resolve(span.type)
        if type_ is None:
            errors.append(known.unknown(f"span {span.text!r}", span.type))
            continue
        span = Span(span.text, type_, span.start, span.end)
        if span.start is not None or span.end is not None:
            explicit.append(span)
        elif not span.text.strip():
            errors.append(f"span of type {span.type!r} has empty text")
        else:
            implicit.setdefault(span.text.strip(), []).append(span)
    return explicit, implicit


def spans_to_bio(
    tokens: Sequence[str],
    spans: Iterable[Span | Mapping[str, Any]],
    *,
    label_types: Sequence[str] | None = None,
    expanded_label_mapping: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """BIO tags for one sentence from entity spans, and the list of problems found.

    ``label_types`` restricts the types (unknown ones are errors); ``expanded_label_mapping``
    (type -> expanded name) lets spans use the expanded names. See the module docstring for the
    placement rules. When ``errors`` is not empty the tags hold only the spans that could be
    placed and should not be used as a label.
    """
    placement = _Placement(_Sentence(tokens))
    known = EntityTypes(label_types, expanded_label_mapping)
    explicit, implicit = _sort_spans(spans, known, placement.errors)
    for span in explicit:
        placement.place_at_offsets(span)
    for text in sorted(implicit, key=len, reverse=True):  # stable: ties keep the model's order
        placement.place_by_text(text, implicit[text])
    return placement.tags, placement.errors
