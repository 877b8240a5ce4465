"""How often a choosing rule picks each setting at the default budget (issue 28), replayed on the
held-out answers of ``tune_held_out.py`` (no model call).

Each replay draws the default run's held-out rows at random from the larger set: a first stage
scores all three candidates, the two best go on to a second stage of as many new rows, and the
rule picks among the finalists read raw or calibrated, keeping the prior (a shared draw,
calibrated) unless another setting is clearly better. Two rules:

- ``accuracy``: the current one: stages ranked by accuracy, "clearly better" a sign test (z = 1);
- ``log-likelihood``: stages ranked by the gold label's mean log-probability, "clearly better" a
  paired t-test on it (z = 2), the most accurate of those chosen.

    python experiments/tune_rules.py trec sst2 imdb snli
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from collections.abc import Sequence

import tune_annotation
from common import RESULTS

from fabricator.pipeline.tune.scorer import Scores, accuracy, calibrated, clearly_better
from fabricator.scoring.temperature import FLOOR, log_loss

#: the default run's size and held-out rows a stage at tune_budget=0.1 (docs/experiments.md)
DEFAULT_STAGE = {"trec": (500, 10), "sst2": (872, 17), "imdb": (250, 5), "snli": (300, 6)}
NAMES = ("zero-shot", "shared", "similar")
PRIOR = ("shared", "batch")


def log_likelihoods(scores: Sequence[Scores | None], gold: Sequence[str]) -> list[float]:
    """Each row's log-probability of its gold label (a row with no answer: log of the floor)."""
    return [-log_loss([s], [g]) if s else math.log(FLOOR) for s, g in zip(scores, gold, strict=True)]


def t_statistic(mine: Sequence[float], theirs: Sequence[float]) -> float:
    """The paired t statistic of ``mine - theirs``."""
    d = [a - b for a, b in zip(mine, theirs, strict=True)]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1)) if len(d) > 1 else 0.0
    return mean / (sd / math.sqrt(len(d))) if sd else (math.inf if mean > 0 else 0.0)


def replay(dataset: str, rule: str, draws: int) -> Counter[str]:
    data = json.loads((RESULTS / f"tune_held_out_{dataset}_0.3.json").read_text())
    gold, raw = data["gold"], data["raw"]
    labels = sorted({k for v in raw.values() for s in v if s for k in s})
    n, per_stage = DEFAULT_STAGE[dataset]
    _, pool = tune_annotation.load(dataset, n)
    counts = Counter(r["label"] for r in pool)
    target = {label: (counts[label] + 1) / (len(pool) + len(labels)) for label in labels}
    rng, chosen = random.Random(0), Counter[str]()

    def read(name: str, calibration: str, rows: list[int]) -> list[Scores | None]:
        answers = [raw[name][i] for i in rows]
        return answers if calibration == "off" else calibrated(answers, labels, target)

    def score(setting: tuple[str, str], rows: list[int]) -> float:
        g = [gold[i] for i in rows]
        if rule == "accuracy":
            return accuracy(read(*setting, rows), g)
        return sum(log_likelihoods(read(*setting, rows), g)) / len(g)

    for _ in range(draws):
        rows = rng.sample(range(len(gold)), 2 * per_stage)
        first = rows[:per_stage]
        best = {name: max(score((name, cal), first) for cal in ("off", "batch")) for name in NAMES}
        ranked = sorted(NAMES, key=lambda name: (-best[name], name != PRIOR[0], NAMES.index(name)))
        settings = [(name, cal) for name in NAMES if name in ranked[:2] for cal in ("off", "batch")]
        g = [gold[i] for i in rows]
        base = PRIOR if PRIOR in settings else max(settings, key=lambda s: accuracy(read(*s, rows), g))
        if rule == "accuracy":
            mine_base = read(*base, rows)
            better = [s for s in settings if s != base and clearly_better(read(*s, rows), mine_base, g)]
        else:
            mine = {s: log_likelihoods(read(*s, rows), g) for s in settings}
            better = [s for s in settings if s != base and t_statistic(mine[s], mine[base]) > 2.0]
        pick = max([base, *better], key=lambda s: (accuracy(read(*s, rows), g), s == base, score(s, rows)))
        chosen["-".join(pick).replace("-off", "").replace("-batch", "-calibrated")] += 1
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", choices=sorted(DEFAULT_STAGE))
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    for dataset in args.datasets:
        for rule in ("accuracy", "log-likelihood"):
            chosen = replay(dataset, rule, args.draws)
            shares = ", ".join(f"{k} {v / args.draws:.2f}" for k, v in chosen.most_common())
            print(f"{dataset} {rule}: {shares}")


if __name__ == "__main__":
    main()
