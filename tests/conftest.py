from __future__ import annotations

import os
from pathlib import Path

import pytest
from datasets import Dataset

REPO = Path(__file__).resolve().parents[1]
#: The shared benchmark data (SST-2, CoNLL-2003, TREC, ...) beside the repository, defined once for
#: every test file. ``FABRICATOR_SHARED_DATA`` points elsewhere (a missing folder: run as a machine
#: without it would).
SHARED_DATA = Path(os.environ.get("FABRICATOR_SHARED_DATA") or REPO.parent / "shared" / "data")


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
