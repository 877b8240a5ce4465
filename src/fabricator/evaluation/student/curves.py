"""Learning curves: students trained on growing nested samples of generated (and gold) data."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fabricator.errors import ConfigError

from .checks import LabelMismatchError, TooFewRowsError, check_classes, prepare_labeled
from .options import resolve
from .results import LearningCurve, LearningCurvePoint
from .selection import CONFIDENCE_COLUMN, keep_confident
from .training import fit_and_score

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import StudentOptions

__all__ = ["DEFAULT_SIZES", "learning_curve"]

DEFAULT_SIZES = (50, 100, 200, 500)


def _parse_sizes(sizes: Iterable[int]) -> list[int]:
    try:
        out = sorted({int(s) for s in sizes})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"learning-curve sizes must be integers, got {sizes!r}") from exc
    if not out or out[0] < 1:
        raise ConfigError(f"learning-curve sizes must be positive integers, got {sizes!r}")
    return out


def learning_curve(
    train: Any,
    test: Any,
    sizes: Iterable[int] = DEFAULT_SIZES,
    gold_train: Any | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 0,
    sampling: str = "random",
    labels: Sequence[str] | None = None,
    min_confidence: float | None = None,
    confidence_column: str = CONFIDENCE_COLUMN,
    **options: Unpack[StudentOptions],
) -> LearningCurve:
    """Students trained on ``n`` rows of the generated data (and of ``gold_train``) per size.

    ``sampling="random"`` takes the first ``n`` rows of a shuffle seeded with ``seed`` (so the
    samples are nested and repeatable); ``"first"`` takes the first ``n`` rows as stored. Sizes
    larger than a dataset, and samples with a single class or a class with fewer than 2 rows,
    are recorded in ``skipped`` instead of failing the curve; every other bad input raises
    :class:`ConfigError` before training. ``labels`` and the training keywords (``method``,
    ``C``, ...: :class:`StudentOptions`) work as in :func:`train_student`; so does
    ``min_confidence``, which filters the generated data (never ``gold_train``) before sampling.
    """
    if sampling not in ("random", "first"):
        raise ConfigError(f"unknown sampling {sampling!r}", hint="use 'random' or 'first'")
    settings = resolve("learning_curve", options)
    size_list = _parse_sizes(sizes)
    if min_confidence is not None:
        train, _ = keep_confident(train, min_confidence, column=confidence_column)
    test_texts, test_labels, _ = prepare_labeled(
        test, text_column=text_column, label_column=label_column, role="test"
    )
    sources = [("generated", train, "training")]
    if gold_train is not None:
        sources.append(("gold", gold_train, "gold training"))
    prepared = []
    for source, dataset, role in sources:
        texts, labels_of, order = prepare_labeled(
            dataset, text_column=text_column, label_column=label_column, role=role
        )
        check_classes(labels_of, test_labels, order, labels)  # the whole data set must be usable
        prepared.append((source, texts, labels_of, order))

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
                    labels=labels,
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
