"""Quality guard of issue 29: does the faster generation layout cost the student anything?

Generates N SST-2-style sentiment rows on the embedded model with one of two settings (section 1 of
docs/experiments.md: two SST-2 train examples of the asked label per prompt, temperature 0.9, at
most 60 new tokens, 4 slots):

* ``today``: a new few-shot draw for every row (``fewshot_reuse=1``, the setting before issue 29);
* ``new``: the defaults since issue 29 (``pipeline.layout``): a block of 4 rows shares its label and
  its draw, so the block's prompts are one text that the server's prompt cache serves after the
  first row; 4 blocks dealt round robin, one per server slot, each pinned to its slot.

Then ``--evaluate`` trains the default student (MiniLM embeddings + logistic regression) on each
setting's rows with 3 seeds and scores it on SST-2 validation, with distinct-2 of the rows.
Resumable: each setting's journal is under experiments/runs/speed_<setting>.

    python experiments/generation_speed_quality.py --setting new [--n 500]
    python experiments/generation_speed_quality.py --setting today [--n 500]
    python experiments/generation_speed_quality.py --evaluate [--n 500]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

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

from fabricator import BasePrompt, DatasetGenerator
from fabricator.dataset_transformations import convert_label_ids_to_texts
from fabricator.evaluation.diagnostics import distinct_n
from fabricator.evaluation.student import train_student
from fabricator.tables import write_jsonl

SEEDS = (0, 1, 2)


def rows_path(setting: str, n: int) -> Path:
    return RESULTS / f"sentiment_speed_{setting}_{n}.jsonl"


def layout(setting: str, reuse: int | None) -> dict[str, int]:
    """``today``: a draw per row; ``new``: the defaults (``pipeline.layout``), or ``reuse`` rows a draw."""
    if setting == "today":
        return {"fewshot_reuse": 1}
    return {"fewshot_reuse": reuse, "fewshot_blocks": 4} if reuse else {}


def generate(setting: str, n: int, reuse: int | None) -> None:
    train = read_jsonl(DATA / "sst2" / "train.jsonl")
    pool_rows = [r for r in train if len(r["text"].split()) >= 12]
    fewshot = as_dataset(seeded_sample(pool_rows, 400, seed=1), ["text", "label"])
    prompt = BasePrompt(
        task_description="Write one {} movie review sentence in the style of the examples.",
        label_options=["positive", "negative"],
        generate_data_for_column="text",
    )
    llm = embedded_model(4)
    generator = DatasetGenerator(llm)
    with Timer() as t:
        generated = generator.generate(
            prompt_template=prompt,
            fewshot_dataset=fewshot,
            fewshot_sampling_strategy="uniform",
            fewshot_examples_per_class=2,
            fewshot_sampling_column="label",
            num_samples_to_generate=n,
            max_prompt_calls=int(n * 1.5),
            max_tokens=60,
            temperature=0.9,
            seed=0,
            **layout(setting, reuse),
            journal_dir=RUNS / f"speed_{setting}" / "journal",
            progress=True,
        )
    llm.close()
    generated, _ = convert_label_ids_to_texts(generated, "label", return_label_options=True)
    write_jsonl(generated, rows_path(setting, n))
    assert generator.last_run is not None
    s = generator.last_run.summary()
    print(
        f"{setting}: {len(generated)} rows, {s['requests']} calls ({s['cached']} from the journal), "
        f"{s['prompt_tokens']:,} prompt tokens ({s['prompt_cache_tokens']:,} from the server's cache), "
        f"{s['completion_tokens']:,} completion tokens, {t.seconds:.0f} s"
    )


def evaluate(n: int, today_rows: Path | None) -> None:
    """``today_rows``: rows made earlier with today's settings, instead of this script's own."""
    validation = as_dataset(read_jsonl(DATA / "sst2" / "validation.jsonl"), ["text", "label"])
    table = []
    for setting in ("today", "new"):
        rows = read_jsonl(today_rows if setting == "today" and today_rows else rows_path(setting, n))
        data = as_dataset(rows, ["text", "label"])
        scores = [train_student(data, validation, seed=seed).accuracy for seed in SEEDS]
        mean, sd = statistics.mean(scores), statistics.stdev(scores)
        each = ", ".join(f"{s:.4f}" for s in scores)
        table.append(
            [setting, len(rows), f"{mean:.4f} ± {sd:.4f}", each, f"{distinct_n(data['text'], 2):.3f}"]
        )
    write_table(
        f"generation_speed_quality_{n}",
        f"Issue 29 quality guard: {n} generated SST-2 rows, today's settings vs the new defaults",
        ["setting", "rows", "student accuracy (mean ± sd, 3 seeds)", "per seed", "distinct-2"],
        table,
        [
            "student: MiniLM embeddings + logistic regression (C by 5-fold CV), seeds 0, 1, 2",
            "test: SST-2 validation (872 rows)",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setting", choices=("today", "new"))
    parser.add_argument("--evaluate", action="store_true")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--reuse", type=int, default=None, help="new: rows a draw (default: the defaults)")
    parser.add_argument("--today-rows", type=Path, default=None, help="evaluate these as today's rows")
    args = parser.parse_args()
    if args.setting:
        generate(args.setting, args.n, args.reuse)
    if args.evaluate:
        evaluate(args.n, args.today_rows)


if __name__ == "__main__":
    main()
