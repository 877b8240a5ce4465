"""Does the judge pick better training rows? Judge-filtered vs unfiltered generated SST-2 rows.

The committed generated rows (``results/sentiment_generated_2000.jsonl``) are judged by the
embedded model on one criterion ("a real movie-review sentence a critic could have written",
1-5, by log-probabilities over the scale); a seeded subset of ``--pool`` rows (half per label) is
judged. Then, for each seed, a student (frozen MiniLM embeddings + logistic regression) is trained
on ``--rows`` rows, half per label, and scored on SST-2 validation (872 rows):

* judged: the rows with the highest expected scores of each label (ties in seeded order);
* unfiltered: a seeded sample of the same pool, as many of each label.

    python experiments/judge_student.py --pool 1000 --rows 500 --seeds 3
    python experiments/judge_student.py --train-only   # re-train from the saved scores, no model
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from typing import Any

from common import DATA, RESULTS, RUNS, as_dataset, embedded_model, read_jsonl, restore_journal, write_table
from judge_common import judge_rows

from fabricator.evaluation.student import train_student
from fabricator.judge_criteria import JudgeCriterion

CRITERION = JudgeCriterion(name="realism", rubric="A real movie-review sentence a critic could have written.")
LABELS = ("negative", "positive")
SCORES = RESULTS / "judge_student_scores.jsonl"


def pool_of(size: int) -> list[dict[str, Any]]:
    """A seeded sample of the generated rows, half of each label, the labels taking turns: a
    smaller pool is a prefix of a larger one (a stopped run's journal serves the smaller)."""
    rows = read_jsonl(RESULTS / "sentiment_generated_2000.jsonl")
    by_label = []
    for label in LABELS:
        mine = [r for r in rows if r["label"] == label]
        random.Random(0).shuffle(mine)
        by_label.append(mine[: size // 2])
    return [row for pair in zip(*by_label, strict=True) for row in pair]


def pick(rows: list[dict[str, Any]], per_label: int, seed: int, judged: bool) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for label in LABELS:
        mine = [r for r in rows if r["label"] == label]
        rng.shuffle(mine)  # the sample, or the order of equal scores
        if judged:
            mine.sort(key=lambda r: -r["judge"])
        out += mine[:per_label]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    if not args.train_only:
        pool = pool_of(args.pool)
        restore_journal(RUNS / "judge_student", "judge_student")  # the committed answers, if any
        llm = embedded_model()  # started only if an answer is missing from the journal
        try:
            scores = judge_rows(pool, CRITERION, llm, RUNS / "judge_student")
        finally:
            llm.close()
        with open(SCORES, "w", encoding="utf-8") as out:
            for row, score in zip(pool, scores, strict=True):
                if score:
                    out.write(json.dumps({**row, "judge": score["score"]}) + "\n")
    rows = read_jsonl(SCORES)
    test = as_dataset(read_jsonl(DATA / "sst2" / "validation.jsonl"), ["text", "label"])
    found: dict[str, list[float]] = {"judged": [], "unfiltered": []}
    for seed in range(args.seeds):
        for arm in found:
            train = as_dataset(pick(rows, args.rows // 2, seed, arm == "judged"), ["text", "label"])
            found[arm].append(train_student(train, test, seed=seed).accuracy)
            print(f"seed {seed} {arm}: {found[arm][-1]:.4f}", flush=True)
    name = f"judge_student_{args.rows}"
    (RESULTS / f"{name}.json").write_text(json.dumps(found, indent=1))
    table = [
        [
            arm,
            args.rows,
            f"{statistics.mean(acc):.4f} ± {statistics.pstdev(acc):.4f}",
            " ".join(f"{a:.4f}" for a in acc),
        ]
        for arm, acc in found.items()
    ]
    mean_score = {
        arm: statistics.mean(r["judge"] for r in pick(rows, args.rows // 2, 0, arm == "judged"))
        for arm in found
    }
    write_table(
        name,
        "SST-2 student on judge-filtered vs unfiltered generated rows (equal count and label balance)",
        ["rows", "n", "validation accuracy (mean ± sd)", "per seed"],
        table,
        [
            f"pool: {len(rows)} judged rows of sentiment_generated_2000.jsonl (seeded, half per label)",
            f"judge: {CRITERION.rubric!r}, 1-5 by log-probabilities, embedded Qwen2.5-Coder-1.5B",
            "mean expected score (seed 0): "
            f"judged {mean_score['judged']:.3f}, unfiltered {mean_score['unfiltered']:.3f}",
            "student: frozen all-MiniLM-L6-v2 embeddings + logistic regression (C by 5-fold CV); "
            f"test: SST-2 validation (872); {args.seeds} seeds",
        ],
    )


if __name__ == "__main__":
    main()
