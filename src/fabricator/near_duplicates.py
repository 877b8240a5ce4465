"""Near-duplicate detection: rows that say almost what an earlier row said.

Exact repeats are the duplicate filter's job; this finds the rest with two independent tests,
each with its own threshold:

- **MinHash** (datasketch): the Jaccard similarity of the rows' sets of word shingles, estimated
  from MinHash signatures. LSH finds the candidates, the estimated Jaccard confirms them. Catches
  copies with a word or two changed; cheap, so it runs first.
- **Embedding**: the cosine similarity of sentence embeddings (the bundled all-MiniLM-L6-v2 unless
  an embedder is given). Catches paraphrases that share few words.

Rows are taken in row order and each is compared with the rows *accepted* before it; a near
duplicate is dropped and never becomes a reference itself, so of a cluster of copies the first one
is kept. ``add_references`` indexes texts that are never output but must not be copied either
(the few-shot examples a run shows): a row too like one is dropped too, ``duplicate_of`` negative.
Texts are compared after ``normalize_text`` (case and whitespace do not count) and, for MinHash,
on words only (punctuation does not count). Empty texts are never flagged nor indexed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import ConfigError
from .parsing import normalize_text
from .samplers import similar
from .samplers.similar import Embedder, unit_rows

__all__ = ["DEDUP_HINT", "NearDuplicate", "NearDuplicates", "near_duplicates_of", "word_shingles"]

DEDUP_HINT = 'pip install "fabricator-data[dedup]"'

_WORD = re.compile(r"\w+")
#: a cosine this far below the threshold still counts: float32 rounding of identical vectors
_COSINE_SLACK = 1e-6
#: LSH band layout: a missed candidate (false negative) weighs 9x a spurious one, which the
#: estimated Jaccard check throws out anyway; with datasketch's even weights about half of the
#: pairs right at the threshold were never even compared
_LSH_WEIGHTS = (0.1, 0.9)
#: LSH needs at least two bands; above this threshold the layout of this threshold is used
_LSH_MAX_THRESHOLD = 0.95


@dataclass(frozen=True)
class NearDuplicate:
    """A dropped row: which accepted row it nearly repeats, by which test, and how similar."""

    index: int
    duplicate_of: int
    method: Literal["minhash", "embedding"]
    similarity: float  # estimated Jaccard (minhash) or cosine (embedding)
    threshold: float

    @property
    def reference(self) -> int | None:
        """The id of the reference text (``add_references``) it copies; ``None``: a row."""
        return -self.duplicate_of - 1 if self.duplicate_of < 0 else None

    def reason(self) -> str:
        """The failure message, e.g. ``near duplicate of row 12 (MinHash Jaccard 0.86 >= 0.8)``."""
        measure = "MinHash Jaccard" if self.method == "minhash" else "embedding cosine"
        what = f"row {self.duplicate_of}" if self.reference is None else f"few-shot example {self.reference}"
        return f"near duplicate of {what} ({measure} {self.similarity:.2f} >= {self.threshold:g})"


def word_shingles(text: str, size: int) -> set[str]:
    """The runs of ``size`` consecutive words of a normalised text; a text shorter than that gives
    its words (so short texts still compare), a text without word characters its tokens."""
    words = _WORD.findall(text) or text.split()
    if len(words) < size:
        return set(words)
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def _threshold(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ConfigError(
            f"{name}={value!r} is not a similarity threshold",
            hint=f"set {name} to a number in (0, 1], e.g. 0.8, or None to switch that test off",
        )
    return float(value)


class NearDuplicates:
    """Near-duplicate filter that keeps its accepted rows across the rounds of a run.

    ``minhash``: the Jaccard threshold on word shingles of ``shingle_size`` words; ``embedding``:
    the cosine threshold on ``embedder`` vectors (default: the bundled MiniLM). ``None`` switches a
    test off. Word *bigrams* by default: generated examples are short (SST-2 phrases have a median
    of 7 words), and one changed word in a 7-word text leaves a median Jaccard of 0.65 with
    bigrams but 0.54 with trigrams (and 0.0 for the shortest tenth of texts), while unrelated
    texts stay apart with either (no pair of 300 SST-2 texts reaches 0.5). Unigrams would ignore
    word order ("not good, bad" = "not bad, good").
    """

    def __init__(
        self,
        minhash: float | None = None,
        embedding: float | None = None,
        embedder: Embedder | None = None,
        *,
        seed: int = 1,
        num_perm: int = 128,
        shingle_size: int = 2,
    ) -> None:
        self.minhash = _threshold("minhash", minhash)
        self.embedding = _threshold("embedding", embedding)
        if isinstance(num_perm, bool) or not isinstance(num_perm, int) or num_perm < 16:
            raise ConfigError(f"num_perm={num_perm!r} is too small", hint="use 128 (the default) or more")
        if isinstance(shingle_size, bool) or not isinstance(shingle_size, int) or shingle_size < 1:
            raise ConfigError(f"shingle_size={shingle_size!r} is not a word count", hint="use 1, 2 or 3")
        self.embedder = embedder if embedder is not None else similar.minilm_embedder
        self.seed = seed
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self._lsh: Any = None
        self._signatures: list[Any] = []  # LSH key -> MinHash of an accepted row
        self._signature_rows: list[int] = []  # LSH key -> row index
        self._vectors: np.ndarray = np.zeros((0, 0), dtype=np.float32)  # unit vectors of accepted rows
        self._vector_rows: list[int] = []
        self._accepted = 0
        if self.minhash is not None:
            self._start_minhash()

    def add_references(self, texts: Sequence[tuple[int, str]]) -> None:
        """Index ``(id, text)`` references (e.g. few-shot examples, by dataset row), each as it
        is (never dropped, even when like a row or another reference): a later row too like one is
        a near duplicate whose ``duplicate_of`` is ``-(id + 1)``."""
        self.check([(-(ref + 1), text) for ref, text in texts])

    def _start_minhash(self) -> None:
        try:
            from datasketch import MinHash, MinHashLSH
        except ImportError as exc:
            raise ConfigError(
                "near-duplicate removal by MinHash needs the datasketch package, which is not installed",
                hint=DEDUP_HINT,
            ) from exc
        assert self.minhash is not None
        self._minhash_class = MinHash
        self._lsh = MinHashLSH(
            threshold=min(self.minhash, _LSH_MAX_THRESHOLD), num_perm=self.num_perm, weights=_LSH_WEIGHTS
        )

    def _signature(self, text: str) -> Any:
        signature = self._minhash_class(num_perm=self.num_perm, seed=self.seed)
        signature.update_batch([s.encode("utf-8") for s in word_shingles(text, self.shingle_size)])
        return signature

    def _minhash_match(self, signature: Any) -> tuple[int, float] | None:
        """The accepted row most like this signature (ties: the earliest) at or above threshold."""
        assert self.minhash is not None
        best: tuple[int, float] | None = None
        for key in self._lsh.query(signature):
            similarity = float(signature.jaccard(self._signatures[key]))
            row = self._signature_rows[key]
            if similarity >= self.minhash and (best is None or (similarity, -row) > (best[1], -best[0])):
                best = (row, similarity)
        return best

    def check(self, texts: Sequence[tuple[int, str]]) -> list[NearDuplicate]:
        """Compare each ``(index, text)`` row, in order, with every row accepted before it (in
        earlier calls and earlier in this one); the near duplicates, in row order, are dropped
        and the other rows accepted. The embedder is called once per call."""
        rows = [(index, normalize_text(text)) for index, text in texts]
        rows = [(index, text) for index, text in rows if text]
        if not rows or (self.minhash is None and self.embedding is None):
            return []
        batch, cosines = (
            self._cosines([text for _, text in rows]) if self.embedding is not None else (None, None)
        )
        earlier = len(self._vector_rows)  # accepted in earlier calls: the first columns of cosines
        dropped: list[NearDuplicate] = []
        accepted: list[int] = []  # positions in this call
        for position, (index, text) in enumerate(rows):
            signature = None
            reference = index < 0  # a reference is indexed as it is, never dropped
            if self.minhash is not None:
                signature = self._signature(text)
                match = None if reference else self._minhash_match(signature)
                if match is not None:
                    dropped.append(NearDuplicate(index, match[0], "minhash", match[1], self.minhash))
                    continue
            if cosines is not None and self.embedding is not None and not reference:
                later = cosines[position, earlier + np.asarray(accepted, dtype=np.int64)]
                scores = np.concatenate([cosines[position, :earlier], later])
                if scores.size:
                    best = int(np.argmax(scores))  # the first of equal maxima: the earliest accepted
                    similarity = min(float(scores[best]), 1.0)
                    if similarity >= self.embedding - _COSINE_SLACK:
                        row = self._vector_rows[best] if best < earlier else rows[accepted[best - earlier]][0]
                        dropped.append(NearDuplicate(index, row, "embedding", similarity, self.embedding))
                        continue
            accepted.append(position)
            self._accepted += not reference
            if signature is not None:
                self._lsh.insert(len(self._signatures), signature)
                self._signatures.append(signature)
                self._signature_rows.append(index)
        if batch is not None and accepted:
            kept = batch[accepted]
            self._vectors = np.vstack([self._vectors, kept]) if earlier else kept
            self._vector_rows += [rows[p][0] for p in accepted]
        return dropped

    def _cosines(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts' unit vectors, and their cosines (rows) with the rows accepted so far, then
        with each other (columns)."""
        batch = unit_rows(self.embedder(texts), len(texts), "near-duplicate")
        if self._vector_rows and self._vectors.shape[1] != batch.shape[1]:
            raise ConfigError(
                f"the near-duplicate embedder returned {batch.shape[1]}-dimensional vectors "
                f"after {self._vectors.shape[1]}-dimensional ones",
                hint="use one embedder, with one vector size, for the whole run",
            )
        reference = np.vstack([self._vectors, batch]) if self._vector_rows else batch
        return batch, (batch @ reference.T).astype(np.float64)

    @property
    def accepted(self) -> int:
        """How many rows were accepted (and are compared with later rows) so far; references
        (``add_references``) are not counted."""
        return self._accepted


#: rows embedded per embedder call in ``near_duplicates_of`` (bounds the cosine matrix of a call)
_CHUNK = 1024


def near_duplicates_of(
    texts: Sequence[str],
    *,
    minhash: float | None = None,
    embedding: float | None = None,
    embedder: Embedder | None = None,
) -> list[NearDuplicate]:
    """The near duplicates of a whole dataset, in row order: each text (index = its position)
    against the texts before it that are not near duplicates themselves."""
    if minhash is None and embedding is None:
        raise ConfigError(
            "near_duplicates_of needs a threshold", hint="pass minhash=0.8 and/or embedding=0.9"
        )
    finder = NearDuplicates(minhash, embedding, embedder)
    found: list[NearDuplicate] = []
    rows = list(enumerate(texts))
    for start in range(0, len(rows), _CHUNK):
        found += finder.check(rows[start : start + _CHUNK])
    return found
