"""Annotation of TREC-6 questions with 0, 1, 2 and 4 few-shot examples per class.

For each setting, the embedded model annotates N questions (a seeded sample of TREC train);
we report annotation accuracy against the gold labels and the accuracy of a student trained
on the annotations, tested on N other gold-labelled TREC questions. A student trained on the
gold labels of the same N questions is the reference. Resumable (one journal per setting).

    python experiments/trec_annotation.py [--n 500] [--shots 0,1,2,4]

Each setting's annotations go to experiments/runs/trec/shots-K/annotated.jsonl; the setting with
the best annotation accuracy also gets a student report (learning curves of annotated vs gold
labels, confusion matrix, diagnostics) in experiments/runs/trec/report/.
"""

from __future__ import annotations

import argparse

from common import DATA, RUNS, Timer, as_dataset, embedded_model, read_jsonl, usage_of, write_table
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.dataset_transformations import convert_label_ids_to_texts
from fabricator.evaluation.annotation_metrics import classification_metrics
from fabricator.evaluation.diagnostics import compare
from fabricator.evaluation.report import write_report
from fabricator.evaluation.student import StudentResult, learning_curve, train_student
from fabricator.tables import write_jsonl

NAMES = {
    "ABBR": "abbreviation",
    "DESC": "description",
    "ENTY": "entity",
    "HUM": "human",
    "LOC": "location",
    "NUM": "number",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--shots", default="0,1,2,4")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    import random

    rows = [
        {"text": r["text"], "label": NAMES[r["label"]]} for r in read_jsonl(DATA / "trec" / "train.jsonl")
    ]
    random.Random(0).shuffle(rows)
    questions, test_rows, pool_rows = rows[: args.n], rows[args.n : 2 * args.n], rows[2 * args.n :]
    gold = as_dataset(questions, ["text", "label"])
    test = as_dataset(test_rows, ["text", "label"])
    fewshot = as_dataset(pool_rows, ["text", "label"])
    unlabeled = gold.remove_columns("label")
    prompt = BasePrompt(
        task_description="Classify the question by the type of its answer. The types are: {}.",
        label_options=list(NAMES.values()),
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    llm = embedded_model(args.parallel)
    table = []
    best: tuple[float, int, Dataset, StudentResult] | None = None  # accuracy, k, annotations, student
    reference = train_student(gold, test, seed=0)
    gold_counts = " ".join(
        f"{n[:4]}:{c}" for n, c in ((n, list(gold["label"]).count(n)) for n in NAMES.values())
    )
    for k in [int(s) for s in args.shots.split(",")]:
        generator = DatasetGenerator(llm)
        with Timer() as t:
            annotated = generator.generate(
                prompt_template=prompt,
                fewshot_dataset=fewshot if k else None,
                fewshot_sampling_strategy="stratified" if k else None,
                fewshot_examples_per_class=k or None,
                unlabeled_dataset=unlabeled,
                max_prompt_calls=args.n,
                temperature=0.0,
                max_tokens=48,
                journal_dir=RUNS / "trec" / f"shots-{k}",
                progress=True,
            )
        used = usage_of(generator)
        annotated, _ = convert_label_ids_to_texts(annotated, "label", return_label_options=True)
        write_jsonl(annotated, RUNS / "trec" / f"shots-{k}" / "annotated.jsonl")
        by_text = {r["text"]: r["label"] for r in annotated}
        predicted = [by_text.get(q["text"]) for q in questions]  # a failed row counts as wrong
        quality = classification_metrics(
            [q["label"] for q in questions], predicted, labels=list(NAMES.values())
        )
        # a class never (or once) annotated cannot be learned: its test rows count as wrong
        student = train_student(annotated, test, seed=0, labels=list(NAMES.values()))
        student_accuracy = f"{student.accuracy:.4f}" + (
            f" (never learned: {', '.join(student.untrained_labels)})" if student.untrained_labels else ""
        )
        counts = {name: list(annotated["label"]).count(name) for name in NAMES.values()}
        if best is None or quality["accuracy"] > best[0]:
            best = (quality["accuracy"], k, annotated, student)
        table.append(
            [
                k,
                f"{quality['accuracy']:.4f}",
                f"{quality['macro_f1']:.4f}",
                used["failures"],
                student_accuracy,
                " ".join(f"{n[:4]}:{c}" for n, c in counts.items()),
                f"{used['requests']} + {used['cached']}",
                f"{used['tokens']:,}",
                f"{t.seconds:.0f}",
            ]
        )
    if best is not None:
        _, k, annotated, student = best
        labels = list(NAMES.values())
        sizes = [n for n in (50, 100, 200, 500, 1000) if n <= args.n]
        curve = learning_curve(annotated, test, sizes=sizes, gold_train=gold, seed=0, labels=labels)
        write_report(
            RUNS / "trec" / "report",
            student,
            curve=curve,
            comparison=compare(annotated, gold),
            sources={
                "train": f"{args.n} TREC questions annotated {k}-shot by the embedded model",
                "test": f"{len(test)} other TREC train questions (gold)",
            },
            title=f"TREC-6: student on {k}-shot annotations vs gold labels",
        )
    write_table(
        "trec_annotation",
        f"TREC-6 annotation of {args.n} questions by few-shot examples per class",
        [
            "examples per class",
            "annotation accuracy",
            "annotation macro-F1",
            "failed rows",
            "student accuracy",
            "predicted label counts",
            "model calls (new + journal)",
            "tokens (all calls)",
            "seconds (this run)",
        ],
        table,
        [
            f"reference: student trained on the gold labels of the same {args.n} questions: "
            f"{reference.accuracy:.4f} accuracy on {len(test)} held-out TREC train questions",
            f"gold label counts of the annotated questions: {gold_counts}",
            "labels shown to the model as words (abbreviation, description, entity, human, location, number)",
            "model: embedded Qwen2.5-Coder-1.5B-Instruct Q4_K_M, greedy (temperature 0), "
            "label answers constrained by JSON schema",
        ],
    )
    llm.close()


if __name__ == "__main__":
    main()
