"""How good are LLM annotations? Metrics against gold labels, and a file-level evaluator.

* labels (classification): accuracy, macro/weighted F1, per-class precision/recall/F1/support
  and the confusion matrix, computed with scikit-learn (same numbers as its functions).
* entities (NER, BIO tags): entity-level precision/recall/F1, micro and per type plus macro and
  weighted averages, with seqeval's default conventions (chunking by
  :func:`fabricator.parsing.tags_to_chunks`, an entity counts only when type, start and end all
  match), and token accuracy.
* extractive QA: exact match and token F1 with SQuAD normalization (lowercase, drop punctuation and
  the articles a/an/the, collapse whitespace), maximised over the gold answers. Two empty answers
  match (the SQuAD 2.0 rule, for unanswerable questions).

All scores are fractions in [0, 1]. A prediction that failed (``None``, or a row whose ``error``
column is set) is *missing*: it counts as wrong for labels and QA, and as "no entities" for NER,
so it lowers recall and never vanishes from the denominator.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fabricator.dataset_transformations.span_alignment import spans_to_bio
from fabricator.errors import ConfigError, ParseError
from fabricator.parsing import parse_entities, split_tag, tags_to_chunks

__all__ = [
    "TASKS",
    "classification_metrics",
    "evaluate_files",
    "exact_match",
    "format_report",
    "infer_task",
    "ner_metrics",
    "normalize_answer",
    "qa_metrics",
    "read_records",
    "token_f1",
]

TASKS = ("classification", "ner", "qa")
_MISSING = "\x00missing"  # stands in for a failed prediction inside scikit-learn
_ID_COLUMNS = ("id", "idx")
# columns that hold a label or an answer: never used to align rows
_ANSWER_COLUMNS = ("label", "ner_tags", "answers", "answer", "answer_start", "prediction",
                   "prediction_text")


def _sklearn_metrics() -> Any:
    try:
        from sklearn import metrics
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "label metrics need scikit-learn, which is not installed",
            hint="pip install 'fabricator-data[eval]'",
        ) from exc
    return metrics


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# --- labels -------------------------------------------------------------------------------------


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
            raise ConfigError(
                "gold and predicted labels mix types (e.g. ints and strings)"
            ) from exc
    labels = list(labels)
    if not labels:
        raise ConfigError("no labels to evaluate")
    pred = [_MISSING if p is None else p for p in y_pred]
    true = list(y_true)
    n = len(true)
    result: dict[str, Any] = {"n": n, "n_missing": n_missing}
    if n == 0:
        raise ConfigError("nothing to evaluate: no rows")
    result["accuracy"] = float(sum(t == p for t, p in zip(true, pred)) / n)
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


# --- entities -----------------------------------------------------------------------------------


def _entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    return set(tags_to_chunks(tags))


def ner_metrics(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str] | None]
) -> dict[str, Any]:
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
    for row, (gold, pred) in enumerate(zip(y_true, y_pred)):
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
        correct_tokens += sum(g == p for g, p in zip(gold, pred))

    types = sorted(set(true_by_type) | set(pred_by_type))
    per_type = {}
    for type_ in types:
        p, r, f = _prf(tp_by_type[type_], pred_by_type[type_], true_by_type[type_])
        per_type[type_] = {"precision": p, "recall": r, "f1": f, "support": true_by_type[type_]}
    precision, recall, f1 = _prf(
        sum(tp_by_type.values()), sum(pred_by_type.values()), sum(true_by_type.values())
    )
    support = sum(true_by_type.values())

    def average(weighted: bool) -> dict[str, float]:
        out = {}
        for key in ("precision", "recall", "f1"):
            values = [per_type[t][key] for t in types]
            if weighted:
                out[key] = (
                    sum(v * per_type[t]["support"] for v, t in zip(values, types)) / support
                    if support
                    else 0.0
                )
            else:
                out[key] = sum(values) / len(values) if values else 0.0
        return out

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
        "macro_avg": average(weighted=False),
        "weighted_avg": average(weighted=True),
    }


# --- extractive QA ------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(ground_truths: str | Sequence[str]) -> list[str]:
    if isinstance(ground_truths, str):
        return [ground_truths]
    golds = [g for g in ground_truths if isinstance(g, str)]
    return golds or [""]  # no gold answer: only an empty prediction is right


def exact_match(prediction: str | None, ground_truths: str | Sequence[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer."""
    if prediction is None:
        return 0.0
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(g) for g in _golds(ground_truths)))


def _f1_one(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str | None, ground_truths: str | Sequence[str]) -> float:
    """The best bag-of-tokens F1 between the prediction and any gold answer (SQuAD)."""
    if prediction is None:
        return 0.0
    return max(_f1_one(prediction, g) for g in _golds(ground_truths))


def qa_metrics(
    predictions: Sequence[str | None], references: Sequence[str | Sequence[str]]
) -> dict[str, Any]:
    """Mean exact match and token F1 over questions; ``None`` predictions are missing (0)."""
    if len(predictions) != len(references):
        raise ConfigError(f"{len(references)} gold answers but {len(predictions)} predictions")
    n = len(references)
    if n == 0:
        raise ConfigError("nothing to evaluate: no rows")
    em = sum(exact_match(p, g) for p, g in zip(predictions, references))
    f1 = sum(token_f1(p, g) for p, g in zip(predictions, references))
    return {
        "n": n,
        "n_missing": sum(p is None for p in predictions),
        "exact_match": em / n,
        "f1": f1 / n,
    }


# --- files --------------------------------------------------------------------------------------


def read_records(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL/JSON, CSV/TSV, Parquet file or a ``save_to_disk`` folder, as plain dicts.

    The reader of ``fabricator generate`` too (:func:`fabricator.tables.read_records`), so both
    accept and refuse the same files. ``ClassLabel`` ids become names; ``split`` picks one split
    of a saved ``DatasetDict``.
    """
    from fabricator.tables import read_records as read_table_records

    return read_table_records(path, split)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def infer_task(gold_rows: Sequence[Mapping[str, Any]], label_column: str | None = None) -> str:
    """``qa`` for an ``answers`` column, ``ner`` for ``ner_tags``, ``classification`` for ``label``.

    With ``label_column`` the kind of its values decides: a dict of answers -> qa, a list of tags
    -> ner, anything else -> classification.
    """
    columns = _columns(gold_rows)
    if label_column is not None:
        if label_column not in columns:
            raise ConfigError(f"the gold file has no column {label_column!r} (columns: {columns})")
        value = next((r[label_column] for r in gold_rows if r.get(label_column) is not None), None)
        if isinstance(value, Mapping):
            return "qa"
        if isinstance(value, list):
            return "ner"
        return "classification"
    if "answers" in columns:
        return "qa"
    if "ner_tags" in columns:
        return "ner"
    if "label" in columns:
        return "classification"
    raise ConfigError(
        f"cannot tell the task from the gold columns {columns}",
        hint="pass task= (classification, ner, qa) and label_column=",
    )


def _align(
    predictions: list[dict[str, Any]],
    gold: list[dict[str, Any]],
    id_column: str | None,
    exclude: set[str],
) -> tuple[list[dict[str, Any] | None], dict[str, Any]]:
    """Prediction row per gold row (``None`` when a gold row has no prediction).

    By ``id_column`` (or ``id``/``idx`` when both files have it); else by order when the files
    line up (same length, same values in the columns they share apart from ``exclude``); else by
    those shared columns (rows dropped or shuffled); else a :class:`ConfigError`.
    """
    if id_column is None:
        for candidate in _ID_COLUMNS:
            if all(candidate in r for r in gold) and all(candidate in r for r in predictions):
                id_column = candidate
                break
    if id_column is not None and gold:
        for name, rows in (("gold", gold), ("predictions", predictions)):
            if not all(r.get(id_column) is not None for r in rows):
                raise ConfigError(f"some {name} rows have no {id_column!r}")
        by_id: dict[str, dict[str, Any]] = {}
        for row in predictions:
            key = str(row[id_column])
            if key in by_id:
                raise ConfigError(f"the predictions repeat {id_column} {key!r}")
            by_id[key] = row
        gold_ids = [str(r[id_column]) for r in gold]
        if len(set(gold_ids)) != len(gold_ids):
            duplicate = next(k for k, c in Counter(gold_ids).items() if c > 1)
            raise ConfigError(f"the gold file repeats {id_column} {duplicate!r}")
        aligned = [by_id.get(key) for key in gold_ids]
        matched = sum(row is not None for row in aligned)
        if gold and matched == 0:
            raise ConfigError(
                f"no {id_column!r} of the predictions is in the gold file",
                hint="are they the same split? pass id_column= or align the rows by order",
            )
        info = {
            "alignment": f"id:{id_column}",
            "n_unmatched_gold": len(gold) - matched,
            "n_extra_predictions": len(set(by_id) - set(gold_ids)),
        }
        return aligned, info
    keys = [c for c in _columns(gold) if c in set(_columns(predictions)) and c not in exclude]
    in_order = len(predictions) == len(gold) and all(
        _row_key(g, keys) == _row_key(p, keys) for g, p in zip(gold, predictions)
    )
    if in_order or (len(predictions) == len(gold) and not keys):
        return list(predictions), {
            "alignment": "order",
            "n_unmatched_gold": 0,
            "n_extra_predictions": 0,
        }
    if keys:
        # rows dropped or reordered (a generator keeps failed rows out of its output): match
        # the shared input columns, the i-th copy of a repeated input to the i-th copy
        queues: dict[str, list[dict[str, Any]]] = {}
        for row in predictions:
            queues.setdefault(_row_key(row, keys), []).append(row)
        aligned_rows: list[dict[str, Any] | None] = []
        for row in gold:
            queue = queues.get(_row_key(row, keys))
            aligned_rows.append(queue.pop(0) if queue else None)
        matched = sum(row is not None for row in aligned_rows)
        if matched:
            return aligned_rows, {
                "alignment": "columns:" + ",".join(keys),
                "n_unmatched_gold": len(gold) - matched,
                "n_extra_predictions": len(predictions) - matched,
            }
        if len(predictions) == len(gold):
            return list(predictions), {
                "alignment": "order",
                "n_unmatched_gold": 0,
                "n_extra_predictions": 0,
            }
    raise ConfigError(
        f"the predictions have {len(predictions)} rows but the gold file has {len(gold)}, "
        "and there is no id column to align them"
        + (f" (and no row matches on the shared columns {keys})" if keys else ""),
        hint="add an 'id' column to both files (or pass id_column=), or keep them row for row",
    )


def _row_key(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    return json.dumps([row.get(k) for k in keys], sort_keys=True, ensure_ascii=False, default=str)


def _failed(row: Mapping[str, Any] | None) -> bool:
    return row is None or bool(row.get("error"))


def _qa_prediction(row: Mapping[str, Any] | None, column: str) -> str | None:
    if _failed(row):
        return None
    assert row is not None
    for key in (column, "answers", "answer", "prediction_text", "prediction"):
        if key not in row:
            continue
        value = row[key]
        if isinstance(value, Mapping):
            texts = value.get("text") or []
            return texts[0] if texts else ""
        if isinstance(value, list):
            return value[0] if value else ""
        return value if value is None or isinstance(value, str) else str(value)
    return None


def _qa_gold(row: Mapping[str, Any], column: str, number: int) -> list[str]:
    value = row.get(column)
    if isinstance(value, Mapping):
        return list(value.get("text") or [])
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConfigError(f"gold row {number}: {column!r} holds no answers ({value!r})")


def evaluate_files(
    predictions_path: str | Path,
    gold_path: str | Path,
    task: str | None = None,
    *,
    label_column: str | None = None,
    prediction_column: str | None = None,
    id_column: str | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Score a predictions file against a gold file and return a result dict.

    Files are JSONL/JSON, CSV/TSV or ``save_to_disk`` folders (see :func:`read_records`). Rows are
    aligned by ``id_column`` (default: ``id`` or ``idx`` when both files have it on every row),
    else by order when the files line up, else by the input columns both files share (so a
    generator output that left failed rows out still aligns; the missing rows count as missing),
    and when none of that works a :class:`ConfigError` explains the length mismatch. ``task`` is inferred from the gold columns
    unless given. ``label_column`` names the gold column (default ``label`` / ``ner_tags`` /
    ``answers``) and ``prediction_column`` the predicted one (default: the same name). For NER a
    predictions file may hold ``spans`` (or span strings such as ``"EU is ORG."`` in the tag
    column) instead of tags; they are placed on the gold tokens, and spans that cannot be placed
    make the row missing.
    Predictions with a non-empty ``error`` or no value count as missing.
    """
    gold = read_records(gold_path, split)
    predictions = read_records(predictions_path, split)
    if not gold:
        raise ConfigError(f"the gold file {gold_path} has no rows")
    if task is None:
        task = infer_task(gold, label_column)
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}", hint=f"choose one of {list(TASKS)}")
    column = label_column or {"classification": "label", "ner": "ner_tags", "qa": "answers"}[task]
    if column not in _columns(gold):
        raise ConfigError(f"the gold file has no column {column!r} (columns: {_columns(gold)})")
    pred_column = prediction_column or column
    exclude = {column, pred_column, "error", "spans", *_ANSWER_COLUMNS}
    aligned, info = _align(predictions, gold, id_column, exclude)

    if task == "qa":
        refs = [_qa_gold(row, column, i) for i, row in enumerate(gold)]
        preds = [_qa_prediction(row, pred_column) for row in aligned]
        metrics = qa_metrics(preds, refs)
    else:
        if predictions and pred_column not in _columns(predictions) and not (
            task == "ner" and "spans" in _columns(predictions)
        ):
            raise ConfigError(
                f"the predictions have no column {pred_column!r} "
                f"(columns: {_columns(predictions)})",
                hint="pass prediction_column= (--prediction-column)",
            )
        if task == "classification":
            y_true = [row.get(column) for row in gold]
            y_pred = [
                None if row is None or _failed(row) else row.get(pred_column)
                for row in aligned
            ]
            y_true = [None if v is None else str(v) for v in y_true]
            y_pred = [None if v is None else str(v) for v in y_pred]
            metrics = classification_metrics(y_true, y_pred)
        else:
            gold_tags: list[list[str]] = []
            pred_tags: list[list[str] | None] = []
            for number, (gold_row, row) in enumerate(zip(gold, aligned)):
                tags = gold_row.get(column)
                if not isinstance(tags, list):
                    raise ConfigError(f"gold row {number}: {column!r} is not a list of tags")
                gold_tags.append([str(t) for t in tags])
                pred_tags.append(_ner_prediction(row, pred_column, gold_row, number))
            metrics = ner_metrics(gold_tags, pred_tags)

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
    }


def _ner_prediction(
    row: Mapping[str, Any] | None, column: str, gold_row: Mapping[str, Any], number: int
) -> list[str] | None:
    if _failed(row):
        return None
    assert row is not None
    gold_tokens = gold_row.get("tokens")
    tokens = row.get("tokens")
    if gold_tokens is not None and tokens is not None and list(tokens) != list(gold_tokens):
        raise ConfigError(
            f"row {number}: the predicted row has other tokens than the gold row",
            hint="the files are not aligned: add an id column or keep the same order",
        )
    tags = row.get(column)
    spans = row.get("spans") if tags is None else tags if isinstance(tags, str) else None
    if spans is not None and gold_tokens is not None:
        # spans (a list, or a model answer / "EU is ORG." string) are placed on the gold tokens
        try:
            if isinstance(spans, str):
                spans, errors = parse_entities(spans)
                if errors:
                    return None
            tags, errors = spans_to_bio(gold_tokens, spans)
        except (ConfigError, ParseError):
            return None
        if errors:
            return None
    if tags is None:
        return None
    if not isinstance(tags, list):
        raise ConfigError(f"prediction row {number}: {column!r} is not a list of tags")
    return [str(t) for t in tags]


# --- report -------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  " + "  ".join([first] + rest))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _f(value: float) -> str:
    return f"{value:.4f}"


def format_report(result: Mapping[str, Any]) -> str:
    """A plain-text report of an :func:`evaluate_files` result."""
    m = result["metrics"]
    lines = [
        f"task: {result['task']}   gold: {result['gold']}   predictions: {result['predictions']}",
        f"rows: {result['n_gold']} gold, {result['n_predictions']} predicted, aligned by "
        f"{result['alignment']}; missing or failed predictions: {result['n_missing']}"
        + (f" ({result['n_unmatched_gold']} gold rows without a prediction)"
           if result.get("n_unmatched_gold") else "")
        + (f"; {result['n_extra_predictions']} predictions not in gold (ignored)"
           if result.get("n_extra_predictions") else ""),
        "",
    ]
    task = result["task"]
    if task == "classification":
        lines.append(
            f"accuracy {_f(m['accuracy'])}   macro-F1 {_f(m['macro_f1'])}   "
            f"weighted-F1 {_f(m['weighted_f1'])}"
        )
        lines.append("")
        rows = [
            [label, _f(s["precision"]), _f(s["recall"]), _f(s["f1"]), s["support"]]
            for label, s in m["per_class"].items()
        ]
        rows.append(["macro avg", _f(m["macro_precision"]), _f(m["macro_recall"]),
                     _f(m["macro_f1"]), m["n"]])
        lines += _table(["label", "precision", "recall", "f1", "support"], rows)
        cm = m["confusion_matrix"]
        lines += ["", "confusion matrix (rows: gold, columns: predicted)"]
        lines += _table(["gold \\ pred"] + cm["columns"],
                        [[label] + row for label, row in zip(cm["labels"], cm["matrix"])])
    elif task == "ner":
        lines.append(
            f"entity precision {_f(m['precision'])}   recall {_f(m['recall'])}   "
            f"F1 {_f(m['f1'])}   token accuracy {_f(m['token_accuracy'])}"
        )
        lines.append("")
        rows = [
            [type_, _f(s["precision"]), _f(s["recall"]), _f(s["f1"]), s["support"]]
            for type_, s in m["per_type"].items()
        ]
        rows.append(["micro avg", _f(m["precision"]), _f(m["recall"]), _f(m["f1"]), m["support"]])
        for name, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
            avg = m[key]
            rows.append([name, _f(avg["precision"]), _f(avg["recall"]), _f(avg["f1"]),
                         m["support"]])
        lines += _table(["type", "precision", "recall", "f1", "support"], rows)
    else:
        lines.append(
            f"exact match {_f(m['exact_match'])}   token F1 {_f(m['f1'])}   "
            f"questions {m['n']}"
        )
    return "\n".join(lines)
