"""Extractive QA metrics: SQuAD exact match and token F1, maximised over the gold answers.

Normalization lowercases, drops punctuation and the articles a/an/the, and collapses whitespace.
Two empty answers match (the SQuAD 2.0 rule, for unanswerable questions).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

from fabricator.errors import ConfigError

__all__ = ["exact_match", "normalize_answer", "qa_metrics", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(ground_truths: str | Sequence[str]) -> list[str]:
    if isinstance(ground_truths, str):
        return [ground_truths]
    golds = [g for g in ground_truths if isinstance(g, str)]
    return golds or [""]  # no gold answer: only an empty prediction is right


def exact_match(prediction: str | None, ground_truths: str | Sequence[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer."""
    if prediction is None:
        return 0.0
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(g) for g in _golds(ground_truths)))


def _f1_one(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str | None, ground_truths: str | Sequence[str]) -> float:
    """The best bag-of-tokens F1 between the prediction and any gold answer (SQuAD)."""
    if prediction is None:
        return 0.0
    return max(_f1_one(prediction, g) for g in _golds(ground_truths))


def qa_metrics(
    predictions: Sequence[str | None], references: Sequence[str | Sequence[str]]
) -> dict[str, Any]:
    """Mean exact match and token F1 over questions; ``None`` predictions are missing (0)."""
    if len(predictions) != len(references):
        raise ConfigError(f"{len(references)} gold answers but {len(predictions)} predictions")
    n = len(references)
    if n == 0:
        raise ConfigError("nothing to evaluate: no rows")
    em = sum(exact_match(p, g) for p, g in zip(predictions, references, strict=False))
    f1 = sum(token_f1(p, g) for p, g in zip(predictions, references, strict=False))
    return {
        "n": n,
        "n_missing": sum(p is None for p in predictions),
        "exact_match": em / n,
        "f1": f1 / n,
    }
