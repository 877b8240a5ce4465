"""The plain-text report of an :func:`~fabricator.evaluation.metrics.files.evaluate_files` result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fabricator.evaluation.plain_text import score, text_table

__all__ = ["format_report"]

_SCORE_HEADER = ["precision", "recall", "f1", "support"]


def _scores(name: str, s: Mapping[str, Any], support: Any) -> list[Any]:
    return [name, score(s["precision"]), score(s["recall"]), score(s["f1"]), support]


def _summary(result: Mapping[str, Any]) -> list[str]:
    unmatched = result.get("n_unmatched_gold")
    extra = result.get("n_extra_predictions")
    return [
        f"task: {result['task']}   gold: {result['gold']}   predictions: {result['predictions']}",
        f"rows: {result['n_gold']} gold, {result['n_predictions']} predicted, aligned by "
        f"{result['alignment']}; missing or failed predictions: {result['n_missing']}"
        + (f" ({unmatched} gold rows without a prediction)" if unmatched else "")
        + (f"; {extra} predictions not in gold (ignored)" if extra else ""),
        "",
    ]


def _score_table(headline: str, first_column: str, rows: list[list[Any]]) -> list[str]:
    return [headline, "", *text_table([first_column, *_SCORE_HEADER], rows)]


def _classification(m: Mapping[str, Any]) -> list[str]:
    rows = [_scores(label, s, s["support"]) for label, s in m["per_class"].items()]
    macro = {key: m[f"macro_{key}"] for key in ("precision", "recall", "f1")}
    rows.append(_scores("macro avg", macro, m["n"]))
    headline = (
        f"accuracy {score(m['accuracy'])}   macro-F1 {score(m['macro_f1'])}   "
        f"weighted-F1 {score(m['weighted_f1'])}"
    )
    cm = m["confusion_matrix"]
    return [
        *_score_table(headline, "label", rows),
        "",
        "confusion matrix (rows: gold, columns: predicted)",
        *text_table(
            ["gold \\ pred", *cm["columns"]],
            [[label, *row] for label, row in zip(cm["labels"], cm["matrix"], strict=False)],
        ),
    ]


def _ner(m: Mapping[str, Any]) -> list[str]:
    rows = [_scores(type_, s, s["support"]) for type_, s in m["per_type"].items()]
    averages = (("micro avg", m), ("macro avg", m["macro_avg"]), ("weighted avg", m["weighted_avg"]))
    rows += [_scores(name, avg, m["support"]) for name, avg in averages]
    headline = (
        f"entity precision {score(m['precision'])}   recall {score(m['recall'])}   "
        f"F1 {score(m['f1'])}   token accuracy {score(m['token_accuracy'])}"
    )
    return _score_table(headline, "type", rows)


def _confidence(c: Mapping[str, Any]) -> list[str]:
    """ECE and the risk–coverage table: how accurate the most confident rows are."""
    lines = [
        "",
        f"confidence (column {c['column']!r}): {c['n']} rows with a prediction and a confidence"
        + (f", {c['n_without_confidence']} without" if c["n_without_confidence"] else ""),
    ]
    if not c["n"]:
        return lines
    lines += [
        f"expected calibration error {score(c['ece'])} ({len(c['bins'])} bins)   "
        f"AURC {score(c['aurc'])} (lower is better)",
        "",
        "risk-coverage: accuracy of the most confident rows (threshold: lowest confidence kept)",
        *text_table(
            ["coverage", "rows", "accuracy", "threshold"],
            [
                [f"{p['coverage']:.0%}", p["n_rows"], score(p["accuracy"]), score(p["threshold"])]
                for p in c["risk_coverage"]
            ],
        ),
    ]
    return lines


def format_report(result: Mapping[str, Any]) -> str:
    """A plain-text report of an :func:`evaluate_files` result."""
    m = result["metrics"]
    lines = _summary(result)
    if result["task"] == "classification":
        lines += _classification(m)
        if result.get("confidence") is not None:
            lines += _confidence(result["confidence"])
    elif result["task"] == "ner":
        lines += _ner(m)
    else:
        lines.append(
            f"exact match {score(m['exact_match'])}   token F1 {score(m['f1'])}   questions {m['n']}"
        )
    return "\n".join(lines)
