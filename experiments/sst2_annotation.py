"""Annotation of the first N SST-2 validation sentences on the embedded model (issue check).

Every output label must be one of the options (answers are constrained by JSON schema and then
normalised); prints the parse-failure count and the accuracy against gold. Resumable.

    python experiments/sst2_annotation.py [--n 200] [--shots 0]
"""

from __future__ import annotations

import argparse

from common import (
    DATA,
    RUNS,
    Timer,
    as_dataset,
    embedded_model,
    read_jsonl,
    seeded_sample,
    usage_of,
    write_table,
)

from fabricator import BasePrompt, DatasetGenerator
from fabricator.dataset_transformations import convert_label_ids_to_texts
from fabricator.evaluation.annotation_metrics import classification_metrics

OPTIONS = ["negative", "positive"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--shots", type=int, default=0, help="few-shot examples per class (from SST-2 train)")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    gold_rows = read_jsonl(DATA / "sst2" / "validation.jsonl")[: args.n]
    sentences = as_dataset(gold_rows, ["text"])
    train = [r for r in read_jsonl(DATA / "sst2" / "train.jsonl") if len(r["text"].split()) >= 8]
    fewshot = as_dataset(seeded_sample(train, 200, seed=0), ["text", "label"]) if args.shots else None
    prompt = BasePrompt(
        "Classify the sentiment of the movie review as one of: {}.",
        label_options=OPTIONS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    llm = embedded_model(args.parallel)
    generator = DatasetGenerator(llm)
    with Timer() as t:
        annotated = generator.generate(
            prompt,
            fewshot_dataset=fewshot,
            fewshot_sampling_strategy="stratified" if args.shots else None,
            fewshot_examples_per_class=args.shots or None,
            unlabeled_dataset=sentences,
            max_prompt_calls=args.n,
            temperature=0.0,
            max_tokens=48,
            journal_dir=RUNS / "sst2" / f"shots-{args.shots}",
            progress=True,
        )
    used = usage_of(generator)
    annotated, _ = convert_label_ids_to_texts(annotated, "label", return_label_options=True)
    assert set(annotated["label"]) <= set(OPTIONS), "a label outside the options reached the dataset"
    by_text = {r["text"]: r["label"] for r in annotated}
    predicted = [by_text.get(r["text"]) for r in gold_rows]  # a failed row counts as wrong
    scores = classification_metrics([r["label"] for r in gold_rows], predicted, labels=OPTIONS)
    print(f"parse failures: {used['failures']} of {args.n}")
    write_table(
        f"sst2_annotation_{args.shots}shot",
        f"SST-2 validation: annotation of the first {args.n} sentences",
        ["few-shot per class", "accuracy", "macro-F1", "failed rows", "tokens", "seconds"],
        [
            [
                args.shots,
                f"{scores['accuracy']:.4f}",
                f"{scores['macro_f1']:.4f}",
                used["failures"],
                f"{used['tokens']:,}",
                f"{t.seconds:.0f}",
            ]
        ],
        [
            "every returned label is one of the options (checked); failed rows count as wrong",
            "model: embedded Qwen2.5-Coder-1.5B-Instruct Q4_K_M, temperature 0, "
            "JSON-schema constrained label",
        ],
    )
    llm.close()


if __name__ == "__main__":
    main()
