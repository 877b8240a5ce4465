"""Nearest-neighbour few-shot examples: each annotated row gets the pool examples most like it.

The pool is embedded once into one matrix of unit vectors; a round of rows is embedded in one
call and each row's examples are one dot product away. The examples come most similar LAST, next
to the question, and an example whose text is the row's own text is never shown (no leaked
answers when the pool overlaps the data). Ties are broken by pool order, so the choice depends on
the row and the pool only: the same row gets the same examples in any run of any size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..evaluation.student import embeddings as student_embeddings

#: texts -> a 2-D array, one unit vector per text
Embedder = Callable[[Sequence[str]], Any]


class Similar(str):
    """``fewshot_sampling_strategy="similar"`` with a sentence embedder of your own.

    It *is* the string ``"similar"`` (so it goes wherever a strategy name goes); ``embedder`` maps
    a list of texts to a 2-D array of unit vectors. ``None``: the bundled all-MiniLM-L6-v2.
    """

    embedder: Embedder | None

    def __new__(cls, embedder: Embedder | None = None) -> Similar:
        self = super().__new__(cls, "similar")
        self.embedder = embedder
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Similar, (self.embedder,))


def joined_text(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """What an embedder reads of a row: its ``columns``' values joined by a newline."""
    return "\n".join(str(row.get(c, "")) for c in columns)


def minilm_embedder(texts: Sequence[str]) -> Any:
    """The bundled all-MiniLM-L6-v2 (offline, cached per text); a ConfigError names the extra."""
    return student_embeddings.embed_texts(list(texts))  # looked up per call: tests replace it


def embedder_of(strategy: str | None) -> Embedder:
    """The embedder a ``"similar"`` strategy asks for (MiniLM unless a ``Similar`` names one)."""
    own = strategy.embedder if isinstance(strategy, Similar) else None
    return own if own is not None else minilm_embedder


def unit_rows(vectors: Any, count: int, purpose: str = "few-shot") -> np.ndarray:
    """The embedder's answer checked (one row per text) and scaled to unit length; ``purpose``
    names the embedder in the error (the few-shot one, the near-duplicate one)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise ConfigError(
            f"the {purpose} embedder returned an array of shape {matrix.shape} for {count} text(s)",
            hint="an embedder maps a list of n texts to an (n, d) array, one vector per text",
        )
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class SimilarIndex:
    """The pool embedded once, and the nearest examples of a batch of rows.

    A row's text is the values of ``columns`` joined by a newline; ``label_column`` (if any) gives
    the pool rows' classes, for per-class selection.
    """

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        embedder: Embedder,
        label_column: str | None = None,
    ) -> None:
        self.columns = list(columns)
        self.embedder = embedder
        self.texts = [self.text_of(row) for row in rows]
        self.matrix = unit_rows(embedder(self.texts), len(self.texts))
        self.by_text: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            self.by_text.setdefault(text, []).append(i)
        groups: dict[str, list[int]] = {}
        if label_column is not None:
            for i, row in enumerate(rows):
                groups.setdefault(str(row[label_column]), []).append(i)
        self.classes = [np.asarray(ids, dtype=np.int64) for ids in groups.values()]

    def text_of(self, row: Mapping[str, Any]) -> str:
        """A row's text: its ``columns``' values joined by a newline."""
        return joined_text(row, self.columns)

    def nearest(self, texts: Sequence[str], k: int, per_class: bool = False) -> list[list[int]]:
        """For each text, the pool indices of its ``k`` nearest examples (of each class when
        ``per_class``), the most similar last; one embedder call for all the texts."""
        if not texts:
            return []
        scores = unit_rows(self.embedder(list(texts)), len(texts)) @ self.matrix.T
        groups = self.classes if per_class else [np.arange(len(self.texts), dtype=np.int64)]
        out = []
        for text, row in zip(texts, scores, strict=True):
            row = row.astype(np.float64)
            itself = self.by_text.get(text, [])
            row[itself] = -np.inf  # never the row itself
            picked: list[int] = []
            for ids in groups:
                order = np.lexsort((ids, -row[ids]))  # best first, ties by pool order
                picked += [int(i) for i in ids[order[: k + len(itself)]] if np.isfinite(row[i])][:k]
            picked.sort(key=lambda i: (row[i], -i))  # least similar first, the nearest last
            out.append(picked)
        return out


__all__ = [
    "Embedder",
    "Similar",
    "SimilarIndex",
    "embedder_of",
    "joined_text",
    "minilm_embedder",
    "unit_rows",
]
