"""Assembly: the rows of a run become a ``datasets.Dataset`` with proper features.

Scored annotations are settled here, over the whole run (votes, calibration, ``min_confidence``);
each row's provenance goes to the report.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from datasets import ClassLabel, Dataset, Features, Value

from ..execution.work import Failure, FailureKind, Row
from ..options import SamplingOptions
from ..report import GenerationReport
from ..scoring.settle import Tuning, label_column, settle
from .filters.judge import judge_columns
from .task import Task

if TYPE_CHECKING:
    from .tune.pool_mix import PoolMix

log = logging.getLogger("fabricator")


def finish(
    rows: dict[int, Row],
    task: Task,
    wanted: int,
    with_original: bool,
    report: GenerationReport,
    sampling: SamplingOptions | None = None,
) -> Dataset | tuple[Dataset, Dataset]:
    """The dataset of the rows made (in row order); their provenance goes to ``report``.

    Scored annotations are calibrated and filtered by ``min_confidence`` here, over the whole run;
    rows below it become failures of kind ``LowConfidence`` (nothing is lost).
    """
    ordered = [rows[i] for i in sorted(rows)][:wanted]
    if task.scoring is not None and sampling is not None:
        ordered = _settle(ordered, task, report, sampling)
    dataset = to_dataset(ordered, task)
    report.provenance = [r.provenance for r in ordered]
    if not with_original:
        return dataset
    if task.unlabeled is None:
        return dataset, Dataset.from_dict({})
    return dataset, task.unlabeled.select([r.source for r in ordered])


def _settle(ordered: list[Row], task: Task, report: GenerationReport, sampling: SamplingOptions) -> list[Row]:
    column = label_column(task.format)
    pool = task.tuned.pool if task.tuned is not None else None
    mixed = pool if pool is not None and pool.weight > 0 else None  # weight 0: the teacher alone
    settled = settle(
        ordered,
        column,
        task.prompt.label_options or [],
        calibration=sampling.calibration,
        min_confidence=sampling.min_confidence,
        target=_pool_frequencies(task),
        tuning=Tuning(
            task.tuned.temperature if task.tuned is not None else 1.0,
            _pool_scores(ordered, task.unlabeled_rows or [], mixed) if mixed is not None else None,
            mixed.weight if mixed is not None else 0.0,
        ),
    )
    if mixed is not None:
        report.pool_changed = settled.pool_changed
    if sampling.calibration != "off":
        report.calibration_changed = settled.changed
    if sampling.min_confidence is not None:
        report.unsure = len(settled.unsure)
        known = {f.index for f in report.failures}
        for row, confidence in settled.unsure:
            index = row.provenance.get("row", -1)
            if index not in known:
                report.failures.append(
                    Failure(
                        index,
                        f"confidence {confidence:.3f} is below min_confidence {sampling.min_confidence}",
                        FailureKind.LOW_CONFIDENCE,
                        str(row[column]),
                        row.source,
                    )
                )
        report.failures.sort(key=lambda f: f.index)
        report.rows = len(settled.rows)
    return settled.rows


def _pool_scores(
    ordered: list[Row], inputs: list[dict[str, Any]], pool: PoolMix
) -> list[dict[str, float] | None]:
    """The pool classifier's scores of each row's input row (``None``: a row with none)."""
    return pool.scores([inputs[r.source] if r.source is not None else None for r in ordered])


def _pool_frequencies(task: Task) -> dict[str, float] | None:
    """The labels' shares in the labelled few-shot pool (calibration's target), if there is one."""
    pool, labels = task.pool, task.prompt.label_options or []
    if pool is None or not labels:
        return None
    column = label_column(task.format)
    counts = Counter(str(row.get(column)) for row in pool.rows)
    if not set(counts) <= set(labels):  # not labelled with the options (or not labelled at all)
        return None
    total = sum(counts.values()) + len(labels)  # add-one: no label is ruled out
    return {label: (counts[label] + 1) / total for label in labels}


def to_dataset(rows: list[Row], task: Task) -> Dataset:
    """The rows with their features: the input columns' own, then the format's."""
    features: dict[str, Any] = {}
    if task.unlabeled is not None:
        for c in task.prompt.input_columns:
            features[c] = task.unlabeled.features[c]
    features.update(task.format.features())
    if task.scoring is not None:
        features["confidence"] = Value("float32")  # the probability of the row's label
    judged = judge_columns(task)  # each criterion's expected score (None: a row never judged)
    features.update({column: Value("float32") for column in judged})
    for column, feature in features.items():
        if isinstance(feature, ClassLabel) and not _all_labels(rows, column, feature.names):
            features[column] = Value("string")
    columns = {c: [r.values.get(c) if c in judged else r[c] for r in rows] for c in features}
    return Dataset.from_dict(columns, features=Features(features))


def _all_labels(rows: list[Row], column: str, names: Sequence[str]) -> bool:
    """Whether every value is a label; else (a dry run's dummy text) the column is text."""
    known = set(names)
    if all(not isinstance(r[column], str) or r[column] in known for r in rows):
        return True
    log.warning(
        "dry run: the dummy response is not one of the label options %s; the %r column "
        "is returned as plain text",
        sorted(known),
        column,
    )
    return False


__all__ = ["finish", "to_dataset"]
