"""Label (classification) metrics: scikit-learn's numbers, with failed predictions kept as wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fabricator.errors import ConfigError

__all__ = ["classification_metrics"]

_MISSING = "\x00missing"  # stands in for a failed prediction inside scikit-learn


def _sklearn_metrics() -> Any:
    try:
        from sklearn import metrics
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "label metrics need scikit-learn, which is not installed",
            hint="pip install 'fabricator-data[eval]'",
        ) from exc
    return metrics


def classification_metrics(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> dict[str, Any]:
    """Accuracy, macro/weighted scores, per-class scores and confusion matrix (scikit-learn).

    ``labels`` fixes the classes and their order; by default it is the sorted union of gold and
    predicted labels (scikit-learn's default). ``None`` predictions are missing: wrong, and kept
    out of the label set (the confusion matrix gets a ``(missing)`` column for them).
    """
    if len(y_true) != len(y_pred):
        raise ConfigError(f"{len(y_true)} gold labels but {len(y_pred)} predictions")
    if any(label is None for label in y_true):
        raise ConfigError("a gold label is missing (None)", hint="drop unlabeled gold rows first")
    metrics = _sklearn_metrics()
    n_missing = sum(p is None for p in y_pred)
    if labels is None:
        try:
            labels = sorted(set(y_true) | {p for p in y_pred if p is not None})
        except TypeError as exc:
            raise ConfigError("gold and predicted labels mix types (e.g. ints and strings)") from exc
    labels = list(labels)
    if not labels:
        raise ConfigError("no labels to evaluate")
    pred = [_MISSING if p is None else p for p in y_pred]
    true = list(y_true)
    n = len(true)
    result: dict[str, Any] = {"n": n, "n_missing": n_missing}
    if n == 0:
        raise ConfigError("nothing to evaluate: no rows")
    result["accuracy"] = float(sum(t == p for t, p in zip(true, pred, strict=False)) / n)
    p, r, f, s = metrics.precision_recall_fscore_support(
        true, pred, labels=labels, average=None, zero_division=0
    )
    for average in ("macro", "weighted", "micro"):
        ap, ar, af, _ = metrics.precision_recall_fscore_support(
            true, pred, labels=labels, average=average, zero_division=0
        )
        result[f"{average}_precision"] = float(ap)
        result[f"{average}_recall"] = float(ar)
        result[f"{average}_f1"] = float(af)
    result["per_class"] = {
        str(label): {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, label in enumerate(labels)
    }
    matrix_labels = labels + ([_MISSING] if n_missing else [])
    matrix = metrics.confusion_matrix(true, pred, labels=matrix_labels)
    result["confusion_matrix"] = {
        "labels": [str(label) for label in labels],
        "columns": [str(label) for label in labels] + (["(missing)"] if n_missing else []),
        "matrix": [[int(v) for v in row] for row in matrix[: len(labels)]],
    }
    return result
