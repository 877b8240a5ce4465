"""Does the default budget fit a temperature that makes the run's confidences mean what they say
(issue 28, ECE <= 0.05 with examples)? Replayed on the held-out answers of ``tune_held_out.py`` and
the default runs' own rows (no model call).

Each replay draws as many held-out rows as the default run's finalists were scored on, reads the
prior setting (a shared draw, batch-calibrated over the drawn rows, as tuning reads it), fits the
temperature with the run's own rule (``pipeline.tune.run._fit``: at least 20 rows, kept only where
it lowers the log-loss of folds it was not fitted on), and applies it to the default run's rows
(their label scores calibrated towards the pool's label shares, as the run did): the run's ECE
under that temperature. The same with every held-out row (``tune_budget=0.3``), and the temperature
the run's own gold labels would give (the oracle). Writes ``results/tune_temperature.jsonl``.

    python experiments/tune_temperature.py sst2 trec imdb snli
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import Counter
from collections.abc import Callable

import tune_annotation
from common import RESULTS

from fabricator.pipeline.tune.run import _fit
from fabricator.pipeline.tune.scorer import calibrated
from fabricator.scoring.temperature import calibration_error, fit_temperature

#: the default run's size and the held-out rows its finalists were scored on (docs/experiments.md)
DEFAULT_ROWS = {"sst2": (872, 34), "trec": (500, 20), "imdb": (250, 10), "snli": (300, 12)}
PRIOR = "shared"


def replay(dataset: str, draws: int) -> dict[str, object]:
    n, finalist_rows = DEFAULT_ROWS[dataset]
    held = json.loads((RESULTS / f"tune_held_out_{dataset}_0.3.json").read_text())
    gold, raw = held["gold"], held["raw"][PRIOR]
    labels = sorted({k for s in raw if s for k in s})
    _, pool = tune_annotation.load(dataset, n)
    counts = Counter(r["label"] for r in pool)
    target = {label: (counts[label] + 1) / (len(pool) + len(labels)) for label in labels}
    run = [json.loads(line) for line in (RESULTS / f"tune_rows_{dataset}_default_{n}.jsonl").open()]
    run_scores = calibrated([r["label_scores"] for r in run], labels, target)
    run_gold = [r["gold"] for r in run]
    answered = [s for s in run_scores if s]

    def fitted(rows: list[int]) -> float:
        temperature, _, _ = _fit(calibrated([raw[i] for i in rows], labels, target), [gold[i] for i in rows])
        return temperature

    def run_ece(temperature: float) -> float:
        return calibration_error(answered, run_gold, temperature)

    rng = random.Random(0)
    temps = [fitted(rng.sample(range(len(gold)), min(finalist_rows, len(gold)))) for _ in range(draws)]
    eces = [run_ece(t) for t in temps]
    everything = fitted(list(range(len(gold))))
    oracle = fit_temperature(answered, run_gold)
    return {
        "dataset": dataset,
        "rows": finalist_rows,
        "held_out": len(gold),
        "ece_untempered": round(run_ece(1.0), 3),
        "kept": round(sum(t != 1.0 for t in temps) / draws, 2),
        "median_temperature": round(statistics.median(temps), 2),
        "mean_ece": round(statistics.mean(eces), 3),
        "share_ece_at_most_0.05": round(sum(e <= 0.05 for e in eces) / draws, 2),
        "all_rows_temperature": round(everything, 2),
        "all_rows_ece": round(run_ece(everything), 3),
        "oracle_temperature": round(oracle, 2),
        "oracle_ece": round(run_ece(oracle), 3),
    }


def replay_main(replay: Callable[[str, int], dict[str, object]], name: str) -> None:
    """A replay script's command line: datasets and draws in, one JSON line a dataset printed and
    written to ``results/<name>.jsonl``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", choices=sorted(DEFAULT_ROWS))
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    lines = [json.dumps(replay(dataset, args.draws)) for dataset in args.datasets]
    print("\n".join(lines))
    (RESULTS / f"{name}.jsonl").write_text("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    replay_main(replay, "tune_temperature")
