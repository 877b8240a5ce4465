"""Near-duplicate removal: MinHash on word shingles and embedding cosine, each with a threshold."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import pytest

from fabricator.errors import ConfigError
from fabricator.near_duplicates import NearDuplicate, NearDuplicates, near_duplicates_of

FILM = "The film is a warm and funny story about two old friends"
FILM_EDITED = "The film is a warm and witty story about two old friends"
DULL = "A dull plot with wooden acting ruins the whole evening"


class TableEmbedder:
    """Fixed vectors per (normalised) text; records every call, to count embedder calls."""

    def __init__(self, vectors: dict[str, Sequence[float]]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


def angle(degrees: float) -> list[float]:
    """A 2-D unit vector; two of them have cosine cos(difference of the angles)."""
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


VOCAB = [
    "the",
    "a",
    "film",
    "movie",
    "is",
    "was",
    "warm",
    "funny",
    "witty",
    "story",
    "dull",
    "plot",
    "acting",
    "bus",
    "rain",
]


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """Word counts over a fixed vocabulary: texts sharing their words get near-identical vectors."""
    return np.array([[t.split().count(w) for w in VOCAB] + [1e-3] for t in texts], dtype=np.float32)


def test_minhash_catches_a_one_word_paraphrase_but_not_a_different_sentence() -> None:
    found = NearDuplicates(minhash=0.5).check([(0, FILM), (1, FILM_EDITED), (2, DULL)])
    assert [(d.index, d.duplicate_of, d.method) for d in found] == [(1, 0, "minhash")]
    assert 0.5 <= found[0].similarity < 1.0


def test_case_whitespace_and_punctuation_do_not_count_for_minhash() -> None:
    found = NearDuplicates(minhash=1.0).check(
        [(0, FILM), (1, "  the FILM is a warm, and funny story about two old friends!")]
    )
    assert [(d.index, d.duplicate_of, d.similarity) for d in found] == [(1, 0, 1.0)]


def test_threshold_one_only_catches_identical_texts() -> None:
    rows = [(0, FILM), (1, FILM_EDITED), (2, FILM.upper())]
    assert [(d.index, d.duplicate_of) for d in NearDuplicates(minhash=1.0).check(rows)] == [(2, 0)]
    embedder = TableEmbedder({FILM.lower(): angle(0), FILM_EDITED.lower(): angle(0.5)})  # cosine 0.99996
    found = NearDuplicates(embedding=1.0, embedder=embedder).check(rows)
    assert [(d.index, d.duplicate_of, d.method) for d in found] == [(2, 0, "embedding")]


def test_identical_texts_reach_cosine_one_despite_float_rounding() -> None:
    vectors = np.random.default_rng(0).normal(size=(10, 384))  # a MiniLM-sized embedding
    embedder = TableEmbedder({f"text {i}": list(v) for i, v in enumerate(vectors)})
    rows = [(i, f"text {i % 10}") for i in range(20)]
    found = NearDuplicates(embedding=1.0, embedder=embedder).check(rows)
    assert [(d.index, d.duplicate_of) for d in found] == [(i, i - 10) for i in range(10, 20)]
    assert [d.similarity for d in found] == pytest.approx([1.0] * 10)


def test_state_carries_across_calls_and_duplicate_of_is_the_earlier_row() -> None:
    finder = NearDuplicates(minhash=0.5)
    assert finder.check([(0, DULL), (1, FILM)]) == []
    found = finder.check([(7, FILM_EDITED), (8, "Rain again, and the bus never came")])
    assert [(d.index, d.duplicate_of) for d in found] == [(7, 1)]
    assert finder.accepted == 3


def test_references_catch_copies_of_themselves_and_are_never_counted_as_rows() -> None:
    angles = {"a": 0, "b": 10, "c": 60, DULL: 120, DULL + " today": 121, FILM: 240}
    embedder = TableEmbedder({text.lower(): angle(degrees) for text, degrees in angles.items()})
    finder = NearDuplicates(minhash=0.5, embedding=0.9, embedder=embedder)
    finder.add_references([(0, DULL), (1, "a")])
    assert finder.accepted == 0
    found = finder.check([(0, FILM), (1, DULL + " today"), (2, "b"), (3, "c")])
    assert [(d.index, d.duplicate_of, d.reference, d.method) for d in found] == [
        (1, -1, 0, "minhash"),
        (2, -2, 1, "embedding"),
    ]
    assert found[1].reason().startswith("near duplicate of few-shot example 1 (embedding cosine 0.98")
    assert finder.accepted == 2


def test_rows_of_one_call_are_compared_with_each_other_in_row_order() -> None:
    rows = [(3, FILM), (4, DULL), (5, FILM_EDITED), (6, DULL + " today")]
    found = NearDuplicates(minhash=0.5).check(rows)
    assert [(d.index, d.duplicate_of) for d in found] == [(5, 3), (6, 4)]


def test_a_dropped_row_is_never_the_reference_of_a_later_row() -> None:
    # b is within 20 degrees of a (cosine 0.94) and dropped; c is 20 from b but 40 from a (0.77)
    embedder = TableEmbedder({"a": angle(0), "b": angle(20), "c": angle(40)})
    finder = NearDuplicates(embedding=0.9, embedder=embedder)
    found = finder.check([(0, "a"), (1, "b"), (2, "c")])
    assert [(d.index, d.duplicate_of) for d in found] == [(1, 0)]
    assert found[0].similarity == pytest.approx(math.cos(math.radians(20)), abs=1e-5)
    assert finder.check([(3, "b")])[0].duplicate_of == 0  # c was accepted, b never was


def test_embedding_catches_near_identical_vectors_with_one_embedder_call_per_round() -> None:
    embedder = TableEmbedder({"x": angle(0), "y": angle(90), "x2": angle(3), "y2": angle(88)})
    finder = NearDuplicates(embedding=0.95, embedder=embedder)
    [first] = finder.check([(0, "x"), (1, "y"), (2, "x2")])
    assert (first.index, first.duplicate_of, first.method, first.threshold) == (2, 0, "embedding", 0.95)
    assert first.similarity == pytest.approx(math.cos(math.radians(3)), abs=1e-5)
    found = finder.check([(3, "y2"), (4, "x2")])
    assert [(d.index, d.duplicate_of) for d in found] == [(3, 1), (4, 0)]
    assert embedder.calls == [["x", "y", "x2"], ["y2", "x2"]]


def test_bag_of_words_embedder_catches_reworded_rows() -> None:
    texts = ["the film was warm", "the movie was warm", "the film was warm the film was warm", "dull plot"]
    found = near_duplicates_of(texts, embedding=0.95, embedder=bag_of_words)
    assert [(d.index, d.duplicate_of) for d in found] == [(2, 0)]  # same words, doubled: cosine 1.0


def test_minhash_runs_first_and_its_drops_are_not_embedded_into_the_index() -> None:
    # "near edit" is 2 degrees from the edited film row, which MinHash drops: so it is kept
    vectors = {FILM.lower(): angle(0), FILM_EDITED.lower(): angle(60), "near edit": angle(62), "x": angle(1)}
    embedder = TableEmbedder(vectors)
    found = NearDuplicates(minhash=0.5, embedding=0.9, embedder=embedder).check(
        [(0, FILM), (1, FILM_EDITED), (2, "near edit"), (3, "x")]
    )
    assert [(d.index, d.duplicate_of, d.method) for d in found] == [(1, 0, "minhash"), (3, 0, "embedding")]
    assert len(embedder.calls) == 1


def test_reason_names_the_row_the_measure_and_the_threshold() -> None:
    assert NearDuplicate(14, 12, "minhash", 0.8571, 0.8).reason() == (
        "near duplicate of row 12 (MinHash Jaccard 0.86 >= 0.8)"
    )
    assert NearDuplicate(3, 1, "embedding", 0.93, 0.9).reason() == (
        "near duplicate of row 1 (embedding cosine 0.93 >= 0.9)"
    )


def test_near_duplicates_of_a_whole_dataset_in_row_order() -> None:
    texts = [FILM, DULL, FILM, "", FILM_EDITED, DULL.lower()]
    found = near_duplicates_of(texts, minhash=0.5)
    assert [(d.index, d.duplicate_of) for d in found] == [(2, 0), (4, 0), (5, 1)]
    with pytest.raises(ConfigError, match="needs a threshold"):
        near_duplicates_of(texts)


def test_embedder_output_of_the_wrong_shape_is_a_config_error() -> None:
    finder = NearDuplicates(embedding=0.9, embedder=lambda texts: np.ones(len(texts)))
    with pytest.raises(
        ConfigError, match=r"near-duplicate embedder returned an array of shape \(2,\)"
    ) as err:
        finder.check([(0, "a"), (1, "b")])
    assert err.value.hint and "(n, d) array" in err.value.hint
    finder = NearDuplicates(embedding=0.9, embedder=lambda texts: np.ones((1, 4)))
    with pytest.raises(ConfigError, match=r"shape \(1, 4\) for 2 text"):
        finder.check([(0, "a"), (1, "b")])


@pytest.mark.parametrize("value", [0, 0.0, -0.2, 1.01, 5, True, "0.8", float("nan")])
def test_thresholds_are_validated(value: object) -> None:
    for name in ("minhash", "embedding"):
        with pytest.raises(ConfigError, match=f"{name}=") as err:
            NearDuplicates(**{name: value})  # type: ignore[arg-type]
        assert err.value.hint and "(0, 1]" in err.value.hint


def test_missing_datasketch_names_the_extra_and_embeddings_still_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "datasketch", None)  # import datasketch -> ImportError
    with pytest.raises(ConfigError, match="datasketch") as err:
        NearDuplicates(minhash=0.8)
    assert err.value.hint == 'pip install "fabricator-data[dedup]"'
    embedder = TableEmbedder({"a": angle(0), "b": angle(1)})
    assert [
        d.index for d in NearDuplicates(embedding=0.9, embedder=embedder).check([(0, "a"), (1, "b")])
    ] == [1]


@pytest.mark.slow  # loads the bundled MiniLM (10-30 s on a busy CPU)
def test_the_bundled_minilm_embedder_catches_a_paraphrase() -> None:
    texts = [
        "The movie was wonderful and deeply moving.",
        "The film was wonderful and deeply moving.",
        "I waited an hour for the bus in the rain.",
        "The movie was boring and far too long.",
    ]
    found = near_duplicates_of(texts, embedding=0.9)
    assert [(d.index, d.duplicate_of, d.method) for d in found] == [(1, 0, "embedding")]
    assert found[0].similarity > 0.95
