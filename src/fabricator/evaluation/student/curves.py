"""Learning curves: students trained on growing nested samples of generated (and gold) data."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from fabricator.errors import ConfigError

from .checks import LabelMismatchError, TooFewRowsError, check_classes, prepare_labeled
from .options import StudentOptions, resolve
from .results import LearningCurve, LearningCurvePoint
from .selection import CONFIDENCE_COLUMN, keep_confident
from .training import fit_and_score

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_SIZES", "CurveData", "CurveOptions", "learning_curve"]

DEFAULT_SIZES = (50, 100, 200, 500)


def _parse_sizes(sizes: Iterable[int]) -> list[int]:
    try:
        out = sorted({int(s) for s in sizes})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"learning-curve sizes must be integers, got {sizes!r}") from exc
    if not out or out[0] < 1:
        raise ConfigError(f"learning-curve sizes must be positive integers, got {sizes!r}")
    return out


@dataclass(frozen=True)
class CurveData:
    """Which columns of the data ``learning_curve`` reads, the task's labels, and the confidence
    filter of the generated rows (as in :func:`train_student`)."""

    text_column: str = "text"
    label_column: str = "label"
    labels: Sequence[str] | None = None
    min_confidence: float | None = None
    confidence_column: str = CONFIDENCE_COLUMN


class CurveOptions(StudentOptions, total=False):
    """The keywords of ``learning_curve``: ``CurveData``'s fields and the training keywords."""

    text_column: str
    label_column: str
    labels: Sequence[str] | None
    min_confidence: float | None
    confidence_column: str


_DATA_FIELDS = frozenset(f.name for f in fields(CurveData))


def _prepare(
    sources: list[tuple[str, Any, str]], test_labels: list[str], data: CurveData
) -> list[tuple[str, list[str], list[str], Any]]:
    """Each source's texts, labels and label order; the whole of each must be usable."""
    prepared = []
    for source, dataset, role in sources:
        texts, labels_of, order = prepare_labeled(
            dataset, text_column=data.text_column, label_column=data.label_column, role=role
        )
        check_classes(labels_of, test_labels, order, data.labels)
        prepared.append((source, texts, labels_of, order))
    return prepared


def learning_curve(
    train: Any,
    test: Any,
    sizes: Iterable[int] = DEFAULT_SIZES,
    gold_train: Any | None = None,
    *,
    seed: int = 0,
    sampling: str = "random",
    **options: Unpack[CurveOptions],
) -> LearningCurve:
    """Students trained on ``n`` rows of the generated data (and of ``gold_train``) per size.

    ``sampling="random"`` takes the first ``n`` rows of a shuffle seeded with ``seed`` (so the
    samples are nested and repeatable); ``"first"`` takes the first ``n`` rows as stored. Sizes
    larger than a dataset, and samples with a single class or a class with fewer than 2 rows,
    are recorded in ``skipped`` instead of failing the curve; every other bad input raises
    :class:`ConfigError` before training. ``text_column``, ``label_column``, ``labels`` and the
    training keywords (``method``, ``C``, ...: :class:`StudentOptions`) work as in
    :func:`train_student`; so does ``min_confidence``, which filters the generated data (never
    ``gold_train``) before sampling.
    """
    if sampling not in ("random", "first"):
        raise ConfigError(f"unknown sampling {sampling!r}", hint="use 'random' or 'first'")
    data = CurveData(**{k: v for k, v in options.items() if k in _DATA_FIELDS})  # type: ignore[arg-type]
    settings = resolve("learning_curve", {k: v for k, v in options.items() if k not in _DATA_FIELDS})
    size_list = _parse_sizes(sizes)
    if data.min_confidence is not None:
        train, _ = keep_confident(train, data.min_confidence, column=data.confidence_column)
    test_texts, test_labels, _ = prepare_labeled(
        test, text_column=data.text_column, label_column=data.label_column, role="test"
    )
    sources = [("generated", train, "training")]
    if gold_train is not None:
        sources.append(("gold", gold_train, "gold training"))
    prepared = _prepare(sources, test_labels, data)
    curve = LearningCurve(
        points=[],
        sizes=size_list,
        seed=seed,
        method=settings.method,
        sampling=sampling,
        n_test=len(test_texts),
    )
    for source, texts, source_labels, order in prepared:
        index = list(range(len(texts)))
        if sampling == "random":
            random.Random(seed).shuffle(index)
        for n in size_list:
            if n > len(texts):
                curve.skipped.append({"source": source, "n": n, "reason": f"only {len(texts)} rows"})
                continue
            picked = index[:n]
            try:
                result = fit_and_score(
                    [texts[i] for i in picked],
                    [source_labels[i] for i in picked],
                    test_texts,
                    test_labels,
                    order,
                    seed=seed,
                    settings=settings,
                    labels=data.labels,
                )
            except (TooFewRowsError, LabelMismatchError) as exc:  # this sample, not the data
                curve.skipped.append({"source": source, "n": n, "reason": exc.message})
                continue
            curve.points.append(
                LearningCurvePoint(
                    source=source,
                    n=n,
                    accuracy=result.accuracy,
                    macro_f1=result.macro_f1,
                    seconds=result.timings["total_s"],
                )
            )
    return curve
