"""Score a predictions file against a gold file: read both, infer the task, align, compute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabricator.errors import ConfigError
from fabricator.evaluation.metrics.alignment import align, columns
from fabricator.evaluation.metrics.confidence import expected_calibration_error, risk_coverage
from fabricator.evaluation.metrics.entities import ner_metrics
from fabricator.evaluation.metrics.labels import classification_metrics
from fabricator.evaluation.metrics.qa import qa_metrics
from fabricator.evaluation.metrics.values import (
    classification_values,
    confidence_values,
    ner_values,
    qa_values,
)
from fabricator.tables import read_records as read_table_records

__all__ = ["CONFIDENCE_COLUMN", "TASKS", "confidence_summary", "evaluate_files", "infer_task", "read_records"]

TASKS = ("classification", "ner", "qa")
CONFIDENCE_COLUMN = "confidence"  # the probability of the chosen label, written by label scoring
_DEFAULT_COLUMNS = {"classification": "label", "ner": "ner_tags", "qa": "answers"}
# columns that hold a label or an answer: never used to align rows
_ANSWER_COLUMNS = (
    "label",
    "ner_tags",
    "answers",
    "answer",
    "answer_start",
    "prediction",
    "prediction_text",
)


def read_records(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL/JSON, CSV/TSV, Parquet file or a ``save_to_disk`` folder, as plain dicts.

    The reader of ``fabricator generate`` too (:func:`fabricator.tables.read_records`), so both
    accept and refuse the same files. ``ClassLabel`` ids become names; ``split`` picks one split
    of a saved ``DatasetDict``.
    """
    return read_table_records(path, split)


def infer_task(gold_rows: Sequence[Mapping[str, Any]], label_column: str | None = None) -> str:
    """``qa`` for an ``answers`` column, ``ner`` for ``ner_tags``, ``classification`` for ``label``.

    With ``label_column`` the kind of its values decides: a dict of answers -> qa, a list of tags
    -> ner, anything else -> classification.
    """
    names = columns(gold_rows)
    if label_column is not None:
        if label_column not in names:
            raise ConfigError(f"the gold file has no column {label_column!r} (columns: {names})")
        value = next((r[label_column] for r in gold_rows if r.get(label_column) is not None), None)
        if isinstance(value, Mapping):
            return "qa"
        if isinstance(value, list):
            return "ner"
        return "classification"
    for column, task in (("answers", "qa"), ("ner_tags", "ner"), ("label", "classification")):
        if column in names:
            return task
    raise ConfigError(
        f"cannot tell the task from the gold columns {names}",
        hint="pass task= (classification, ner, qa) and label_column=",
    )


def evaluate_files(
    predictions_path: str | Path,
    gold_path: str | Path,
    task: str | None = None,
    *,
    label_column: str | None = None,
    prediction_column: str | None = None,
    id_column: str | None = None,
    split: str | None = None,
    confidence_column: str | None = None,
) -> dict[str, Any]:
    """Score a predictions file against a gold file and return a result dict.

    Files are JSONL/JSON, CSV/TSV or ``save_to_disk`` folders (see :func:`read_records`). Rows are
    aligned by ``id_column`` (default: ``id`` or ``idx`` when both files have it on every row),
    else by order when the files line up, else by the input columns both files share (so a
    generator output that left failed rows out still aligns; the missing rows count as missing),
    and when none of that works a :class:`ConfigError` explains the length mismatch. ``task`` is
    inferred from the gold columns unless given. ``label_column`` names the gold column (default
    ``label`` / ``ner_tags`` / ``answers``) and ``prediction_column`` the predicted one (default:
    the same name). For NER a predictions file may hold ``spans`` (or span strings such as
    ``"EU is ORG."`` in the tag column) instead of tags; they are placed on the gold tokens, and
    spans that cannot be placed make the row missing.
    Predictions with a non-empty ``error`` or no value count as missing.

    Classification predictions with a confidence column (``confidence_column``, default
    ``confidence`` when the file has it) add ``result["confidence"]``: :func:`confidence_summary`
    of the rows that have a prediction and a confidence, each confidence taken from the
    prediction row aligned with its gold row. Naming a column the predictions lack is an error.
    """
    gold = read_records(gold_path, split)
    predictions = read_records(predictions_path, split)
    if not gold:
        raise ConfigError(f"the gold file {gold_path} has no rows")
    if task is None:
        task = infer_task(gold, label_column)
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}", hint=f"choose one of {list(TASKS)}")
    column = label_column or _DEFAULT_COLUMNS[task]
    if column not in columns(gold):
        raise ConfigError(f"the gold file has no column {column!r} (columns: {columns(gold)})")
    pred_column = prediction_column or column
    conf_column = confidence_column or CONFIDENCE_COLUMN
    if confidence_column is not None and predictions and conf_column not in columns(predictions):
        raise ConfigError(
            f"the predictions have no confidence column {conf_column!r} (columns: {columns(predictions)})",
            hint="pass the right confidence_column= (--confidence-column), or leave it out",
        )
    exclude = {column, pred_column, conf_column, "error", "spans", *_ANSWER_COLUMNS}
    aligned, info = align(predictions, gold, id_column, exclude)
    pair = _Aligned(task, gold, predictions, aligned)
    metrics, confidence = pair.score(column, pred_column, conf_column)

    return {
        "task": task,
        "predictions": str(predictions_path),
        "gold": str(gold_path),
        "label_column": column,
        "n_gold": len(gold),
        "n_predictions": len(predictions),
        **info,
        "n_missing": metrics["n_missing"],
        "metrics": metrics,
        **({"confidence": confidence} if confidence is not None else {}),
    }


@dataclass(frozen=True)
class _Aligned:
    """The gold rows and, for each, the prediction row aligned with it (``None``: missing)."""

    task: str
    gold: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    aligned: Any

    def score(
        self, column: str, pred_column: str, conf_column: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The task's metrics, and the confidence summary where classification predictions have one."""
        gold, aligned = self.gold, self.aligned
        if self.task == "qa":
            return qa_metrics(*qa_values(gold, aligned, column, pred_column)), None
        predicted = columns(self.predictions)
        if (
            self.predictions
            and pred_column not in predicted
            and not (self.task == "ner" and "spans" in predicted)
        ):
            raise ConfigError(
                f"the predictions have no column {pred_column!r} (columns: {predicted})",
                hint="pass prediction_column= (--prediction-column)",
            )
        if self.task != "classification":
            return ner_metrics(*ner_values(gold, aligned, column, pred_column)), None
        metrics = classification_metrics(*classification_values(gold, aligned, column, pred_column))
        if conf_column not in predicted:
            return metrics, None
        correct, values = confidence_values(gold, aligned, column, pred_column, conf_column)
        return metrics, confidence_summary(correct, values, column=conf_column, n_rows=len(gold))


def confidence_summary(
    correct: Sequence[bool], confidence: Sequence[float], *, column: str, n_rows: int, bins: int = 10
) -> dict[str, Any]:
    """ECE with its bins and the risk–coverage table of the rows that have a confidence.

    ``n`` rows of ``n_rows`` gold rows had a prediction and a confidence; with none, ``n`` is 0
    and there are no numbers (the file had the column but left it empty).
    """
    n = len(correct)
    summary: dict[str, Any] = {"column": column, "n": n, "n_without_confidence": n_rows - n}
    if not correct:
        return summary
    calibration = expected_calibration_error(confidence, correct, bins=bins)
    curve = risk_coverage(correct, confidence)
    return {
        **summary,
        "ece": calibration.ece,
        "bins": calibration.to_dict()["bins"],
        "aurc": curve.aurc,
        "risk_coverage": curve.to_dict()["points"],
    }
