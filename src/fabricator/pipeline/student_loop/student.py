"""The loop's student: the default student (frozen MiniLM embeddings + LogisticRegression, its C
chosen by cross-validation on the training rows), trained on the rows kept so far and tested on
the pool's test rows. ``predict`` is looked up when called, so a test can hand in its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...evaluation.metrics.labels import classification_metrics
from ...evaluation.student import TooFewRowsError
from ...evaluation.student.options import resolve
from ...evaluation.student.training import fit_and_score


@dataclass(frozen=True)
class Labelled:
    """Texts and their labels, in one order."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Scored:
    """A student's test predictions and its scores on them."""

    predictions: tuple[str, ...]
    accuracy: float
    macro_f1: float
    recall: dict[str, float]


def predict(train: Labelled, test: Labelled, labels: Sequence[str], seed: int) -> list[str]:
    """The default student's label of each test text (``TooFewRowsError`` when it cannot learn:
    fewer than 2 labels with 2 rows each). A label with too few rows is left out of training."""
    settings = resolve("student_loop", {})
    result = fit_and_score(
        list(train.texts), list(train.labels), list(test.texts), list(test.labels), None,
        seed=seed, settings=settings, labels=list(labels),
    )  # fmt: skip
    return result.predictions


def score(train: Labelled, test: Labelled, labels: Sequence[str], seed: int) -> Scored | str:
    """The student trained on ``train`` and scored on ``test``; why not, as a sentence, when the
    rows kept so far cannot train one."""
    try:
        predictions = predict(train, test, labels, seed)
    except TooFewRowsError as exc:
        return f"no student: {exc.message}"
    metrics = classification_metrics(list(test.labels), predictions, labels=list(labels))
    recall = {label: round(float(s["recall"]), 4) for label, s in metrics["per_class"].items()}
    return Scored(tuple(predictions), float(metrics["accuracy"]), float(metrics["macro_f1"]), recall)


__all__ = ["Labelled", "Scored", "predict", "score"]
