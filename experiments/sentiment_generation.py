"""Label-conditioned generation of sentiment examples vs gold, measured by a student.

Generates N positive/negative examples on the embedded model with two SST-2 train examples of
the asked label in each prompt, then trains the default student (MiniLM embeddings + logistic
regression) on them and, for comparison, on N gold SST-2 train rows; both are scored on
SST-2 validation. Resumable: the journal lives in experiments/runs/sentiment.

    python experiments/sentiment_generation.py [--n 500]
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
from fabricator.evaluation.diagnostics import compare
from fabricator.evaluation.report import write_report
from fabricator.evaluation.student import learning_curve, train_student
from fabricator.tables import write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    train = read_jsonl(DATA / "sst2" / "train.jsonl")
    validation = as_dataset(read_jsonl(DATA / "sst2" / "validation.jsonl"), ["text", "label"])
    # few-shot pool: whole-sentence-like phrases (SST-2 train also holds short fragments)
    pool_rows = [r for r in train if len(r["text"].split()) >= 12]
    fewshot = as_dataset(seeded_sample(pool_rows, 400, seed=1), ["text", "label"])
    gold = as_dataset(seeded_sample(train, args.n, seed=0), ["text", "label"])

    prompt = BasePrompt(
        task_description="Write one {} movie review sentence in the style of the examples.",
        label_options=["positive", "negative"],
        generate_data_for_column="text",
    )
    llm = embedded_model(args.parallel)
    generator = DatasetGenerator(llm)
    with Timer() as t:
        generated = generator.generate(
            prompt_template=prompt,
            fewshot_dataset=fewshot,
            fewshot_sampling_strategy="uniform",
            fewshot_examples_per_class=2,
            fewshot_sampling_column="label",
            num_samples_to_generate=args.n,
            max_prompt_calls=int(args.n * 1.5),
            max_tokens=60,
            temperature=0.9,
            seed=0,
            journal_dir=RUNS / "sentiment" / "journal",
            log_path=RUNS / "sentiment" / "log.jsonl",
            progress=True,
        )
    generated, _ = convert_label_ids_to_texts(generated, "label", return_label_options=True)
    write_jsonl(generated, RUNS / "sentiment" / "generated.jsonl")
    used = usage_of(generator)

    on_generated = train_student(generated, validation, seed=0)
    on_gold = train_student(gold, validation, seed=0)
    sizes = [s for s in (50, 100, 200, 500, 1000) if s <= args.n]
    curve = learning_curve(generated, validation, sizes=sizes, gold_train=gold, seed=0)
    write_report(
        RUNS / "sentiment" / "report",
        on_generated,
        curve=curve,
        comparison=compare(generated, gold),
        sources={"train": "generated (embedded model)", "test": "sst2/validation"},
    )
    write_table(
        "sentiment_generation",
        f"Label-conditioned generation: {args.n} sentiment examples",
        ["student trained on", "rows", "SST-2 validation accuracy", "macro-F1"],
        [
            [
                "generated (embedded Qwen2.5-Coder-1.5B)",
                len(generated),
                f"{on_generated.accuracy:.4f}",
                f"{on_generated.macro_f1:.4f}",
            ],
            [
                "gold SST-2 train (seeded sample)",
                len(gold),
                f"{on_gold.accuracy:.4f}",
                f"{on_gold.macro_f1:.4f}",
            ],
        ],
        [
            f"generation: {used['rows']} rows, {used['failures']} failed rows, {used['requests']} model "
            f"calls ({used['cached']} from the journal), {used['tokens']:,} tokens, {t.seconds:.0f} s wall",
            "student: frozen all-MiniLM-L6-v2 embeddings + logistic regression (C by 5-fold CV), seed 0",
            "report with learning curves and diagnostics: experiments/runs/sentiment/report/report.md",
        ],
    )
    llm.close()


if __name__ == "__main__":
    main()
