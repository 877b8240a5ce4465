"""Quality by default (issue 28): the default path with a labelled pool (tuning on) against zero-shot
and the best hand setting of section 5.

Each dataset's rows are annotated on the embedded model in up to three settings:

- ``zero-shot``: no pool, tune off: the plain default before this issue;
- ``default``: the labelled pool passed and no other option: tuning chooses the setting on
  held-out pool rows, mixes in a classifier fitted on the pool where it helps, fits a temperature;
- ``teacher``: the same without the pool classifier (``pool_classifier="off"``);
- ``hand``: the ablation's best hand setting for sentiment (docs/experiments.md section 5): two
  examples per class drawn once and shared by all rows, three such draws voting, batch
  calibration, tuning off. No ablation was run for NLI; SNLI gets the same hand setting.

One journal per dataset, so a rerun pays nothing. rotten_tomatoes and snli are the never-tuned
sets (issue 28, part 5): no default and no tuning decision was made on them. With three
candidates, 250 rows is the smallest run that tunes (tune_budget=0.1 pays 25 calls: 5 held-out
rows a stage, 10 for the finalists); docs/experiments.md.
``budget-0.3`` is the default path with ``tune_budget=0.3``.

    python experiments/tune_annotation.py sst2            # SST-2 validation (872), pool from train
    python experiments/tune_annotation.py trec --n 500    # 500 seeded train questions, pool: the rest
    python experiments/tune_annotation.py rotten_tomatoes --settings zero-shot,default,hand
    python experiments/tune_annotation.py snli --settings zero-shot,default,hand
    python experiments/tune_annotation.py imdb --settings zero-shot,default,hand
"""

from __future__ import annotations

import argparse
import json
import random
from typing import Any

from common import (
    DATA,
    RESULTS,
    RUNS,
    Timer,
    as_dataset,
    embedded_model,
    read_jsonl,
    seeded_sample,
    write_table,
)
from trec_annotation import NAMES as TREC

from fabricator import BasePrompt, DatasetGenerator
from fabricator.evaluation.annotation_metrics import classification_metrics
from fabricator.evaluation.metrics.confidence import expected_calibration_error

SENTIMENT = ("Classify the sentiment of the movie review as one of: {}.", ["negative", "positive"])
NLI = (
    "Read the premise and the hypothesis. Classify how the hypothesis relates to the premise as one of: {}.",
    ["entailment", "neutral", "contradiction"],
)
TASKS = {
    "sst2": SENTIMENT,
    "trec": ("Classify the question by the type of its answer. The types are: {}.", list(TREC.values())),
    "rotten_tomatoes": SENTIMENT,
    "imdb": SENTIMENT,
    "snli": NLI,
}
DEFAULT_N = {"sst2": 872, "trec": 500}
POOL = 1000  # labelled pool rows where the data has more
IMDB_WORDS = 100  # IMDB reviews are cut to their first 100 words (prompt time on 2 CPUs)
#: section 5's best hand setting (sentiment): shared stratified draws, three voting, calibrated
HAND: dict[str, Any] = {
    "fewshot_sampling_strategy": "stratified",
    "fewshot_examples_per_class": 2,
    "fewshot_reuse": 10_000,
    "votes": 3,
    "calibration": "batch",
    "tune": "off",
}


def _polarity(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rotten_tomatoes / imdb rows with the labels spelled as in SST-2 (neg/pos → negative/positive)."""
    names = {"neg": "negative", "pos": "positive"}
    return [{"text": r["text"], "label": names[r["label"]]} for r in rows]


def _imdb_text(text: str) -> str:
    return " ".join(text.replace("<br />", " ").split()[:IMDB_WORDS])


def load(name: str, n: int) -> tuple[list[dict], list[dict]]:
    """Rows to annotate (with gold labels) and the labelled few-shot pool (never the same rows)."""
    if name == "trec":
        rows = [
            {"text": r["text"], "label": TREC[r["label"]]} for r in read_jsonl(DATA / "trec" / "train.jsonl")
        ]
        random.Random(0).shuffle(rows)
        return rows[:n], rows[n:]
    if name == "snli":  # dev only: a seeded held-out part to annotate, the pool from another part
        rows = read_jsonl(DATA / "snli" / "validation.jsonl")
        random.Random(0).shuffle(rows)
        return rows[:n], rows[n : n + POOL]
    if name == "imdb":  # train only: a seeded sample to annotate, the pool from the other reviews
        rows = [
            {**r, "text": _imdb_text(r["text"])} for r in _polarity(read_jsonl(DATA / "imdb" / "train.jsonl"))
        ]
        random.Random(0).shuffle(rows)
        return rows[:n], rows[n : n + POOL]
    if name == "rotten_tomatoes":  # validation is ordered (all pos, then all neg): a seeded sample
        gold = seeded_sample(_polarity(read_jsonl(DATA / name / "validation.jsonl")), n, seed=0)
        return gold, seeded_sample(_polarity(read_jsonl(DATA / name / "train.jsonl")), POOL, seed=0)
    gold = read_jsonl(DATA / "sst2" / "validation.jsonl")[:n]
    train = [r for r in read_jsonl(DATA / "sst2" / "train.jsonl") if len(r["text"].split()) >= 8]
    return gold, seeded_sample(train, POOL, seed=0)


def _columns(name: str) -> list[str]:
    return ["premise", "hypothesis"] if name == "snli" else ["text"]


def _arguments(setting: str, pool_rows: list[dict], columns: list[str], n: int) -> dict[str, Any]:
    """The ``generate`` arguments of a setting beyond the prompt and the rows."""
    if setting == "zero-shot":
        return {"max_prompt_calls": n}
    pool = as_dataset(pool_rows, [*columns, "label"])
    if setting == "default":
        return {"fewshot_dataset": pool, "max_prompt_calls": n}
    if setting == "teacher":  # the default path without the pool classifier (before 2026-12-07)
        return {"fewshot_dataset": pool, "max_prompt_calls": n, "pool_classifier": "off"}
    if setting.startswith("budget-"):  # the default path with a larger tune_budget, e.g. budget-0.3
        return {"fewshot_dataset": pool, "max_prompt_calls": n, "tune_budget": float(setting[7:])}
    if setting == "hand":
        return {"fewshot_dataset": pool, "max_prompt_calls": n * HAND["votes"], **HAND}
    raise SystemExit(f"unknown setting {setting!r}: use zero-shot, default, teacher, budget-<share> or hand")


def run(name: str, setting: str, n: int, parallel: int) -> dict[str, Any]:
    gold_rows, pool_rows = load(name, n)
    n = len(gold_rows)
    task, labels = TASKS[name]
    columns = _columns(name)
    prompt = BasePrompt(
        task, label_options=labels, generate_data_for_column="label", fewshot_example_columns=columns
    )
    arguments = _arguments(setting, pool_rows, columns, n)
    llm = embedded_model(parallel)
    generator = DatasetGenerator(llm)
    with Timer() as t:
        annotated = generator.generate(
            prompt,
            unlabeled_dataset=as_dataset(gold_rows, columns),
            journal_dir=RUNS / "tune" / name,
            progress=True,
            **arguments,
        )
    llm.close()
    report = generator.last_run
    names = annotated.features["label"].names
    by_source = {p["source"]: i for i, p in enumerate(report.provenance)}
    predicted = [names[annotated[by_source[i]]["label"]] if i in by_source else None for i in range(n)]
    gold = [r["label"] for r in gold_rows]
    kept = [i for i in range(n) if i in by_source]
    confidence = [annotated[by_source[i]]["confidence"] for i in kept]
    correct = [predicted[i] == gold[i] for i in kept]
    summary = report.summary()
    tuning = summary.get("tuning") or {}
    per_row = [  # each row's gold and predicted label, confidence and label scores (for ECE studies)
        {"gold": gold[i], "predicted": predicted[i], "confidence": annotated[by_source[i]]["confidence"],
         "label_scores": report.provenance[by_source[i]].get("label_scores"),
         "pool_scores": report.provenance[by_source[i]].get("pool_scores"),
         "mixed_scores": report.provenance[by_source[i]].get("mixed_scores")}
        for i in kept
    ]  # fmt: skip
    (RUNS / "tune" / f"{name}_{setting}_{n}_rows.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in per_row)
    )
    return {
        "dataset": name,
        "setting": setting,
        "n": n,
        "labelled": len(kept),  # fewer than n: the run was stopped (the journal keeps its answers)
        "interrupted": report.interrupted,
        "accuracy": round(classification_metrics(gold, predicted, labels=labels)["accuracy"], 4),
        "ece": round(expected_calibration_error(confidence, correct).ece, 4),
        "failed": summary["failures"],
        "run_calls": summary["calls"],
        "tuning_calls": tuning.get("calls", 0),
        "seconds": round(t.seconds, 1),
        "tuning": tuning or None,
    }


def _table_row(r: dict[str, Any]) -> list[Any]:
    tuning = r["tuning"]
    expected = f"{tuning['accuracy']} ± {tuning['margin']} on {tuning['rows']}" if tuning else "–"
    chosen = tuning.get("chosen", "–") if tuning else "–"
    counts = [r["failed"], r["run_calls"], r["tuning_calls"]]
    rows = r["n"] if r.get("labelled", r["n"]) == r["n"] else f"{r['labelled']} of {r['n']} (stopped)"
    return [r["setting"], rows, r["accuracy"], r["ece"], *counts, chosen, expected, r["seconds"]]


ORDER = {"zero-shot": 0, "teacher": 1, "default": 2, "hand": 3}


def write_results(dataset: str, done: list[dict[str, Any]]) -> None:
    """The dataset's table, largest runs first, from its result rows (``tune_<dataset>.jsonl``)."""
    rows = sorted(done, key=lambda r: (-r["n"], ORDER.get(r["setting"], 3)))
    header = ["setting", "rows", "accuracy", "ECE", "failed", "run calls", "tuning calls", "chosen"]
    write_table(
        f"tune_{dataset}",
        f"{dataset}: the default path with a labelled pool (tuned) against zero-shot and by hand",
        [*header, "expected", "seconds"],
        [_table_row(r) for r in rows],
        [
            "model: embedded Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp, 2 shared CPUs), defaults",
            "default: fewshot_dataset=pool and no other option (tune='auto', tune_budget=0.1)",
            "hand: 2 examples per class in a shared draw, 3 draws voting, calibration='batch', tune='off'",
            "expected: the chosen setting's held-out pool accuracy ± its 95 % interval, on N pool rows",
            "run calls: new model calls; answers already in the dataset's journal cost none",
            "seconds are wall-clock on a 2-core machine shared with other work (noisy); calls are exact",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", choices=sorted(TASKS))
    parser.add_argument("--n", type=int, default=None, help="rows (sst2: 872, trec: 500, others: 300)")
    parser.add_argument("--settings", default="default,zero-shot", help="of zero-shot, default, hand")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    n = args.n or DEFAULT_N.get(args.dataset, 300)
    path = RESULTS / f"tune_{args.dataset}.jsonl"
    done = (
        {(r["setting"], r["n"]): r for r in map(json.loads, path.read_text().splitlines())}
        if path.exists()
        else {}
    )
    for setting in args.settings.split(","):
        row = run(args.dataset, setting, n, args.parallel)
        print(json.dumps(row), flush=True)
        done[(setting, n)] = row
        path.write_text("".join(json.dumps(r) + "\n" for r in done.values()))
    write_results(args.dataset, list(done.values()))


if __name__ == "__main__":
    main()
