"""The default student: frozen sentence embeddings + a scikit-learn LogisticRegression.

Its ``C`` is chosen by stratified cross-validation on the training data only, never on the test
data; the same rows and seed give the same classifier.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from fabricator.errors import ConfigError

from . import embeddings
from .embeddings import EXTRA_HINT

if TYPE_CHECKING:
    from .options import Settings

__all__ = ["C_GRID", "choose_C", "fit_embeddings"]

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def _sklearn() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise ConfigError(
            "the student classifier needs scikit-learn, which is not installed", hint=EXTRA_HINT
        ) from exc
    return LogisticRegression


def choose_C(x: Any, y: list[str], seed: int, max_iter: int) -> tuple[float, int]:
    """The C of ``C_GRID`` with the best mean cross-validated accuracy on the training data.

    Stratified k-fold with k = min(5, rows of the smallest class) (so >= 2), shuffled with
    ``seed``; ties go to the smaller C (stronger regularisation). Returns (C, k).
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(y)
    k = max(2, min(5, min(Counter(y).values())))
    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels))
    best, best_score = C_GRID[0], -1.0
    for c in C_GRID:
        scores = []
        for fit_idx, val_idx in folds:
            clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
            clf.fit(x[fit_idx], labels[fit_idx])
            scores.append(float((clf.predict(x[val_idx]) == labels[val_idx]).mean()))
        score = float(np.mean(scores))
        if score > best_score + 1e-12:
            best, best_score = c, score
    return best, k


def fit_embeddings(
    train_texts: list[str],
    train_labels: list[str],
    test_texts: list[str],
    *,
    seed: int,
    settings: Settings,
) -> tuple[list[str], dict[str, float], str]:
    """Predicted test labels, timings (seconds) and a description of the fitted student."""
    LogisticRegression = _sklearn()
    model, device, batch_size = settings.model, settings.device, settings.batch_size
    start = time.perf_counter()
    x_train = embeddings.embed_texts(train_texts, model=model, device=device, batch_size=batch_size)
    x_test = embeddings.embed_texts(test_texts, model=model, device=device, batch_size=batch_size)
    embedded = time.perf_counter()
    if settings.C == "auto":
        c, k = choose_C(x_train, train_labels, seed, settings.max_iter)
        how = f"C={c:g} chosen by {k}-fold CV on the training data"
    else:
        c = float(settings.C)
        how = f"C={c:g}"
    clf = LogisticRegression(C=c, max_iter=settings.max_iter, random_state=seed)
    clf.fit(x_train, train_labels)
    fitted = time.perf_counter()
    predictions = [str(p) for p in clf.predict(x_test)]
    done = time.perf_counter()
    timings = {"embed_s": embedded - start, "fit_s": fitted - embedded, "predict_s": done - fitted}
    name = model or "all-MiniLM-L6-v2"
    return predictions, timings, f"{name} embeddings + LogisticRegression({how})"
