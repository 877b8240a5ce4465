"""The diversity report: distinct-n, embedding spread, counts, nearest gold; its two commands.

A letter-count embedder stands in for MiniLM (deterministic, instant); the ``evaluate student``
check patches the student's encoder with it too, so nothing here loads a model.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasets import Dataset

from fabricator.errors import ConfigError
from fabricator.evaluation.diversity import (
    attributes_from_provenance,
    compare_diversity,
    diversity,
    diversity_of_file,
)
from fabricator.evaluation.student import embeddings as embeddings_module
from fabricator.samplers import similar
from fabricator.tables import write_jsonl, write_records

TEXTS = ["the cat sat", "the cat ran", "a dog ran far"]


def letters(texts: Sequence[str]) -> Any:
    """Letter counts: the same text gives the same vector, texts of other letters other vectors."""
    vectors = np.zeros((len(texts), 27), dtype=np.float32)
    for row, text in enumerate(texts):
        for char in text.lower():
            vectors[row, ord(char) - 97 if "a" <= char <= "z" else 26] += 1
    return vectors


def test_distinct_n_on_a_hand_made_set() -> None:
    found = diversity(TEXTS, embeddings=False)
    # unigrams: the the cat cat sat ran ran a dog far -> 10 grams, 7 distinct
    assert found["distinct_1"] == pytest.approx(7 / 10)
    # bigrams: the-cat x2, cat-sat, cat-ran, a-dog, dog-ran, ran-far -> 7 grams, 6 distinct
    assert found["distinct_2"] == pytest.approx(6 / 7)
    # trigrams: the-cat-sat, the-cat-ran, a-dog-ran, dog-ran-far -> all distinct
    assert found["distinct_3"] == 1.0
    assert found["rows"] == 3 and found["duplicate_rate"] == 0.0
    assert found["embedding_spread"] is None and found["embedding_note"] == "embeddings skipped"
    json.dumps(found)


def test_spread_is_zero_for_identical_texts_and_grows_with_difference() -> None:
    same = diversity(["good film"] * 5, embedder=letters)
    close = diversity(["good film", "good films", "a good film"], embedder=letters)
    apart = diversity(["good film", "xyz qvw", "jjj kkk"], embedder=letters)
    assert same["embedding_spread"] == pytest.approx(0.0, abs=1e-6)
    assert same["spread_rows"] == 5 and same["embedder"] == "letters"
    assert 0.0 < close["embedding_spread"] < apart["embedding_spread"] <= 1.0
    # the closed form equals the mean of 1 - cos over the pairs
    unit = letters(TEXTS) / np.linalg.norm(letters(TEXTS), axis=1, keepdims=True)
    pairs = [1 - float(unit[i] @ unit[j]) for i in range(3) for j in range(i + 1, 3)]
    assert diversity(TEXTS, embedder=letters)["embedding_spread"] == pytest.approx(np.mean(pairs), abs=1e-6)
    single = diversity(["only one"], embedder=letters)
    assert single["embedding_spread"] is None and "two rows" in single["embedding_note"]


def test_spread_sample_is_seeded_and_reported() -> None:
    texts = [f"review number {i} " + "x" * (i % 7) + "y" * (i % 5) for i in range(50)]
    first = diversity(texts, embedder=letters, max_pairs_rows=10, seed=3)
    assert first["spread_rows"] == 10 and first["rows"] == 50
    assert diversity(texts, embedder=letters, max_pairs_rows=10, seed=3) == first
    assert diversity(texts, embedder=letters, max_pairs_rows=10, seed=4) != first
    assert diversity(texts, embedder=letters)["spread_rows"] == 50  # under the limit: every row


def test_per_class_and_per_attribute_counts() -> None:
    found = diversity(
        [*TEXTS, "x"],
        labels=["pos", "neg", "pos", None],
        attributes=[{"topic": "pets", "length": "short"}, {"topic": "pets"}, None, {"topic": "travel"}],
        embeddings=False,
    )
    assert found["per_class"] == {"pos": 2, "(none)": 1, "neg": 1}
    assert list(found["per_class"]) == ["pos", "(none)", "neg"]  # most frequent first, then by name
    assert found["per_attribute"] == {"topic": {"pets": 2, "travel": 1}, "length": {"short": 1}}
    assert diversity(TEXTS, embeddings=False)["per_class"] is None
    with pytest.raises(ConfigError, match="2 labels for 3 texts"):
        diversity(TEXTS, labels=["a", "b"], embeddings=False)


def test_attributes_from_provenance() -> None:
    records = [{"row": 0, "attributes": {"topic": "pets"}}, {"row": 1}, {"row": 2, "attributes": "bad"}]
    assert attributes_from_provenance(records) == [{"topic": "pets"}, None, None]


def test_nearest_gold() -> None:
    same = diversity(TEXTS, gold_texts=TEXTS, embedder=letters)
    assert same["nearest_gold"] == pytest.approx(1.0) and same["near_gold_copies"] == 1.0
    assert same["gold_rows"] == 3
    other = diversity(TEXTS, gold_texts=["zzz qqq", "the cat sat"], embedder=letters)
    assert other["near_gold_copies"] == pytest.approx(1 / 3)  # only "the cat sat" is in gold
    assert 0.0 < other["nearest_gold"] < 1.0
    assert "nearest_gold" not in diversity(TEXTS, embedder=letters)


def test_missing_encoder_gives_a_note_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(texts: Sequence[str]) -> Any:
        raise ConfigError("the student needs sentence-transformers", hint="pip install x")

    monkeypatch.setattr(similar, "minilm_embedder", missing)
    found = diversity(TEXTS, gold_texts=TEXTS)
    assert found["embedding_spread"] is None and found["nearest_gold"] is None
    assert found["embedding_note"] == (
        "no embedding figures: the student needs sentence-transformers (fix: pip install x)"
    )
    assert found["distinct_2"] == pytest.approx(6 / 7)
    with pytest.raises(ConfigError):  # an embedder of the caller's own fails loudly
        diversity(TEXTS, embedder=missing)


def test_compare_diversity_of_datasets() -> None:
    generated = Dataset.from_dict({"text": TEXTS, "label": ["a", "b", "a"]})
    gold = Dataset.from_dict({"text": ["the cat sat", "zzz"], "label": ["a", "b"]})
    found = compare_diversity(generated, gold, embedder=letters)
    assert found["generated"]["per_class"] == {"a": 2, "b": 1}
    assert found["gold"]["per_class"] == {"a": 1, "b": 1}
    assert found["generated"]["near_gold_copies"] == pytest.approx(1 / 3)
    assert "nearest_gold" not in found["gold"]


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    data = Dataset.from_dict({"text": TEXTS, "label": ["pos", "neg", "pos"]})
    write_jsonl(data, run / "data.jsonl")
    attributes: list[dict[str, Any]] = [{"topic": "pets"}, {"topic": "pets"}, {"topic": "travel"}]
    write_records([{"row": i, "attributes": a} for i, a in enumerate(attributes)], run / "provenance.jsonl")
    return run


def test_diversity_of_an_output_folder(tmp_path: Path) -> None:
    run = _run_folder(tmp_path)
    found = diversity_of_file(run, gold=run / "data.jsonl", embedder=letters)
    assert found["per_attribute"] == {"topic": {"pets": 2, "travel": 1}}
    assert found["per_class"] == {"pos": 2, "neg": 1}
    assert found["nearest_gold"] == pytest.approx(1.0)
    assert found["sources"]["provenance"] == str(run / "provenance.jsonl")
    write_records([{"row": 0}], tmp_path / "short.jsonl")
    with pytest.raises(ConfigError, match="1 records for the 3 rows"):
        diversity_of_file(run, provenance=tmp_path / "short.jsonl", embeddings=False)
    with pytest.raises(ConfigError, match="no column 'sentence'"):
        diversity_of_file(run, text_column="sentence", embeddings=False)


def test_cli_evaluate_diversity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fabricator.app.cli import build_parser, main

    monkeypatch.setattr(similar, "minilm_embedder", letters)
    run = _run_folder(tmp_path)
    args = build_parser().parse_args(
        [
            "evaluate",
            "diversity",
            str(run),
            "--gold",
            str(run / "data.jsonl"),
            "--json",
            str(tmp_path / "d.json"),
        ]
    )
    out, err = io.StringIO(), io.StringIO()
    assert args.handler(args, stdout=out, stderr=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "distinct-3" in text and "embedding spread" in text and "nearest-gold similarity" in text
    assert "attribute topic" in text and "pets" in text
    assert re.search(r"near copies of gold \(>= 0.95\) +100.0%", text)
    saved = json.loads((tmp_path / "d.json").read_text())
    assert saved["rows"] == 3 and saved["nearest_gold"] == pytest.approx(1.0)
    assert saved["per_attribute"] == {"topic": {"pets": 2, "travel": 1}}

    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"sentence": "a b"}\n{"sentence": "a c"}\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["evaluate", "diversity", str(plain), "--text-column", "sentence"])
    args.no_embeddings = True
    assert args.handler(args, stdout=out, stderr=err) == 0, err.getvalue()
    assert "embeddings skipped" in out.getvalue() and "class" not in out.getvalue()
    assert main(["evaluate", "diversity", str(plain)]) == 2  # no text column: a message, not a traceback


def test_evaluate_student_reports_diversity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fabricator.app.cli import build_parser

    monkeypatch.setattr(embeddings_module, "embed_texts", lambda texts, **_: letters(texts))
    reviews = Path(__file__).resolve().parent / "data" / "student"
    args = build_parser().parse_args(
        [
            "evaluate",
            "student",
            "--train",
            str(reviews / "train.jsonl"),
            "--test",
            str(reviews / "test.jsonl"),
            "--report-dir",
            str(tmp_path / "r"),
            "--json",
            str(tmp_path / "s.json"),
        ]
    )
    out, err = io.StringIO(), io.StringIO()
    assert args.handler(args, stdout=out, stderr=err) == 0, err.getvalue()
    diagnostics = out.getvalue().split("diagnostics")[1]
    for figure in ("distinct-3", "embedding spread", "nearest-gold similarity", "rows labelled positive"):
        assert figure in diagnostics
    saved = json.loads((tmp_path / "s.json").read_text())["diagnostics"]["diversity"]
    assert saved["generated"]["per_class"] == {"negative": 30, "positive": 30}
    assert saved["generated"]["gold_rows"] == 30 and 0 < saved["generated"]["embedding_spread"] < 1
    assert saved["generated"]["embedder"] == "all-MiniLM-L6-v2"  # the default path, patched here
    report = (tmp_path / "r" / "report.md").read_text()
    spread = saved["generated"]["embedding_spread"]
    assert f"| embedding spread (mean cosine distance) | {spread:.4f} |" in report
    assert "| nearest-gold similarity (mean) |" in report
