"""Entity spans and tag schemes (BIO, BIOES, IO): the vocabulary every NER parser and metric shares.

Span
    ``Span(text, type, start, end)`` where ``start``/``end`` are character offsets into the
    sentence ``" ".join(tokens)`` (``end`` exclusive), so ``sentence[start:end] == text``. A span
    parsed from a model answer usually has no offsets (``start = end = None``).

Tag chunking (:func:`tags_to_chunks`)
    The same rules as ``seqeval``'s default (non-strict) mode, so the entity-level metrics agree
    with seqeval: a chunk starts at ``B-``/``S-``, at an ``I-``/``E-`` after ``O`` or ``E-``/``S-``,
    and wherever the type changes; an ``I-X`` without a ``B-X`` therefore starts an entity.
    Tags must be ``O`` or ``<B|I|E|S>-<type>``; anything else raises :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fabricator.errors import ConfigError

__all__ = ["Span", "bio_to_bioes", "bio_to_spans", "split_tag", "tags_to_chunks", "token_offsets"]

PREFIXES = ("B", "I", "E", "S")


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


def split_tag(tag: Any, position: int | None = None) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; anything else is a ConfigError.

    ``position`` (the token index) only makes the error message point at the bad tag.
    """
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and len(tag) > 2 and tag[0] in PREFIXES and tag[1] == "-":
        return tag[0], tag[2:]
    where = "" if position is None else f" at position {position}"
    raise ConfigError(
        f"tag {tag!r}{where} is not a BIO tag",
        hint="tags must be 'O' or '<B|I|E|S>-<TYPE>', e.g. 'B-PER'",
    )


def tags_to_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entity chunks ``(type, first_token, last_token)`` (inclusive) of one tag sequence.

    Follows seqeval's default chunking (see the module docstring).
    """
    chunks: list[tuple[str, int, int]] = []
    prev_prefix, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, type_ = split_tag(tag, i)
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


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    """The same entities in BIOES: ``S-`` for one-token entities, ``E-`` on the last token."""
    out = ["O"] * len(tags)
    for type_, first, last in tags_to_chunks(tags):
        if first == last:
            out[first] = f"S-{type_}"
            continue
        out[first], out[last] = f"B-{type_}", f"E-{type_}"
        for k in range(first + 1, last):
            out[k] = f"I-{type_}"
    return out


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
