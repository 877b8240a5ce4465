"""Train one student on labelled texts and score it on the test texts: :func:`train_student`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fabricator.evaluation.metrics.labels import classification_metrics

from .checks import check_classes, prepare_labeled
from .classifier import fit_embeddings
from .finetune import fit_finetune
from .options import Settings, resolve
from .results import StudentResult
from .selection import CONFIDENCE_COLUMN, keep_confident

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import StudentOptions

__all__ = ["fit_and_score", "train_student"]


def fit_and_score(
    train_texts: list[str],
    train_labels: list[str],
    test_texts: list[str],
    test_labels: list[str],
    order: Sequence[str] | None,
    *,
    seed: int,
    settings: Settings,
    labels: Sequence[str] | None = None,
) -> StudentResult:
    """Check the classes, train the student on checked rows and score its test predictions."""
    start = time.perf_counter()
    classes = check_classes(train_labels, test_labels, order, labels)
    scored = list(labels) if labels is not None else classes
    untrained = [label for label in scored if label not in classes]
    # a class the student cannot learn is trained without its few rows; a canonical order makes
    # the student a function of the rows, not of their order (CV folds, SGD batches)
    rows = zip(train_texts, train_labels, strict=True)
    pairs = sorted((label, text) for text, label in rows if label in classes)
    train_labels = [label for label, _ in pairs]
    train_texts = [text for _, text in pairs]
    if settings.method == "embeddings":
        predictions, timings, model = fit_embeddings(
            train_texts, train_labels, test_texts, seed=seed, settings=settings
        )
    else:
        predictions, timings, model = fit_finetune(
            train_texts, train_labels, test_texts, classes, seed=seed, settings=settings
        )
    metrics = classification_metrics(test_labels, predictions, labels=scored)
    timings["total_s"] = time.perf_counter() - start
    counts = Counter(train_labels)
    return StudentResult(
        method=settings.method,
        accuracy=metrics["accuracy"],
        macro_f1=metrics["macro_f1"],
        weighted_f1=metrics["weighted_f1"],
        per_class=metrics["per_class"],
        confusion_matrix={
            "labels": metrics["confusion_matrix"]["labels"],
            "matrix": metrics["confusion_matrix"]["matrix"],
        },
        labels=list(scored),
        n_train=len(train_texts),
        n_test=len(test_texts),
        seed=seed,
        timings={k: round(v, 4) for k, v in timings.items()},
        train_label_counts={c: counts[c] for c in classes},
        untrained_labels=untrained,
        predictions=predictions,
        metrics=metrics,
        model=model,
    )


def train_student(
    train: Any,
    test: Any,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 0,
    labels: Sequence[str] | None = None,
    min_confidence: float | None = None,
    confidence_column: str = CONFIDENCE_COLUMN,
    **options: Unpack[StudentOptions],
) -> StudentResult:
    """Train a student classifier on ``train`` and score it on ``test`` (both ``Dataset``).

    ``method="embeddings"`` (default): frozen all-MiniLM-L6-v2 embeddings + LogisticRegression;
    ``C="auto"`` picks the inverse regularisation strength from ``C_GRID`` by stratified k-fold
    cross-validation on the training data only (k = min(5, rows of the smallest class)); a number
    fixes it. ``method="finetune"``: fine-tune ``model`` (default: the bundled
    MiniLM encoder; a local folder or a Hub name) for ``epochs`` with AdamW at ``learning_rate``.
    ``model`` also replaces the encoder of the embeddings method (a local sentence-transformers
    folder: the embeddings method never downloads). ``device`` defaults to CUDA when available.
    All training keywords and their defaults: :class:`StudentOptions`.

    ``labels``: the task's full label set, for data that may lack a class (an annotator that never
    answers one). Without it, a test label missing from the training data is an error. With it,
    the student is trained on the classes that have at least 2 rows, the others are listed in
    ``untrained_labels``, and their test rows count as wrong; scores cover every label.
    ``min_confidence``: train only on the rows of ``train`` whose ``confidence_column`` (written
    by label scoring) is at least this; ``confidence_filter`` of the result says how many were
    kept (:func:`keep_confident`).
    Raises :class:`ConfigError` for bad input before any training.
    """
    settings = resolve("train_student", options)
    selected = None
    if min_confidence is not None:
        train, selected = keep_confident(train, min_confidence, column=confidence_column)
    train_texts, train_labels, order = prepare_labeled(
        train, text_column=text_column, label_column=label_column, role="training"
    )
    test_texts, test_labels, _ = prepare_labeled(
        test, text_column=text_column, label_column=label_column, role="test"
    )
    result = fit_and_score(
        train_texts, train_labels, test_texts, test_labels, order, seed=seed, settings=settings, labels=labels
    )
    result.confidence_filter = selected
    return result
