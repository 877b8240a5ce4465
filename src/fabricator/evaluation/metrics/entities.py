"""Entity (NER, BIO tags) metrics with seqeval's default conventions.

An entity is a ``(type, first, last)`` chunk from :func:`fabricator.parsing.tags_to_chunks` and
counts only when type, start and end all match; plus token accuracy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fabricator.errors import ConfigError
from fabricator.parsing import split_tag, tags_to_chunks

__all__ = ["ner_metrics"]


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    return set(tags_to_chunks(tags))


def _averages(per_type: dict[str, dict[str, Any]], support: int) -> dict[str, dict[str, float]]:
    """seqeval's macro (plain mean over types) and weighted (by gold support) averages."""
    types = list(per_type)
    macro: dict[str, float] = {}
    weighted: dict[str, float] = {}
    for key in ("precision", "recall", "f1"):
        values = [per_type[t][key] for t in types]
        macro[key] = sum(values) / len(values) if values else 0.0
        weighted_sum = sum(v * per_type[t]["support"] for v, t in zip(values, types, strict=True))
        weighted[key] = weighted_sum / support if support else 0.0
    return {"macro_avg": macro, "weighted_avg": weighted}


def ner_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str] | None]) -> dict[str, Any]:
    """Entity-level precision/recall/F1 (micro, per type, macro, weighted) for BIO sequences.

    Agrees with seqeval's default mode (``f1_score``, ``classification_report``): an entity is a
    ``(type, first, last)`` chunk and counts when it matches exactly. The per-type table covers the
    union of gold and predicted types. A ``None`` prediction is missing and predicts no entity.
    """
    if len(y_true) != len(y_pred):
        raise ConfigError(f"{len(y_true)} gold sequences but {len(y_pred)} predictions")
    true_by_type: Counter[str] = Counter()
    pred_by_type: Counter[str] = Counter()
    tp_by_type: Counter[str] = Counter()
    n_missing = tokens = correct_tokens = 0
    for row, (gold, pred) in enumerate(zip(y_true, y_pred, strict=False)):
        if gold is None:
            raise ConfigError(f"row {row}: the gold tags are missing")
        if pred is None:
            n_missing += 1
            pred = ["O"] * len(gold)
        if len(gold) != len(pred):
            raise ConfigError(f"row {row}: {len(gold)} gold tags but {len(pred)} predicted tags")
        for position, tag in enumerate(pred):
            split_tag(tag, position)
        gold_entities, pred_entities = _entities(gold), _entities(pred)
        for type_, _, _ in gold_entities:
            true_by_type[type_] += 1
        for type_, _, _ in pred_entities:
            pred_by_type[type_] += 1
        for type_, _, _ in gold_entities & pred_entities:
            tp_by_type[type_] += 1
        tokens += len(gold)
        correct_tokens += sum(g == p for g, p in zip(gold, pred, strict=False))

    per_type: dict[str, dict[str, Any]] = {}
    for type_ in sorted(set(true_by_type) | set(pred_by_type)):
        p, r, f = _prf(tp_by_type[type_], pred_by_type[type_], true_by_type[type_])
        per_type[type_] = {"precision": p, "recall": r, "f1": f, "support": true_by_type[type_]}
    support = sum(true_by_type.values())
    precision, recall, f1 = _prf(sum(tp_by_type.values()), sum(pred_by_type.values()), support)
    return {
        "n": len(y_true),
        "n_missing": n_missing,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "n_predicted_entities": sum(pred_by_type.values()),
        "token_accuracy": correct_tokens / tokens if tokens else 0.0,
        "per_type": per_type,
        **_averages(per_type, support),
    }
