"""BIO tags <-> entity spans for token classification (NER) datasets.

A model cannot be asked to emit one tag per token reliably; it can list the entities it sees. So
for prompting, token tags become *spans*, and the model's spans become tags again.

Span format
    ``Span(text, type, start, end)`` where ``start``/``end`` are character offsets into the
    sentence ``" ".join(tokens)`` (``end`` exclusive), so ``sentence[start:end] == text``. A span
    parsed from a model answer usually has no offsets (``start = end = None``).

Natural-language format (what a prompt shows)
    One line per entity, ``"<text> is <type>."``, e.g. ``"EU is ORG.\\nGerman is MISC."``. A
    sentence without entities gives ``""``. :func:`parse_span_string` reads it back.

Tag chunking (:func:`tags_to_chunks`)
    The same rules as ``seqeval``'s default (non-strict) mode, so the entity-level metrics agree
    with seqeval: a chunk starts at ``B-``/``S-``, at an ``I-``/``E-`` after ``O`` or ``E-``/``S-``,
    and wherever the type changes; an ``I-X`` without a ``B-X`` therefore starts an entity.
    Tags must be ``O`` or ``<B|I|E|S>-<type>``; anything else raises :class:`ConfigError`.

Spans -> tags (:func:`spans_to_bio`)
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

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fabricator.errors import ConfigError, ParseError
from fabricator.dataset_transformations._columns import require_columns

__all__ = [
    "Span",
    "bio_to_spans",
    "convert_spans_to_token_labels",
    "convert_token_labels_to_spans",
    "parse_entity_json",
    "parse_span_string",
    "spans_to_bio",
    "spans_to_string",
    "tags_to_chunks",
    "token_offsets",
]

_PREFIXES = ("B", "I", "E", "S")


@dataclass(frozen=True)
class Span:
    """One entity mention: its text, type and (optionally) character offsets."""

    text: str
    type: str
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "type": self.type, "start": self.start, "end": self.end}

    @classmethod
    def coerce(cls, value: Any) -> Span:
        """A ``Span`` from a ``Span`` or a dict with ``text``/``type`` (and maybe offsets)."""
        if isinstance(value, Span):
            return value
        if isinstance(value, Mapping):
            text, type_ = value.get("text"), value.get("type")
            if not isinstance(text, str) or not isinstance(type_, str):
                raise ConfigError(f"a span needs string 'text' and 'type', got {dict(value)!r}")
            start, end = value.get("start"), value.get("end")
            for name, offset in (("start", start), ("end", end)):
                if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int)):
                    raise ConfigError(f"span {name} must be an integer, got {offset!r}")
            return cls(text, type_, start, end)
        raise ConfigError(f"a span must be a dict or Span, got {type(value).__name__}: {value!r}")


# --- tags -> spans ------------------------------------------------------------------------------


def _split_tag(tag: Any, position: int) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and len(tag) > 2 and tag[0] in _PREFIXES and tag[1] == "-":
        return tag[0], tag[2:]
    raise ConfigError(
        f"tag {tag!r} at position {position} is not a BIO tag",
        hint="tags must be 'O' or '<B|I|E|S>-<TYPE>', e.g. 'B-PER'",
    )


def tags_to_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entity chunks ``(type, first_token, last_token)`` (inclusive) of one tag sequence.

    Follows seqeval's default chunking (see the module docstring).
    """
    chunks: list[tuple[str, int, int]] = []
    prev_prefix, prev_type, begin = "O", "", 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split_tag(tag, i)
        type_changed = type_ != prev_type
        ends = (
            prev_prefix in ("E", "S")
            or (prev_prefix in ("B", "I") and prefix in ("B", "S", "O"))
            or (prev_prefix != "O" and type_changed)
        )
        starts = (
            prefix in ("B", "S")
            or (prev_prefix in ("E", "S", "O") and prefix in ("E", "I"))
            or (prefix != "O" and type_changed)
        )
        if ends:
            chunks.append((prev_type, begin, i - 1))
        if starts:
            begin = i
        prev_prefix, prev_type = prefix, type_
    return chunks


def token_offsets(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of every token in ``" ".join(tokens)``."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return offsets


def bio_to_spans(tokens: Sequence[str], tags: Sequence[str]) -> list[Span]:
    """The entities of one sentence, with character offsets into ``" ".join(tokens)``."""
    if len(tokens) != len(tags):
        raise ConfigError(f"{len(tokens)} tokens but {len(tags)} tags")
    offsets = token_offsets(tokens)
    spans = []
    for type_, first, last in tags_to_chunks(tags):
        start, end = offsets[first][0], offsets[last][1]
        spans.append(Span(" ".join(tokens[first : last + 1]), type_, start, end))
    return spans


def spans_to_string(spans: Iterable[Span | Mapping[str, Any]], empty: str = "") -> str:
    """``"EU is ORG.\\nGerman is MISC."``: the natural-language form a prompt shows."""
    lines = [f"{s.text} is {s.type}." for s in map(Span.coerce, spans)]
    return "\n".join(lines) if lines else empty


# --- types --------------------------------------------------------------------------------------


class _TypeResolver:
    """Maps a type as written (maybe expanded, maybe in other case) to the canonical type."""

    def __init__(
        self,
        label_types: Sequence[str] | None,
        expanded_label_mapping: Mapping[str, str] | None,
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
        if self.allowed is None:
            return []
        mapping = {v: k for k, v in self.inverse.items()}
        return [mapping.get(t, t) for t in self.allowed]


# --- spans -> tags ------------------------------------------------------------------------------


class _Sentence:
    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.text = " ".join(self.tokens)
        offsets = token_offsets(self.tokens)
        self.by_start = {s: i for i, (s, _) in enumerate(offsets)}
        self.by_end = {e: i for i, (_, e) in enumerate(offsets)}
        self.compact = "".join(self.tokens)
        position, self.compact_start, self.compact_end = 0, {}, {}
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
    sentence = _Sentence(tokens)
    resolver = _TypeResolver(label_types, expanded_label_mapping)
    tags = ["O"] * len(sentence.tokens)
    owner: list[int | None] = [None] * len(sentence.tokens)
    placed: list[tuple[int, int, str]] = []
    errors: list[str] = []

    def place(first: int, last: int, type_: str) -> None:
        owner[first : last + 1] = [len(placed)] * (last - first + 1)
        placed.append((first, last, type_))
        tags[first] = f"B-{type_}"
        for k in range(first + 1, last + 1):
            tags[k] = f"I-{type_}"

    def relation(first: int, last: int) -> str:
        """'free', 'same:<type>' (an equal entity), 'inside' a longer one, or 'crossing'."""
        owners = {owner[k] for k in range(first, last + 1)}
        if owners == {None}:
            return "free"
        if len(owners) == 1:
            p_first, p_last, p_type = placed[owners.pop()]  # type: ignore[index]
            if (p_first, p_last) == (first, last):
                return f"same:{p_type}"
            if p_first <= first and last <= p_last:
                return "inside"
        return "crossing"

    explicit: list[Span] = []
    implicit: dict[str, list[Span]] = {}
    for raw in spans:
        try:
            span = Span.coerce(raw)
        except ConfigError as exc:
            errors.append(exc.message)
            continue
        type_ = resolver.resolve(span.type)
        if type_ is None:
            allowed = resolver.describe()
            errors.append(
                f"span {span.text!r} has unknown type {span.type!r}"
                + (f" (allowed: {allowed})" if allowed else "")
            )
            continue
        span = Span(span.text, type_, span.start, span.end)
        if span.start is not None or span.end is not None:
            explicit.append(span)
        elif not span.text.strip():
            errors.append(f"span of type {span.type!r} has empty text")
        else:
            implicit.setdefault(span.text.strip(), []).append(span)

    for span in explicit:
        if span.start is None or span.end is None:
            errors.append(f"span {span.text!r} has only one of start/end")
            continue
        if span.text and sentence.text[span.start : span.end] != span.text:
            errors.append(
                f"span {span.text!r} does not match the sentence at {span.start}:{span.end} "
                f"({sentence.text[span.start : span.end]!r})"
            )
            continue
        first, last = sentence.by_start.get(span.start), sentence.by_end.get(span.end)
        if first is None or last is None or first > last:
            errors.append(
                f"span {span.text!r} at {span.start}:{span.end} does not align to token boundaries"
            )
            continue
        rel = relation(first, last)
        if rel == "free":
            place(first, last, span.type)
        elif rel != f"same:{span.type}":  # an exact duplicate is harmless
            errors.append(f"span {span.text!r} at {span.start}:{span.end} overlaps another entity")

    for text in sorted(implicit, key=len, reverse=True):  # stable: ties keep the model's order
        group = implicit[text]
        occurrences = sentence.occurrences(text)
        if not occurrences:
            errors.append(f"span {text!r} ({group[0].type}) is not in the sentence")
            continue
        types = list(dict.fromkeys(span.type for span in group))
        free, conflicts = [], []
        for first, last in occurrences:
            rel = relation(first, last)
            if rel == "free":
                free.append((first, last))
            elif rel == "crossing":
                conflicts.append("overlaps another entity")
            elif rel.startswith("same:") and rel[5:] not in types:
                conflicts.append(f"is already placed as {rel[5:]}")
        if conflicts:
            errors.append(f"span {text!r} ({group[0].type}) {conflicts[0]}")
            continue
        if len(types) == 1:
            assignments = [(occ, types[0]) for occ in free]
        elif len(group) == len(free):
            assignments = [(occ, span.type) for occ, span in zip(free, group)]
        else:
            errors.append(
                f"span {text!r} is listed with types {types} but occurs {len(free)} time(s): "
                "give offsets or one listing per occurrence"
            )
            continue
        for (first, last), type_ in assignments:
            place(first, last, type_)
    return tags, errors


# --- parsing model answers ----------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TEXT_KEYS = ("text", "entity", "span", "name", "mention", "word")
_TYPE_KEYS = ("type", "label", "entity_type", "category", "tag", "class")


def _json_candidates(text: str) -> Iterable[Any]:
    decoder = json.JSONDecoder()
    sources = [block for block in _FENCE.findall(text)] + [text]
    for source in sources:
        for match in re.finditer(r"[\[{]", source):
            try:
                value, _ = decoder.raw_decode(source, match.start())
            except json.JSONDecodeError:
                continue
            yield value


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
    if not isinstance(text, str):
        raise ParseError(f"expected the model answer as text, got {type(text).__name__}")
    items = None
    for candidate in _json_candidates(text):
        items = _entity_list(candidate)
        if items is not None:
            break
    if items is None:
        raise ParseError(
            "the answer holds no JSON list of entities",
            raw=text,
            hint='answer with a JSON list like [{"text": "EU", "type": "ORG"}] ([] for none)',
        )
    resolver = _TypeResolver(label_types, expanded_label_mapping)
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
        resolved = resolver.resolve(span_type)
        if resolved is None:
            allowed = resolver.describe()
            errors.append(
                f"entity {span_text!r} has unknown type {span_type!r}"
                + (f" (allowed: {allowed})" if allowed else "")
            )
            continue
        start, end = item.get("start"), item.get("end")
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
            start = end = None
        spans.append(Span(span_text, resolved, start, end))
    return spans, errors


_BULLET = re.compile(r"^(?:[-*\u2022]|\d+[.)])\s+")


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
    if not isinstance(text, str):
        raise ParseError(f"expected the model answer as text, got {type(text).__name__}")
    resolver = _TypeResolver(label_types, expanded_label_mapping)
    spans: list[Span] = []
    errors: list[str] = []
    for raw_line in text.splitlines():
        line = _BULLET.sub("", raw_line.strip())
        if line.endswith("."):
            line = line[:-1].rstrip()
        if not line:
            continue
        parts = line.split(" is ")
        if len(parts) < 2:
            errors.append(f"line {raw_line.strip()!r} does not read '<text> is <type>.'")
            continue
        found = None
        for cut in range(len(parts) - 1, 0, -1):  # a known type, rightmost split first
            span_text = " is ".join(parts[:cut]).strip()
            written = " is ".join(parts[cut:]).strip()
            for candidate in _type_candidates(written):
                if span_text and resolver.is_known(candidate):
                    found = Span(span_text, resolver.resolve(candidate) or candidate)
                    break
            if found is not None:
                break
        if found is None and resolver.allowed is None:  # any type goes: the rightmost split
            span_text = " is ".join(parts[:-1]).strip()
            bare = _type_candidates(parts[-1].strip())
            resolved = resolver.resolve(bare[-1]) if bare else None
            if span_text and resolved:
                found = Span(span_text, resolved)
        if found is None:
            allowed = resolver.describe()
            errors.append(
                f"line {raw_line.strip()!r} names no known type"
                + (f" (allowed: {allowed})" if allowed else "")
            )
            continue
        spans.append(found)
    return spans, errors


def _type_candidates(written: str) -> list[str]:
    candidates = [written]
    bare = re.sub(r"^(?:an?|the)\s+", "", written, flags=re.IGNORECASE)
    for value in (bare, re.sub(r"\s+entity$", "", bare, flags=re.IGNORECASE)):
        if value not in candidates:
            candidates.append(value)
    return [c for c in candidates if c]


# --- dataset level ------------------------------------------------------------------------------


def _inner_feature(feature: Any) -> Any:
    return getattr(feature, "feature", None)


def _types_from_tags(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        if tag != "O" and isinstance(tag, str) and len(tag) > 2 and tag[1] == "-":
            seen.setdefault(tag[2:], None)
    return list(seen)


def convert_token_labels_to_spans(
    dataset: Any,
    token_column: str,
    label_column: str,
    expanded_label_mapping: Mapping[str, str] | None = None,
    return_label_options: bool = False,
    *,
    spans_column: str = "spans",
    empty: str = "",
) -> Any:
    """Replace BIO tags by entity spans, for prompting.

    The tags in ``label_column`` may be ids (``Sequence(ClassLabel)``) or strings. Afterwards
    ``label_column`` holds the natural-language span string (``"EU is ORG.\\nGerman is MISC."``,
    ``empty`` for no entities) and ``spans_column`` the structured list of
    ``{"text", "type", "start", "end"}`` with offsets into ``" ".join(tokens)``.
    ``expanded_label_mapping`` renames types (``{"PER": "person"}``).

    Returns the dataset, or ``(dataset, label_options)`` with the (expanded) entity types.
    """
    from datasets import ClassLabel, Value

    require_columns(dataset, token_column, label_column)
    inner = _inner_feature(dataset.features[label_column])
    names: list[str] | None = None
    if isinstance(inner, ClassLabel):
        names = list(inner.names)
        types = _types_from_tags(names)
    else:
        types = sorted(_types_from_tags(t for row in dataset[label_column] if row for t in row))
    mapping = {str(k): str(v) for k, v in (expanded_label_mapping or {}).items()}
    unknown = [key for key in mapping if key not in types]
    if unknown:
        raise ConfigError(
            f"expanded_label_mapping has keys that are not entity types: {unknown}",
            hint=f"the entity types are {types} (map types, not tags like 'B-PER')",
        )
    options = [mapping.get(t, t) for t in types]

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts, structured = [], []
        for tokens, tags in zip(batch[token_column], batch[label_column]):
            if tags is None or tokens is None:
                raise ConfigError(f"a row has no {token_column!r} or {label_column!r}")
            if names is not None:
                tags = [names[t] for t in tags]
            spans = [
                Span(s.text, mapping.get(s.type, s.type), s.start, s.end)
                for s in bio_to_spans(tokens, tags)
            ]
            texts.append(spans_to_string(spans, empty=empty))
            structured.append([s.to_dict() for s in spans])
        return {label_column: texts, spans_column: structured}

    features = dataset.features.copy()
    features[label_column] = Value("string")
    features[spans_column] = [
        {
            "text": Value("string"),
            "type": Value("string"),
            "start": Value("int32"),
            "end": Value("int32"),
        }
    ]
    converted = dataset.map(convert, batched=True, features=features, desc="tags -> spans")
    if return_label_options:
        return converted, options
    return converted


def _normalize_id2label(id2label: Mapping[int, str] | Sequence[str]) -> list[str]:
    if isinstance(id2label, Mapping):
        keys = sorted(int(k) for k in id2label)
        if keys != list(range(len(keys))):
            raise ConfigError(f"id2label ids must be 0..n-1, got {keys}")
        table = {int(k): str(v) for k, v in id2label.items()}
        return [table[k] for k in keys]
    if isinstance(id2label, (str, bytes)):
        raise ConfigError("id2label must be a list of tags or a dict id -> tag")
    return [str(tag) for tag in id2label]


def _parse_answer(
    value: str,
    label_types: Sequence[str] | None,
    expanded_label_mapping: Mapping[str, str] | None,
) -> tuple[list[Span], list[str]]:
    """A JSON entity list, or failing that the ``"<text> is <type>."`` lines."""
    if not value.strip():
        return [], []
    try:
        return parse_entity_json(value, label_types, expanded_label_mapping)
    except ParseError:
        if " is " not in value:
            raise
    return parse_span_string(value, label_types, expanded_label_mapping)


def convert_spans_to_token_labels(
    dataset: Any,
    token_column: str,
    spans_column: str,
    label_options: Sequence[str] | None = None,
    *,
    id2label: Mapping[int, str] | Sequence[str] | None = None,
    expanded_label_mapping: Mapping[str, str] | None = None,
    label_column: str = "ner_tags",
    error_column: str = "error",
) -> Any:
    """Turn entity spans (e.g. from a model) back into BIO tags.

    ``spans_column`` holds, per row, a list of ``{"text", "type"[, "start", "end"]}`` or a model
    answer as a string (a JSON list, or the ``"<text> is <type>."`` lines). ``label_options`` are
    the allowed types (original or expanded names; ``expanded_label_mapping`` maps type -> expanded
    name). With ``id2label`` (``["O", "B-PER", ...]``) the tags are written as ``ClassLabel`` ids,
    otherwise as strings, to ``label_column``.

    Rows whose spans cannot be placed (see :func:`spans_to_bio`) or parsed keep ``None`` tags and a
    message in ``error_column``; every other row has ``None`` there. Rows are never dropped.
    """
    from datasets import ClassLabel, Sequence as HFSequence, Value

    require_columns(dataset, token_column, spans_column)
    tag_names: list[str] | None = None
    if id2label is not None:
        tag_names = _normalize_id2label(id2label)
        for i, tag in enumerate(tag_names):
            _split_tag(tag, i)
        if label_options is None:
            label_options = _types_from_tags(tag_names)
    label2id = {tag: i for i, tag in enumerate(tag_names or [])}
    resolver_args = (label_options, expanded_label_mapping)

    def one_row(tokens: Any, value: Any) -> tuple[list[Any] | None, str | None]:
        if tokens is None:
            return None, f"no {token_column!r}"
        if value is None:
            return None, "no spans (the answer is missing)"
        try:
            if isinstance(value, str):
                spans, errors = _parse_answer(value, *resolver_args)
            elif isinstance(value, Mapping) and isinstance(value.get("text"), list):
                # a Sequence({...}) feature gives a dict of lists: one dict per span again
                keys = list(value)
                spans = [dict(zip(keys, values)) for values in zip(*value.values())]
                errors = []
            else:
                spans, errors = list(value), []
            tags, place_errors = spans_to_bio(
                tokens,
                spans,
                label_types=label_options,
                expanded_label_mapping=expanded_label_mapping,
            )
        except (ParseError, ConfigError) as exc:
            return None, exc.message
        errors += place_errors
        if errors:
            return None, "; ".join(errors)
        if tag_names is None:
            return tags, None
        missing = sorted({t for t in tags if t not in label2id})
        if missing:
            return None, f"tags {missing} are not in id2label"
        return [label2id[t] for t in tags], None

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out_tags, out_errors = [], []
        for tokens, value in zip(batch[token_column], batch[spans_column]):
            tags, error = one_row(tokens, value)
            out_tags.append(tags)
            out_errors.append(error)
        return {label_column: out_tags, error_column: out_errors}

    features = dataset.features.copy()
    if tag_names is not None:
        features[label_column] = HFSequence(ClassLabel(names=tag_names))
    else:
        features[label_column] = HFSequence(Value("string"))
    features[error_column] = Value("string")
    return dataset.map(convert, batched=True, features=features, desc="spans -> tags")
