from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from datasets import Dataset

from fabricator import BasePrompt

REPO = Path(__file__).resolve().parents[1]
#: The shared benchmark data (SST-2, CoNLL-2003, TREC, ...) beside the repository, defined once for
#: every test file. ``FABRICATOR_SHARED_DATA`` points elsewhere (a missing folder: run as a machine
#: without it would).
SHARED_DATA = Path(os.environ.get("FABRICATOR_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _work_in_a_fresh_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test runs in its own empty working directory, never in the checkout.

    Recipes write to ``out/`` relative to the working directory by default: run from the checkout,
    a test would meet (and could change) what the README's quick start left in ``out/``.
    """
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; the test is skipped, with the folder named, when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA} (set FABRICATOR_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def sentiment_fewshot() -> Dataset:
    return Dataset.from_dict(
        {
            "text": [
                "A delight from start to end.",
                "Dull and far too long.",
                "I loved every minute.",
                "The plot made no sense.",
                "Great acting, great score.",
                "A waste of two hours.",
            ],
            "label": ["positive", "negative", "positive", "negative", "positive", "negative"],
        }
    )


#: The two few-shot rows the small command-line recipes read from ``fewshot.jsonl``.
FEWSHOT = [{"text": "Loved it.", "label": "positive"}, {"text": "Hated it.", "label": "negative"}]

_MOVIE_RECIPE: dict[str, Any] = {
    "prompt": {
        "task_description": "Write a {} movie review.",
        "label_options": ["positive", "negative"],
        "generate_data_for_column": "text",
    },
    "fewshot": {
        "path": "fewshot.jsonl",
        "sampling_strategy": "uniform",
        "examples_per_class": 1,
        "sampling_column": "label",
    },
}


def movie_recipe(*, labels: list[str] | None = None, **sections: Any) -> dict[str, Any]:
    """The small movie-review generation recipe (prompt + ``fewshot.jsonl``) the CLI tests share.

    ``sections`` add or replace whole top-level sections (``model``, ``generation``, ...);
    ``labels`` replaces the prompt's label options. Each call returns a fresh copy.
    """
    recipe = copy.deepcopy(_MOVIE_RECIPE)
    if labels is not None:
        recipe["prompt"]["label_options"] = labels
    return {**recipe, **sections}


def write_fewshot(folder: Path, rows: list[dict[str, Any]] = FEWSHOT, name: str = "fewshot.jsonl") -> Path:
    """Write ``rows`` as JSON lines (one per line, newline-terminated) into ``folder / name``."""
    path = Path(folder) / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_recipe(folder: Path, recipe: dict[str, Any], name: str = "recipe.yaml", **changes: Any) -> str:
    """Write ``recipe`` (with top-level ``changes`` applied) as YAML into ``folder / name``; its path."""
    path = Path(folder) / name
    path.write_text(yaml.safe_dump({**recipe, **changes}))
    return str(path)


#: The label options of the sentiment prompts below.
SENTIMENT_LABELS = ["positive", "negative"]


def conditioned() -> BasePrompt:
    """The paper's label-conditioned movie-review prompt (generation tests share it)."""
    return BasePrompt(
        task_description="Generate a {} movie review.",
        label_options=SENTIMENT_LABELS,
        generate_data_for_column="text",
    )


def annotate() -> BasePrompt:
    """A sentiment annotation prompt: the ``label`` of each ``text`` (annotation tests share it)."""
    return BasePrompt(
        task_description="Classify as: {}.",
        label_options=SENTIMENT_LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )


def letter_embeddings(texts: Sequence[str], **_: Any) -> Any:
    """A stand-in sentence encoder: unit vectors of letter counts (no model load; the same text
    gives the same vector, texts of other letters other vectors)."""
    vectors = np.zeros((len(texts), 27), dtype=np.float32)
    for i, text in enumerate(texts):
        for ch in text.lower():
            vectors[i, ord(ch) - 97 if "a" <= ch <= "z" else 26] += 1
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def letter_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled sentence encoder replaced by ``letter_embeddings`` (no model load), for tests of
    what embeds (the student, "similar" examples, the pool classifier): a test module uses it with
    ``pytestmark = pytest.mark.usefixtures("letter_encoder")``."""
    from fabricator.evaluation.student import embeddings

    monkeypatch.setattr(embeddings, "embed_texts", letter_embeddings)
