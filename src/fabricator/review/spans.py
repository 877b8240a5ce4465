"""BIO tags over tokens <-> labelled character spans over the tokens joined by spaces.

Review tools label spans of a text; the dataset holds one tag per token. The text a reviewer sees
is the tokens joined by single spaces, so every token has fixed offsets and a span maps back to
exactly the tokens it overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Span", "bio_to_spans", "joined_text", "spans_to_bio", "token_offsets"]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


def joined_text(tokens: Sequence[str]) -> str:
    return " ".join(tokens)


def token_offsets(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of each token in ``joined_text(tokens)``."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return offsets


def bio_to_spans(tokens: Sequence[str], tags: Sequence[str | None]) -> list[Span]:
    """The entities of a BIO-tagged sentence as spans; a stray ``I-X`` starts an entity, as in seqeval."""
    spans: list[Span] = []
    offsets = token_offsets(tokens)
    current: tuple[int, int, str] | None = None
    for (start, end), tag in zip(offsets, tags, strict=False):
        kind, _, label = (tag or "O").partition("-")
        if kind == "I" and current is not None and current[2] == label:
            current = (current[0], end, label)
            continue
        if current is not None:
            spans.append(Span(*current))
            current = None
        if kind in ("B", "I") and label:
            current = (start, end, label)
    if current is not None:
        spans.append(Span(*current))
    return spans


def spans_to_bio(tokens: Sequence[str], spans: Sequence[Span]) -> list[str]:
    """One tag per token: ``B-X`` on the first token a span overlaps, ``I-X`` on the next ones."""
    tags = ["O"] * len(tokens)
    offsets = token_offsets(tokens)
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        inside = [i for i, (start, end) in enumerate(offsets) if start < span.end and end > span.start]
        free = [i for i in inside if tags[i] == "O"]  # overlapping spans: the first keeps its tokens
        for position, i in enumerate(free):
            tags[i] = ("B-" if position == 0 else "I-") + span.label
    return tags
