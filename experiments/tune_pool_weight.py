"""How often does the default budget choose a pool-classifier weight that helps, and how often one
that hurts (issue 28)? Replayed on the held-out answers of ``tune_held_out.py`` and the default
runs' own rows (no model call).

Each held-out pool row gets the classifier's scores from a classifier fitted on the pool without
its fold (as tuning does). Each replay draws as many held-out rows as the default run's finalists
were scored on, reads the prior setting there (a shared draw, batch-calibrated over the drawn
rows), chooses the weight with the run's own rule (``pool_mix.choose_weight``) and applies it to
the default run's rows (the teacher's label scores calibrated as the run did, mixed with the
classifier fitted on the whole pool): the run's accuracy under that weight. ``rule`` is the run's
rule (the weight kept only where the mix is clearly better than the teacher alone on the drawn
rows: the sign test the prior setting gets); ``first_rule`` the one it replaced (kept where the
mix gets no fewer drawn rows right). Also each
weight's run accuracy (the oracle is the best of them). Writes ``results/tune_pool_weight.jsonl``.

    python experiments/tune_pool_weight.py trec sst2 imdb snli
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter

import tune_annotation
from common import RESULTS
from tune_temperature import DEFAULT_ROWS, PRIOR, replay_main  # the default runs' sizes, the prior's answers

from fabricator.pipeline.tune.pool_mix import WEIGHTS, choose_weight, mixed
from fabricator.pipeline.tune.scorer import accuracy, calibrated
from fabricator.samplers.similar import joined_text, minilm_embedder
from fabricator.scoring.pool_classifier import PoolVectors
from fabricator.scoring.temperature import log_loss


def replay(dataset: str, draws: int) -> dict[str, object]:
    n, finalist_rows = DEFAULT_ROWS[dataset]
    held = json.loads((RESULTS / f"tune_held_out_{dataset}_0.3.json").read_text())
    gold, raw, folds = held["gold"], held["raw"][PRIOR], held["folds"]
    labels = tune_annotation.TASKS[dataset][1]
    rows, pool = tune_annotation.load(dataset, n)
    columns = tune_annotation._columns(dataset)
    counts = Counter(r["label"] for r in pool)
    target = {label: (counts[label] + 1) / (len(pool) + len(labels)) for label in labels}
    vectors = PoolVectors(
        [joined_text(r, columns) for r in pool], [r["label"] for r in pool], labels, minilm_embedder
    )
    theirs: list[dict[str, float]] = []
    for fold in folds:  # in the order of ``gold``
        inside = set(fold)
        classifier = vectors.fit([i for i in range(len(pool)) if i not in inside], calibrated=True)
        theirs += classifier.scores_of(vectors.vectors(fold))
    run = [json.loads(line) for line in (RESULTS / f"tune_rows_{dataset}_default_{n}.jsonl").open()]
    run_teacher = calibrated([r["label_scores"] for r in run], labels, target)
    run_gold = [r["gold"] for r in run]
    run_theirs = vectors.fit(calibrated=True).scores([joined_text(r, columns) for r in rows])
    by_weight = {w: accuracy(mixed(run_teacher, run_theirs, w), run_gold) for w in WEIGHTS}

    def first_rule(teacher: list, pool: list, gold: list) -> float:
        """The first rule (before the replay): kept where the mix gets no fewer rows right."""
        answered = [i for i, x in enumerate(teacher) if x]
        loss = {
            w: log_loss([mixed(teacher, pool, w)[i] for i in answered], [gold[i] for i in answered])
            for w in WEIGHTS
        }
        weight = min(WEIGHTS, key=lambda w: (round(loss[w], 9), w))
        return weight if accuracy(mixed(teacher, pool, weight), gold) >= accuracy(teacher, gold) else 0.0

    rng = random.Random(0)
    draws_rows = [rng.sample(range(len(gold)), min(finalist_rows, len(gold))) for _ in range(draws)]
    alone = by_weight[0.0]
    out: dict[str, object] = {
        "dataset": dataset,
        "rows": finalist_rows,
        "held_out": len(gold),
        "teacher": round(alone, 3),
        "by_weight": {str(w): round(a, 3) for w, a in by_weight.items()},
    }
    for name, rule in (("rule", choose_weight), ("first_rule", first_rule)):
        chosen = []
        for drawn in draws_rows:
            teacher = calibrated([raw[i] for i in drawn], labels, target)
            chosen.append(rule(teacher, [theirs[i] for i in drawn], [gold[i] for i in drawn]))
        results = [by_weight[w] for w in chosen]
        everything = rule(calibrated(raw, labels, target), theirs, gold)
        out[name] = {
            "chosen_share": {str(w): round(chosen.count(w) / draws, 3) for w in WEIGHTS},
            "mean": round(statistics.mean(results), 3),
            "worst": round(min(results), 3),
            "share_worse_than_teacher_by_0.5": round(sum(a < alone - 0.005 for a in results) / draws, 3),
            "all_rows_weight": everything,
            "all_rows_accuracy": round(by_weight[everything], 3),
        }
    return out


if __name__ == "__main__":
    replay_main(replay, "tune_pool_weight")
