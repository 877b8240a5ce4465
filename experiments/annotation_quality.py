"""Label annotation quality on the embedded model: what each technique buys (issue 13 ablation).

Each named setting annotates the same rows; the table gives accuracy, macro-F1, expected
calibration error, accuracy of the 80 % most confident rows, model calls, prompt tokens (and how
many the server's prompt cache served), and time. For TREC-6 the student trained on each
setting's annotations is scored too. Resumable: one journal per setting, so a setting that only
differs after the calls (calibration) costs no call.

    python experiments/annotation_quality.py trec --n 500 --settings parse,score,describe,shared
    python experiments/annotation_quality.py sst2 --settings score,calibrated

TREC-6: N seeded train questions annotated, the few-shot pool is the train questions not used
otherwise, the student is tested on N other gold train questions (as in trec_annotation.py).
SST-2: the first N validation sentences (default all 872); pool: seeded train sentences.
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
from fabricator.evaluation.metrics.confidence import expected_calibration_error, risk_coverage
from fabricator.scoring import calibrate

TREC_DESCRIPTIONS = {
    "abbreviation": "asks what an abbreviation stands for, or for the short form of a name",
    "description": "asks for a definition, a description, a reason or a manner (what is X, why, how to)",
    "entity": "asks for a thing: an animal, plant, color, product, disease, sport, food, work, term or event",
    "human": "asks for a person, a group of people or an organization (who, which company)",
    "location": "asks for a place: a city, country, state, mountain, river or address",
    "number": "asks for a number: a count, date, year, age, distance, size, price, percentage or duration",
}

#: other wordings of each dataset's task (written before any run with them, not tuned): each is
#: one more vote per row ("rephrased")
REPHRASINGS = {
    "sst2": [
        "Which of these describes the reviewer's opinion of the film: {}?",
        "A critic wrote the text below about a film. Label the critic's view of the film as one of: {}.",
    ],
    "trec": [
        "What kind of thing would answer this question? Pick one of: {}.",
        "Sort the question by what its answer is. The kinds are: {}.",
    ],
}

#: setting -> generate() arguments on top of the base ones; "journal" names whose answers it reuses
SETTINGS: dict[str, dict[str, Any]] = {
    "parse": {"label_scoring": "off"},  # before label scoring: the answer text is generated and parsed
    "score": {},
    "calibrated": {"calibration": "batch", "journal": "score"},
    "describe": {"describe": True},
    "describe-calibrated": {"describe": True, "calibration": "batch", "journal": "describe"},
    "shared": {"describe": True, "strategy": "stratified", "per_class": 2, "reuse": 10_000},
    "shared-calibrated": {
        "describe": True,
        "strategy": "stratified",
        "per_class": 2,
        "reuse": 10_000,
        "calibration": "batch",
        "journal": "shared",
    },
    "similar": {"describe": True, "strategy": "similar", "examples": 4},
    "similar-calibrated": {
        "describe": True,
        "strategy": "similar",
        "examples": 4,
        "calibration": "batch",
        "journal": "similar",
    },
    # the task as written plus REPHRASINGS; its first prompt is the "score" prompt, read from there
    "rephrased": {"rephrase": True, "journal": "score"},
    "rephrased-calibrated": {"rephrase": True, "calibration": "batch", "journal": "score"},
    "votes": {"describe": True, "strategy": "stratified", "per_class": 1, "votes": 3},
    # three shared draws; the first is the "shared" prompt, read from its journal
    "shared-votes": {
        "describe": True,
        "strategy": "stratified",
        "per_class": 2,
        "reuse": 10_000,
        "votes": 3,
        "journal": "shared",
    },
    "shared-votes-calibrated": {
        "describe": True,
        "strategy": "stratified",
        "per_class": 2,
        "reuse": 10_000,
        "votes": 3,
        "calibration": "batch",
        "journal": "shared",
    },
}


def load(name: str, n: int) -> tuple[list[dict], list[dict], list[dict], list[str], str]:
    """Rows to annotate (with gold labels), student test rows, few-shot pool, labels, task."""
    if name == "trec":
        rows = [
            {"text": r["text"], "label": TREC[r["label"]]} for r in read_jsonl(DATA / "trec" / "train.jsonl")
        ]
        random.Random(0).shuffle(rows)
        return (
            rows[:n],
            rows[n : 2 * n],
            rows[2 * n :],
            list(TREC.values()),
            "Classify the question by the type of its answer. The types are: {}.",
        )
    gold = read_jsonl(DATA / "sst2" / "validation.jsonl")[:n]
    train = [r for r in read_jsonl(DATA / "sst2" / "train.jsonl") if len(r["text"].split()) >= 8]
    return (
        gold,
        [],
        seeded_sample(train, 3000, seed=0),  # nearest examples need a pool to be near in (CoNLL: 3,000)
        ["negative", "positive"],
        "Classify the sentiment of the movie review as one of: {}.",
    )


def _picks(by_source: dict[int, int], n: int, scores: list[dict[str, float]]) -> list[str | None]:
    """Each source row's most probable label under ``scores`` (one per kept row, in row order)."""
    return [
        max(scores[by_source[i]], key=scores[by_source[i]].__getitem__) if i in by_source else None
        for i in range(n)
    ]


def _vote_accuracies(
    gold: list[str], votes: list[list[dict[str, float]]], labels: list[str], by_source: dict[int, int]
) -> dict[str, Any]:
    """From each row's per-prompt scores (no call): each prompt's own accuracy, and the accuracy
    when each prompt is calibrated on its own before the prompts are averaged."""
    n, prompts = len(gold), len(votes[0])
    each = [[v[k] for v in votes] for k in range(prompts)]
    own = [classification_metrics(gold, _picks(by_source, n, e))["accuracy"] for e in each]
    calibrated = [calibrate(e, labels) for e in each]
    mean = [{lab: sum(c[i][lab] for c in calibrated) / prompts for lab in labels} for i in range(len(votes))]
    return {
        "accuracy_each_prompt": [round(a, 4) for a in own],
        "accuracy_calibrated_per_prompt": round(
            classification_metrics(gold, _picks(by_source, n, mean))["accuracy"], 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", choices=["trec", "sst2"])
    parser.add_argument("--n", type=int, default=None, help="rows to annotate (trec: 500, sst2: 872)")
    parser.add_argument("--settings", default="parse,score,calibrated")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    n = args.n or (500 if args.dataset == "trec" else 872)
    gold_rows, test_rows, pool_rows, labels, task = load(args.dataset, n)
    unlabeled = as_dataset(gold_rows, ["text"])
    pool = as_dataset(pool_rows, ["text", "label"])
    gold = [r["label"] for r in gold_rows]
    llm = embedded_model(args.parallel)
    results_path = RESULTS / f"annotation_quality_{args.dataset}.jsonl"
    done = {}
    if results_path.exists():
        done = {(r["setting"], r["n"]): r for r in map(json.loads, results_path.read_text().splitlines())}
    for setting in args.settings.split(","):
        spec = dict(SETTINGS[setting])
        prompt = BasePrompt(
            task,
            label_options=labels,
            generate_data_for_column="label",
            fewshot_example_columns="text",
            label_descriptions=TREC_DESCRIPTIONS
            if spec.pop("describe", False) and args.dataset == "trec"
            else None,
        )
        if spec.pop("rephrase", False):
            spec["task_rephrasings"] = REPHRASINGS[args.dataset]
        strategy = spec.pop("strategy", None)
        generator = DatasetGenerator(llm)
        journal = RUNS / "quality" / args.dataset / spec.pop("journal", setting)
        options: dict[str, Any] = {
            "fewshot_reuse": spec.pop("reuse", 1),
            **({"fewshot_examples": spec.pop("examples")} if "examples" in spec else {}),
            **spec,
        }
        per_class = options.pop("per_class", None)
        with Timer() as t:
            annotated = generator.generate(
                prompt,
                fewshot_dataset=pool if strategy else None,
                fewshot_sampling_strategy=strategy,
                fewshot_examples_per_class=per_class,
                unlabeled_dataset=unlabeled,
                max_prompt_calls=n * (options.get("votes", 1) + len(options.get("task_rephrasings", []))) * 2,
                temperature=0.0,
                max_tokens=48,
                journal_dir=journal,
                progress=True,
                **options,
            )
        summary = generator.last_run.summary()
        names = annotated.features["label"].names
        by_source = {p["source"]: i for i, p in enumerate(generator.last_run.provenance)}
        predicted = [names[annotated[by_source[i]]["label"]] if i in by_source else None for i in range(n)]
        quality = classification_metrics(gold, predicted, labels=labels)
        row: dict[str, Any] = {
            "setting": setting,
            "n": n,
            "accuracy": round(quality["accuracy"], 4),
            "macro_f1": round(quality["macro_f1"], 4),
            "failed": summary["failures"],
            "calls": summary["calls"],
            "prompt_tokens": summary["prompt_tokens"] + summary["cached_tokens"],
            "server_cached_prompt_tokens": summary["prompt_cache_tokens"],
            "completion_tokens": summary["completion_tokens"],
            "seconds": round(t.seconds, 1)
            if summary["requests"]
            else done.get((setting, n), {}).get("seconds"),
            "label_counts": {label: predicted.count(label) for label in labels},
        }
        if "confidence" in annotated.column_names:
            confidence = [annotated[by_source[i]]["confidence"] for i in range(n) if i in by_source]
            correct = [predicted[i] == gold[i] for i in range(n) if i in by_source]
            curve = risk_coverage(correct, confidence, coverages=(1.0, 0.8, 0.5))
            row["ece"] = round(expected_calibration_error(confidence, correct).ece, 4)
            row["accuracy_at_80"] = round(curve.points[1].accuracy, 4)
            row["accuracy_at_50"] = round(curve.points[2].accuracy, 4)
        votes = [p.get("vote_scores") for p in generator.last_run.provenance]
        if votes and all(votes):
            row.update(_vote_accuracies(gold, votes, labels, by_source))  # type: ignore[arg-type]
        if test_rows:
            from fabricator.dataset_transformations import convert_label_ids_to_texts
            from fabricator.evaluation.student import train_student

            texts, _ = convert_label_ids_to_texts(annotated, "label", return_label_options=True)
            student = train_student(texts, as_dataset(test_rows, ["text", "label"]), seed=0, labels=labels)
            row["student_accuracy"] = round(student.accuracy, 4)
        print(json.dumps(row), flush=True)
        done[(setting, n)] = row
        RESULTS.mkdir(parents=True, exist_ok=True)
        results_path.write_text("".join(json.dumps(r) + "\n" for r in done.values()))
    llm.close()
    header = ["setting", "rows", "accuracy", "macro-F1", "ECE", "acc. at 80 % coverage", "student"]
    header += ["calls", "prompt tokens (server-cached)", "completion tokens", "seconds"]
    table = [
        [
            r["setting"],
            r["n"],
            r["accuracy"],
            r["macro_f1"],
            r.get("ece", "–"),
            r.get("accuracy_at_80", "–"),
            r.get("student_accuracy", "–"),
            r["calls"],
            f"{r['prompt_tokens']:,} ({r['server_cached_prompt_tokens']:,})" if r["calls"] else "– (journal)",
            f"{r['completion_tokens']:,}" if r["calls"] else "–",
            r["seconds"] or "–",
        ]
        for r in done.values()
    ]
    write_table(
        f"annotation_quality_{args.dataset}",
        f"{args.dataset}: label annotation settings on the embedded model",
        header,
        table,
        [
            "model: embedded Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp, 4 slots, 2 CPUs), temperature 0",
            "a calibrated setting reuses the journal of its base setting: no model call, so no time",
            "seconds are wall-clock on a shared 2-core machine (noisy); tokens and calls are exact",
        ],
    )


if __name__ == "__main__":
    main()
