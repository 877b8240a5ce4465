"""What a student evaluation returns: one trained student's scores, and a learning curve."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LearningCurve", "LearningCurvePoint", "StudentResult"]


@dataclass
class StudentResult:
    """Scores of a student classifier trained on ``train`` and evaluated on ``test``.

    ``per_class`` maps each label name to precision/recall/f1/support; ``confusion_matrix`` has
    ``labels`` (rows: gold, columns: predicted, same order) and ``matrix``. ``timings`` holds
    seconds: ``embed_s`` (embeddings method, model load included), ``fit_s``, ``predict_s``,
    ``total_s``. ``metrics`` is the full :func:`classification_metrics` result.
    """

    method: str
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: dict[str, dict[str, float]]
    confusion_matrix: dict[str, Any]
    labels: list[str]
    n_train: int
    n_test: int
    seed: int
    timings: dict[str, float]
    train_label_counts: dict[str, int] = field(default_factory=dict)
    #: classes of ``labels=`` the student was not trained on (absent, or too few rows to learn):
    #: their test rows count as wrong
    untrained_labels: list[str] = field(default_factory=list)
    #: with ``min_confidence``: the threshold, ``column``, ``rows`` before, ``kept`` and ``coverage``
    confidence_filter: dict[str, Any] | None = None
    predictions: list[str] = field(default_factory=list, repr=False)
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)
    model: str = ""

    def class_rows(self, fmt: Callable[[float], str]) -> list[list[Any]]:
        """Cells of a per-class table: label, training rows, then precision, recall and F1
        through ``fmt``, then test support; one row per label of ``per_class``."""
        counts = self.train_label_counts
        return [
            [label, counts.get(label, 0), fmt(s["precision"]), fmt(s["recall"]), fmt(s["f1"]), s["support"]]
            for label, s in self.per_class.items()
        ]

    def to_dict(self, *, predictions: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``predictions=True`` keeps the predicted label of every test row."""
        data = asdict(self)
        if not predictions:
            data.pop("predictions")
        return data


@dataclass
class LearningCurvePoint:
    source: str  # "generated" or "gold"
    n: int
    accuracy: float
    macro_f1: float
    seconds: float


@dataclass
class LearningCurve:
    """Accuracy and macro-F1 of students trained on the first ``n`` rows of a seeded shuffle.

    The samples are nested: the 100 rows include the 50. ``skipped`` lists the points that were
    not trained, with why (``n`` larger than the data, or too few rows of a class in the sample).
    """

    points: list[LearningCurvePoint]
    sizes: list[int]
    seed: int
    method: str
    sampling: str
    n_test: int
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def sources(self) -> list[str]:
        return [s for s in ("generated", "gold") if any(p.source == s for p in self.points)]

    def series(self, source: str) -> list[LearningCurvePoint]:
        return sorted((p for p in self.points if p.source == source), key=lambda p: p.n)

    def table(self) -> list[dict[str, Any]]:
        """One row per size: ``n``, ``<source>_accuracy`` and ``<source>_macro_f1`` if trained."""
        rows: dict[int, dict[str, Any]] = {}
        for p in self.points:
            row = rows.setdefault(p.n, {"n": p.n})
            row[f"{p.source}_accuracy"] = p.accuracy
            row[f"{p.source}_macro_f1"] = p.macro_f1
        return [rows[n] for n in sorted(rows)]

    def score_rows(self, fmt: Callable[[float | None], str]) -> list[list[Any]]:
        """:meth:`table` as cells for a printed table: ``n``, then per source of :meth:`sources`
        its accuracy and macro-F1 through ``fmt`` (``None`` where that point was not trained)."""
        sources = self.sources()
        return [
            [row["n"], *(fmt(row.get(f"{s}_{m}")) for s in sources for m in ("accuracy", "macro_f1"))]
            for row in self.table()
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
