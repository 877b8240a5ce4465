from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def sentiment_fewshot() -> Dataset:
    return Dataset.from_dict({
        "text": ["A delight from start to end.", "Dull and far too long.", "I loved every minute.",
                 "The plot made no sense.", "Great acting, great score.", "A waste of two hours."],
        "label": ["positive", "negative", "positive", "negative", "positive", "negative"],
    })
