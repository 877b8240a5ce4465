"""BIO tags over tokens <-> labelled character spans over the tokens joined by spaces.

Review tools label spans of a text; the dataset holds one tag per token. The text a reviewer sees
is the tokens joined by single spaces, so every token has fixed offsets and a span maps back to
exactly the tokens it overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...parsing.tags import tags_to_chunks, token_offsets

__all__ = ["Span", "bio_to_spans", "joined_text", "spans_to_bio", "token_offsets"]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


def joined_text(tokens: Sequence[str]) -> str:
    return " ".join(tokens)


def bio_to_spans(tokens: Sequence[str], tags: Sequence[str | None]) -> list[Span]:
    """The entities of a BIO-tagged sentence as character spans (seqeval's chunking; no tag is "O")."""
    offsets = token_offsets(tokens)
    return [
        Span(offsets[first][0], offsets[last][1], label)
        for label, first, last in tags_to_chunks([tag or "O" for tag in tags[: len(tokens)]])
    ]


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
