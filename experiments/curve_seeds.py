"""The SST-2 learning curve of the committed generated rows, over several sample seeds.

One seed of nested samples moves a point by a point or two (the 1,000-row figure of the same
generated rows was 0.775 with one shuffle and 0.788 with another), so this re-trains the students
on ``--seeds`` shuffles of the committed rows and of as many gold train rows, and reports the
mean, the spread and on how many seeds generated reached gold. No model call: anyone can re-run
it from ``experiments/results/sentiment_generated_2000.jsonl``.

    python experiments/curve_seeds.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import DATA, RESULTS, as_dataset, read_jsonl, seeded_sample, write_table
from generation_diversity import SETTINGS, setting_tag

from fabricator.evaluation.student import learning_curve

SIZES = (100, 200, 500, 1000, 2000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default=str(RESULTS / "sentiment_generated_2000.jsonl"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--setting",
        default="all",
        choices=sorted(SETTINGS),
        help="the generation_diversity.py setting that made the rows (names the output files)",
    )
    args = parser.parse_args()
    name = f"generation_diversity_sst2_seeds{setting_tag(args.setting)}"
    made = f"{args.setting}: {', '.join(SETTINGS[args.setting])}"
    generated = as_dataset(read_jsonl(Path(args.rows)), ["text", "label"])
    n = len(generated)
    # the gold pool of the generation run: the same seeded sample of SST-2 train
    gold = as_dataset(seeded_sample(read_jsonl(DATA / "sst2" / "train.jsonl"), n, seed=0), ["text", "label"])
    test = as_dataset(read_jsonl(DATA / "sst2" / "validation.jsonl"), ["text", "label"])
    sizes = [s for s in SIZES if s <= n]
    found: dict[tuple[str, int], list[float]] = {}
    for seed in range(args.seeds):
        curve = learning_curve(generated, test, sizes=sizes, gold_train=gold, seed=seed)
        for point in curve.points:
            found.setdefault((point.source, point.n), []).append(point.accuracy)
    rows = []
    for size in sizes:
        mine, theirs = found[("generated", size)], found[("gold", size)]
        wins = sum(a >= b for a, b in zip(mine, theirs, strict=True))
        rows.append(
            [
                size,
                f"{statistics.mean(mine):.4f} ± {statistics.stdev(mine):.4f}",
                f"{statistics.mean(theirs):.4f} ± {statistics.stdev(theirs):.4f}",
                f"{statistics.mean(mine) - statistics.mean(theirs):+.4f}",
                f"{wins} of {args.seeds}",
            ]
        )
    (RESULTS / f"{name}.json").write_text(
        json.dumps({f"{source}/{size}": acc for (source, size), acc in found.items()}, indent=1)
    )
    write_table(
        name,
        f"SST-2: students on generated vs gold rows, mean over {args.seeds} sample seeds",
        ["rows", "generated (mean ± sd)", "gold (mean ± sd)", "generated - gold", "seeds generated >= gold"],
        rows,
        [
            f"generated: {Path(args.rows).name} ({n} rows: {made})",
            f"gold: seeded sample (seed 0) of {n} SST-2 train rows; each seed draws nested samples of both",
            "student: frozen all-MiniLM-L6-v2 embeddings + logistic regression (C by 5-fold CV); "
            "test: SST-2 validation (872)",
        ],
    )


if __name__ == "__main__":
    main()
