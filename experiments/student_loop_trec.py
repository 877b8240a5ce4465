"""Issue 28, part 2: does the student in the loop make better TREC-6 questions than a plain run?

Both settings write ``--n`` questions (an even share per type) on the embedded model from the same
labelled pool (``--pool`` questions per type, two of the asked type shown a prompt, one draw per row
in both, so that only the loop differs); ``loop`` adds ``student_loop=True`` (4 rounds: the student's
errors on the pool's held-out half steer the next round's types and examples). A student (MiniLM +
logistic regression, seeds 0-2) is trained on each setting's rows and on as many gold questions,
and tested on 500 other gold questions. One journal per setting, so a rerun pays nothing.

    python experiments/student_loop_trec.py [--n 180] [--pool 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
from typing import Any

from annotation_quality import TREC_DESCRIPTIONS
from common import DATA, RUNS, Timer, as_dataset, embedded_model, read_jsonl, write_table
from trec_annotation import NAMES

from fabricator import BasePrompt, DatasetGenerator
from fabricator.dataset_transformations import convert_label_ids_to_texts
from fabricator.evaluation.student import train_student

SEEDS = (0, 1, 2)
TASK = "Write one question whose answer is of the type {}. Write a new one; do not repeat the examples."


def splits(n: int, per_type: int) -> tuple[list[dict], list[dict], list[dict]]:
    """500 test questions, ``n`` gold questions and the pool (``per_type`` of each type), disjoint."""
    rows = [
        {"text": r["text"], "label": NAMES[r["label"]]} for r in read_jsonl(DATA / "trec" / "train.jsonl")
    ]
    random.Random(0).shuffle(rows)
    rest = rows[500 + n :]
    pool = [r for t in NAMES.values() for r in [r for r in rest if r["label"] == t][:per_type]]
    return rows[:500], rows[500 : 500 + n], pool


def generate(setting: str, n: int, pool: list[dict]) -> tuple[Any, dict[str, Any]]:
    prompt = BasePrompt(
        TASK, label_options=list(NAMES.values()), label_descriptions=TREC_DESCRIPTIONS,
        generate_data_for_column="text",
    )  # fmt: skip
    llm = embedded_model(4)
    generator = DatasetGenerator(llm)
    with Timer() as t:
        data = generator.generate(
            prompt, as_dataset(pool, ["text", "label"]), "uniform", 2, "label",
            num_samples_to_generate=n, max_prompt_calls=n * 3 // 2, max_tokens=40, temperature=0.9,
            seed=0, fewshot_reuse=1, student_loop=setting == "loop",
            journal_dir=RUNS / "student_loop_trec" / setting, progress=True,
        )  # fmt: skip
    llm.close()
    assert generator.last_run is not None
    summary = generator.last_run.summary()
    data, _ = convert_label_ids_to_texts(data, "label", return_label_options=True)
    return data, {"calls": summary["calls"], "seconds": round(t.seconds), "loop": summary.get("student_loop")}


def scores(train: Any, test: Any) -> tuple[float, float, list[float]]:
    each = [train_student(train, test, seed=seed).accuracy for seed in SEEDS]
    return statistics.mean(each), statistics.stdev(each), each


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=180)
    parser.add_argument("--pool", type=int, default=40, help="pool questions per type")
    args = parser.parse_args()
    test_rows, gold_rows, pool = splits(args.n, args.pool)
    test = as_dataset(test_rows, ["text", "label"])
    table, notes = [], []
    for setting in ("plain", "loop"):
        data, info = generate(setting, args.n, pool)
        mean, sd, each = scores(data, test)
        table.append([setting, len(data), f"{mean:.4f} ± {sd:.4f}", ", ".join(f"{s:.4f}" for s in each),
                      info["calls"], info["seconds"]])  # fmt: skip
        for r in (info["loop"] or {}).get("rounds", []):
            notes.append(f"loop round {r['round']}: {r['rows']} rows, pool accuracy {r.get('accuracy')}, "
                         f"next rows {r.get('next_rows')}")  # fmt: skip
    mean, sd, each = scores(as_dataset(gold_rows, ["text", "label"]), test)
    table.append(
        ["gold", len(gold_rows), f"{mean:.4f} ± {sd:.4f}", ", ".join(f"{s:.4f}" for s in each), "-", "-"]
    )
    write_table(
        f"student_loop_trec_{args.n}",
        f"TREC-6: {args.n} generated questions with and without the student in the loop, and {args.n} gold",
        ["rows from", "rows", "student accuracy (mean ± sd, 3 seeds)", "per seed", "calls", "seconds"],
        table,
        [
            f"pool: {args.pool} train questions per type (not in test or gold); 2 of the asked type a prompt",
            "test: 500 other TREC train questions (seeded); student: MiniLM + logistic regression",
            *notes,
        ],
    )


if __name__ == "__main__":
    main()
