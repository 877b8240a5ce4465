"""Which prediction row belongs to which gold row: by id, by order, or by shared input columns."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from fabricator.errors import ConfigError

__all__ = ["align", "columns"]

ID_COLUMNS = ("id", "idx")

Row = dict[str, Any]


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The column names of ``rows`` in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _row_key(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    return json.dumps([row.get(k) for k in keys], sort_keys=True, ensure_ascii=False, default=str)


def _by_order(predictions: list[Row]) -> tuple[list[Row | None], dict[str, Any]]:
    return list(predictions), {"alignment": "order", "n_unmatched_gold": 0, "n_extra_predictions": 0}


def _by_id(
    predictions: list[Row], gold: list[Row], id_column: str
) -> tuple[list[Row | None], dict[str, Any]]:
    for name, rows in (("gold", gold), ("predictions", predictions)):
        if not all(r.get(id_column) is not None for r in rows):
            raise ConfigError(f"some {name} rows have no {id_column!r}")
    by_id: dict[str, Row] = {}
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


def align(
    predictions: list[Row], gold: list[Row], id_column: str | None, exclude: set[str]
) -> tuple[list[Row | None], dict[str, Any]]:
    """Prediction row per gold row (``None`` when a gold row has no prediction), and how.

    By ``id_column`` (or ``id``/``idx`` when both files have it); else by order when the files
    line up (same length, same values in the columns they share apart from ``exclude``); else by
    those shared columns (rows dropped or shuffled); else a :class:`ConfigError`.
    """
    if id_column is None:
        for candidate in ID_COLUMNS:
            if all(candidate in r for r in gold) and all(candidate in r for r in predictions):
                id_column = candidate
                break
    if id_column is not None and gold:
        return _by_id(predictions, gold, id_column)
    keys = [c for c in columns(gold) if c in set(columns(predictions)) and c not in exclude]
    in_order = len(predictions) == len(gold) and all(
        _row_key(g, keys) == _row_key(p, keys) for g, p in zip(gold, predictions, strict=False)
    )
    if in_order or (len(predictions) == len(gold) and not keys):
        return _by_order(predictions)
    if keys:
        # rows dropped or reordered (a generator keeps failed rows out of its output): match
        # the shared input columns, the i-th copy of a repeated input to the i-th copy
        queues: dict[str, list[Row]] = {}
        for row in predictions:
            queues.setdefault(_row_key(row, keys), []).append(row)
        aligned: list[Row | None] = []
        for row in gold:
            queue = queues.get(_row_key(row, keys))
            aligned.append(queue.pop(0) if queue else None)
        matched = sum(row is not None for row in aligned)
        if matched:
            return aligned, {
                "alignment": "columns:" + ",".join(keys),
                "n_unmatched_gold": len(gold) - matched,
                "n_extra_predictions": len(predictions) - matched,
            }
        if len(predictions) == len(gold):
            return _by_order(predictions)
    raise ConfigError(
        f"the predictions have {len(predictions)} rows but the gold file has {len(gold)}, "
        "and there is no id column to align them"
        + (f" (and no row matches on the shared columns {keys})" if keys else ""),
        hint="add an 'id' column to both files (or pass id_column=), or keep them row for row",
    )
