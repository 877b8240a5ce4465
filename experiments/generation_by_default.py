"""Issue 28, generation check: do pilots and the student in the loop make rows that train a student
as well as gold rows, and never worse than today's defaults?

Each setting writes ``--n`` rows (an even share per label) on the embedded model from the same
labelled pool, with the prompt of docs/experiments.md section 1 (sentiment) or of
``student_loop_trec.py`` (TREC-6): two pool rows of the asked label a prompt, temperature 0.9.

* ``today``: the defaults before issue 28's part 2 (no pilot, no loop);
* ``tuned``: ``pilots=True`` (a 40-row pilot per candidate setting, the best by a student on the
  pool) and ``student_loop=True`` (4 rounds steered by the student's errors on held-out pool rows).
  Its committed rows were made before a steered label kept half its shown rows (``KEEP_SHOWN``);
* ``tuned-wide``: the same with today's code, which keeps them (start it from a copy of the
  ``tuned`` journal: the pilots and the first round are the same prompts, so they cost nothing);
* ``checked``: the defaults since the pool check (a classifier fitted on the pool drops rows it
  reads as another label, ``pipeline.filters.pool_check``). ``today`` and ``tuned*`` keep the
  check off, as their committed rows were made. Start it from a copy of ``today``'s journal: the
  first round's prompts are the same, so only the rows written in place of dropped ones cost calls;
* ``tuned-checked``: pilots, the student loop and the pool check (start it from a copy of
  ``tuned-wide``'s journal);
* ``checked-x8``, ``checked-x4``, ``checked-x1``: the pool check with eight (four, one) pool rows
  of the asked label a prompt, not two.
* ``opening-x4``: ``checked-x4``, and each prompt asks for a row that begins with the first two
  words of a pool row of its label (a per-label attribute weighted by the pool's counts);
* ``topics-x4``: ``checked-x4``, and each prompt names a subject, one of 30 the model proposes
  for each label before the rows (``{"propose": 30}``);
* ``described-x4`` (TREC-6): ``checked-x4`` with the label descriptions written for annotation
  (``annotation_quality.TREC_DESCRIPTIONS``, before any generation run): each prompt also says
  what its type means, as a user who describes the labels would have it.

A student (MiniLM + logistic regression, seeds 0-2) is trained on each setting's rows and on
``--n`` gold rows (a seeded train sample, disjoint from the pool) and tested on the dataset's
test rows. One journal per dataset and setting, so a rerun pays nothing.

    python experiments/generation_by_default.py sst2 --settings tuned [--n 500]
    python experiments/generation_by_default.py sst2 --evaluate \
        --today-rows experiments/results/sentiment_speed_new_500.jsonl
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from annotation_quality import TREC_DESCRIPTIONS
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
from trec_annotation import NAMES

from fabricator import BasePrompt, DatasetGenerator
from fabricator.dataset_transformations import convert_label_ids_to_texts
from fabricator.evaluation.diagnostics import distinct_n
from fabricator.evaluation.student import train_student
from fabricator.tables import write_jsonl

SEEDS = (0, 1, 2)
#: the settings ``--evaluate`` reads the rows of, where they were made
SETTINGS = (
    *("today", "today@1", "checked", "checked@1"),
    *("tuned", "tuned-wide", "tuned-wide@1", "tuned-checked"),
    *("checked-x1", "checked-x1@1", "checked-x4", "checked-x4@1"),
    *("opening-x4", "opening-x4@1", "checked-x8", "checked-x8@1", "topics-x4", "topics-x4@1"),
    *("described-x4", "described-x4@1"),
)
SENTIMENT = "Write one {} movie review sentence in the style of the examples."
TREC_TASK = "Write one question whose answer is of the type {}. Write a new one; do not repeat the examples."
POLARITY = {"neg": "negative", "pos": "positive"}
#: ``opening-*``: each prompt asks for a row that starts with the first words of a pool row of its
#: label, drawn with the pool's own frequencies, so rows take the forms the pool's rows take
OPENING = ' Begin it with "{opening}".'
#: ``topics-*``: each prompt names a subject, one of 30 the model proposes for each label first
TOPIC = " Subject: {topic}."


def openings(pool: list[dict], words: int = 2) -> dict[str, Any]:
    """A per-label attribute: the first ``words`` words of the pool's rows, weighted by count."""
    by_label: dict[str, Counter[str]] = {}
    for row in pool:
        by_label.setdefault(row["label"], Counter())[" ".join(row["text"].split()[:words])] += 1
    return {"opening": {"per_label": {label: dict(counts) for label, counts in by_label.items()}}}


def data(name: str, n: int) -> tuple[list[dict], list[dict], list[dict]]:
    """The labelled pool, ``n`` gold rows and the test rows, disjoint."""
    if name == "trec":
        rows = [
            {"text": r["text"], "label": NAMES[r["label"]]} for r in read_jsonl(DATA / "trec" / "train.jsonl")
        ]
        random.Random(0).shuffle(rows)
        rest = rows[500 + n :]
        pool = [r for t in NAMES.values() for r in [r for r in rest if r["label"] == t][:40]]
        return pool, rows[500 : 500 + n], rows[:500]
    train = read_jsonl(DATA / name / "train.jsonl")
    test = read_jsonl(DATA / name / "validation.jsonl")
    if name == "rotten_tomatoes":
        train = [{"text": r["text"], "label": POLARITY[r["label"]]} for r in train]
        test = [{"text": r["text"], "label": POLARITY[r["label"]]} for r in test]
    long = [r for r in train if len(r["text"].split()) >= 12]
    pool = seeded_sample(long, 400, seed=1)
    chosen = {r["text"] for r in pool}
    gold = seeded_sample([r for r in train if r["text"] not in chosen], n, seed=0)
    return pool, gold, test


def rows_path(name: str, setting: str, n: int) -> Path:
    return RESULTS / f"generation_by_default_{name}_{setting.replace('@', '-seed')}_{n}.jsonl"


def generate(name: str, setting: str, n: int, pool: list[dict], calls: float = 1.5) -> dict[str, Any]:
    labels = list(NAMES.values()) if name == "trec" else ["positive", "negative"]
    opening, topical = setting.startswith("opening"), setting.startswith("topics")
    described = setting.startswith("described")
    if described and name != "trec":
        raise SystemExit("described-* has descriptions for TREC-6 only")
    task = (TREC_TASK if name == "trec" else SENTIMENT) + (OPENING if opening else TOPIC if topical else "")
    prompt = BasePrompt(
        task, label_options=labels, generate_data_for_column="text",
        label_descriptions=TREC_DESCRIPTIONS if described else None,
    )  # fmt: skip
    tuned = setting.startswith("tuned")
    # the pool check: every setting since "checked" ("tuned-checked": with pilots and the loop)
    checked = "checked" in setting or opening or topical or described
    shown = {"-x8": 8, "-x4": 4, "-x1": 1}.get(setting.partition("@")[0][-3:], 2)  # "checked-x4": four
    seed = int(setting.partition("@")[2] or 0)  # "today@1": today's defaults, sampling seed 1
    llm = embedded_model(4)
    generator = DatasetGenerator(llm)
    with Timer() as t:
        made = generator.generate(
            prompt, as_dataset(pool, ["text", "label"]), "uniform", shown, "label",
            num_samples_to_generate=n, max_prompt_calls=int(n * calls),
            max_tokens=60 if name != "trec" else 40,
            temperature=0.9, seed=seed, pilots=tuned, student_loop=tuned,
            pool_classifier="auto" if checked else "off",
            attributes=openings(pool) if opening else {"topic": {"propose": 30}} if topical else None,
            journal_dir=RUNS / "generation_by_default" / name / setting.replace("@", "-seed"), progress=True,
        )  # fmt: skip
    llm.close()
    assert generator.last_run is not None
    summary = generator.last_run.summary()
    made, _ = convert_label_ids_to_texts(made, "label", return_label_options=True)
    write_jsonl(made, rows_path(name, setting, n))
    loop = summary.get("student_loop") or {}
    return {
        "calls": summary["calls"],
        "seconds": round(t.seconds),
        "pilots": (generator.last_run.pilots or {}).get("chosen"),
        "pool_check": {k: v for k, v in (summary.get("pool_check") or {}).items() if k != "by_label"},
        "rounds": [(r.get("round"), r.get("accuracy")) for r in loop.get("rounds", [])],
    }


def score(rows: list[dict], test: Any) -> tuple[str, str, str]:
    train = as_dataset(rows, ["text", "label"])
    each = [train_student(train, test, seed=seed).accuracy for seed in SEEDS]
    mean, sd = statistics.mean(each), statistics.stdev(each)
    return (
        f"{mean:.4f} ± {sd:.4f}",
        ", ".join(f"{s:.4f}" for s in each),
        f"{distinct_n(train['text'], 2):.3f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", choices=("sst2", "rotten_tomatoes", "trec"))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument(
        "--settings",
        default="",
        help="comma-separated, from SETTINGS (the module docstring says each); @1: seed 1",
    )
    parser.add_argument("--evaluate", action="store_true")
    parser.add_argument(
        "--calls", type=float, default=1.5, help="max_prompt_calls a row (a rerun pays only the new calls)"
    )
    parser.add_argument(
        "--today-rows", type=Path, default=None, help="rows made earlier with today's defaults"
    )
    args = parser.parse_args()
    settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:  # an unknown name would otherwise run as "today" under its own journal
        parser.error(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
    pool, gold, test_rows = data(args.dataset, args.n)
    for setting in settings:
        print(setting, generate(args.dataset, setting, args.n, pool, args.calls), flush=True)
    if not args.evaluate:
        return
    test = as_dataset(test_rows, ["text", "label"])
    table = []
    for setting in SETTINGS:
        path = (
            args.today_rows
            if setting == "today" and args.today_rows
            else rows_path(args.dataset, setting, args.n)
        )
        if path.exists():
            rows = read_jsonl(path)
            table.append([setting, len(rows), *score(rows, test)])
    table.append(["gold", len(gold), *score(gold, test)])
    write_table(
        f"generation_by_default_{args.dataset}_{args.n}",
        f"{args.dataset}: {args.n} generated rows, today's defaults, pilots + student loop, {args.n} gold",
        ["rows from", "rows", "student accuracy (mean ± sd, 3 seeds)", "per seed", "distinct-2"],
        table,
        ["student: MiniLM embeddings + logistic regression, seeds 0, 1, 2", f"test: {len(test_rows)} rows"],
    )


if __name__ == "__main__":
    main()
