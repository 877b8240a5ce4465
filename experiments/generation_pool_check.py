"""The pool check on rows already written: what would dropping the rows a classifier fitted on the
pool reads as another label do to a student? No model call.

The committed rows of ``generation_by_default.py`` (made with the check off) go through
``PoolCheck.split``, the code a run uses, with a classifier fitted on the run's pool (all of it, or
its first ``k`` rows of each label). A student (MiniLM + logistic regression, seeds 0-2) is trained
on all the rows, on the rows the check keeps, and, as a control for the smaller set, on as many rows
drawn at random. A run writes new rows in place of the dropped ones; this replay cannot, so it
understates the check by the rows it leaves out.

    python experiments/generation_pool_check.py trec sst2 rotten_tomatoes [--per-label 10,20]
"""

from __future__ import annotations

import argparse
import random
import statistics
from typing import Any

from common import as_dataset, read_jsonl, write_table
from generation_by_default import data, rows_path

from fabricator.evaluation.student import train_student
from fabricator.execution.work import Row
from fabricator.pipeline.filters import pool_check
from fabricator.pipeline.filters.pool_check import PoolCheck
from fabricator.samplers.similar import minilm_embedder

SETTINGS = ("today", "today@1", "tuned-wide", "tuned-wide@1")
SEEDS = (0, 1, 2)
HEADER = ["dataset", "rows of", "pool rows a label", "rows", "kept", "all rows", "kept rows", "random n"]


def student(rows: list[dict], test: Any) -> float:
    train = as_dataset(rows, ["text", "label"])
    return statistics.mean(train_student(train, test, seed=seed).accuracy for seed in SEEDS)


def first_of_each(pool: list[dict], k: int | None) -> list[dict]:
    if k is None:
        return pool
    seen: dict[str, int] = {}
    out = []
    for row in pool:
        seen[row["label"]] = seen.get(row["label"], 0) + 1
        if seen[row["label"]] <= k:
            out.append(row)
    return out


def checked(rows: list[dict], pool: list[dict], labels: list[str]) -> list[dict]:
    check = PoolCheck(
        [r["text"] for r in pool], [r["label"] for r in pool], labels, ("text", "label"), minilm_embedder
    )
    kept = check.split({i: Row(dict(r)) for i, r in enumerate(rows)})
    return [rows[i] for i in sorted(kept.rows)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", choices=("sst2", "rotten_tomatoes", "trec"))
    parser.add_argument("--per-label", default="", help="pool rows of each label besides all, e.g. 10,20")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    sizes: list[int | None] = [None, *(int(k) for k in filter(None, args.per_label.split(",")))]
    pool_check.MIN_ROWS = 1  # the replay checks every label, also below the run's bar
    table = []
    for name in args.datasets:
        pool, _, test_rows = data(name, args.n)
        test = as_dataset(test_rows, ["text", "label"])
        labels = sorted({r["label"] for r in pool})
        for setting in SETTINGS:
            path = rows_path(name, setting, args.n)
            if not path.exists():
                continue
            rows = read_jsonl(path)
            everything = student(rows, test)
            for k in sizes:
                kept = checked(rows, first_of_each(pool, k), labels)
                control = random.Random(0).sample(rows, len(kept))
                line = [name, setting, k or f"all ({len(pool) // len(labels)})", len(rows), len(kept)]
                line += [f"{everything:.4f}", f"{student(kept, test):.4f}", f"{student(control, test):.4f}"]
                print(line, flush=True)
                table.append(line)
    write_table(
        "generation_pool_check",
        "The pool check replayed on committed generated rows (no model call)",
        HEADER,
        table,
        [
            "student: MiniLM embeddings + logistic regression, mean of seeds 0, 1, 2",
            "test rows: those of generation_by_default.py (TREC-6: 500 seeded train questions; "
            "sentiment: the validation split)",
        ],
    )


if __name__ == "__main__":
    main()
