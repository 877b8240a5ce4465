"""Generated data against gold at every size: attributes, near-duplicate removal, label verification.

Label-conditioned generation on the embedded model, measured by the default student (MiniLM
embeddings + logistic regression). Three jobs, each resumable (one journal per setting under
experiments/runs/diversity/):

    python experiments/generation_diversity.py sst2 --n 2000      # learning curve vs gold, SST-2
    python experiments/generation_diversity.py sst2 --n 2000 --settings all+openings  # another setting
    python experiments/generation_diversity.py ablation --n 300   # each technique off / on, SST-2
    python experiments/generation_diversity.py trec --n 1200      # six classes, 200 each, TREC-6
    python experiments/generation_diversity.py trec --n 1200 --settings no-verify  # the same, unverified

The attribute lists are generic movie-review and question dimensions written once, before any
run; they are not tuned to the test data. Thresholds: MinHash Jaccard 0.7 on word 2-shingles,
embedding cosine 0.9 (MiniLM), verification by label scoring with verify_min_confidence 0.7.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from typing import Any

from annotation_quality import TREC_DESCRIPTIONS
from common import (
    DATA,
    RESULTS,
    RUNS,
    Timer,
    archive_journal,
    as_dataset,
    embedded_model,
    read_jsonl,
    restore_journal,
    seeded_sample,
    write_table,
)
from datasets import Dataset
from trec_annotation import NAMES as TREC_NAMES

from fabricator import BasePrompt, DatasetGenerator
from fabricator.dataset_transformations import convert_label_ids_to_texts
from fabricator.evaluation.diversity import diversity
from fabricator.evaluation.report import write_report
from fabricator.evaluation.student import learning_curve, train_student
from fabricator.tables import write_jsonl

SENTIMENT_ATTRIBUTES: dict[str, Any] = {
    "aspect": [
        "the acting",
        "the plot",
        "the direction",
        "the script and dialogue",
        "the pacing",
        "the visuals",
        "the music",
        "the characters",
        "the ending",
        "the humor",
        "the emotional impact",
        "the film as a whole",
    ],
    "genre": [
        "comedy",
        "drama",
        "horror film",
        "thriller",
        "romance",
        "action movie",
        "documentary",
        "animated film",
        "science-fiction film",
        "family film",
        "period piece",
        "crime story",
    ],
    "voice": [
        "a newspaper critic",
        "a blogger",
        "a film-school student",
        "a casual viewer",
        "a witty columnist",
    ],
    "length": {
        "a few words": 1,
        "one short sentence": 2,
        "one sentence of 15 to 25 words": 2,
        "one long sentence": 1,
    },
}
SENTIMENT_TASK = "Write {length} from a {} review of a {genre} by {voice}, about {aspect}."
PLAIN_TASK = "Write one {} movie review sentence."
# first words (attribute "opening"): against the "The film was ..." template a small model falls into
OPENINGS = [
    "Despite", "Few", "What", "Even", "It", "If", "Nothing", "Watching", "By", "As",
    "For", "Rarely", "Only", "Not", "From", "With", "Once", "There", "Its", "Although",
]  # fmt: skip
OPENING_TASK = SENTIMENT_TASK + ' Start it with the word "{opening}".'

TREC_ATTRIBUTES: dict[str, Any] = {
    "topic": [
        "history",
        "science",
        "geography",
        "sports",
        "movies and television",
        "music",
        "food and drink",
        "animals and nature",
        "technology",
        "politics",
        "business",
        "literature",
        "medicine",
        "religion and myth",
        "everyday life",
    ],
}
# first words per question type (from the TREC types' definitions, written before any run): one
# opening list for all types made the model write "Who ..." for a number; a free choice echoed the
# instruction into the question
TREC_OPENINGS = {
    "abbreviation": [
        "What does", "What is the abbreviation for", "What is the full form of",
        "What do the letters", "What is the acronym for",
    ],
    "description": [
        "What is", "Why do", "Why did", "How does", "How do you", "What causes", "What happens when",
    ],
    "entity": ["What", "Which", "Name a", "What kind of", "What is the name of"],
    "human": ["Who", "Which company", "Who was the first", "What group", "Name the person who", "Which team"],
    "location": ["Where", "What country", "Which city", "In what state", "What river", "Where is"],
    "number": [
        "How many", "When", "What year", "How much", "How long", "How old", "How far", "What percentage",
    ],
}  # fmt: skip
TREC_ATTRIBUTES["opening"] = {"per_label": TREC_OPENINGS}
TREC_TASK = (
    'Write one trivia question about {topic} whose answer is of the type {}. Start it with "{opening}".'
)
# questions on one template ("What is the capital of X?") differ in the one word that matters:
# MiniLM puts them above 0.9, so questions get a looser embedding threshold than sentences
QUESTION_NEAR_DUP = {"dedup_minhash": 0.7, "dedup_embedding": 0.95}

# the techniques, as generate() options; each setting is a set of them
TECHNIQUES = {
    "attributes": "attributes",
    "near-dup": {"dedup_minhash": 0.7, "dedup_embedding": 0.9},
    "verify": {"verify": True, "verify_min_confidence": 0.7},
    "openings": "openings",
    "fewshot": "fewshot",
    "grouped": {"rows_per_call": 5},  # one call writes five rows (same label and examples)
    "turns": "turns",  # the few-shot examples as earlier turns of the chat (examples_as_turns)
}
SETTINGS = {
    "all": ("attributes", "near-dup", "verify"),
    "no-attributes": ("near-dup", "verify"),
    "no-near-dup": ("attributes", "verify"),
    "no-verify": ("attributes", "near-dup"),
    "none": (),
    "all+openings": ("attributes", "openings", "near-dup", "verify"),
    "all+fewshot": ("attributes", "fewshot", "near-dup", "verify"),
    "all+fewshot+grouped": ("attributes", "fewshot", "near-dup", "verify", "grouped"),
    "fewshot+grouped": ("attributes", "fewshot", "near-dup", "grouped"),
    # inline, the 1.5B teacher copies a shown example in two answers of three (40-prompt probe);
    # shown as its own earlier answers, in one of 40, and it keeps their style
    "turns": ("attributes", "fewshot", "turns", "near-dup"),
    "all+turns": ("attributes", "fewshot", "turns", "near-dup", "verify"),
}
#: few-shot examples per prompt ("fewshot"), of the label asked for, from FEWSHOT_POOL train rows
#: outside every gold sample of the curves (near copies of a shown example are dropped)
FEWSHOT_PER_PROMPT = 3
FEWSHOT_POOL = 1000


def sentiment_pool() -> Dataset:
    """SST-2 train sentences of 8 words or more, none of them in the curves' gold rows."""
    train = read_jsonl(DATA / "sst2" / "train.jsonl")
    gold = {r["text"] for r in seeded_sample(train, 2000, seed=0)}
    rest = [r for r in train if r["text"] not in gold and len(r["text"].split()) >= 8]
    rows = [{"text": r["text"], "label": r["label"]} for r in rest]
    return as_dataset(seeded_sample(rows, FEWSHOT_POOL, seed=1), ["text", "label"])


def sentiment_prompt(with_attributes: bool, openings: bool = False, turns: bool = False) -> BasePrompt:
    return BasePrompt(
        task_description=OPENING_TASK if openings else SENTIMENT_TASK if with_attributes else PLAIN_TASK,
        label_options=["positive", "negative"],
        generate_data_for_column="text",
        examples_as_turns=turns,
    )


def generate_sentiment(setting: str, n: int, llm: Any) -> tuple[Dataset, dict[str, Any]]:
    """``n`` SST-2-like rows made with the techniques of ``setting``, and what they cost.

    Zero-shot: with two SST-2 examples per prompt (the first experiment) a third of the answers
    copied an example nearly word for word, and the examples are most of the prompt's tokens."""
    on = SETTINGS[setting]
    options: dict[str, Any] = {}
    for technique in on:
        value = TECHNIQUES[technique]
        if value == "turns":
            continue  # a prompt option (below)
        if value == "attributes":
            options["attributes"] = dict(SENTIMENT_ATTRIBUTES)
        elif value == "openings":
            options.setdefault("attributes", {})["opening"] = OPENINGS
        elif value == "fewshot":
            options.update(
                fewshot_dataset=sentiment_pool(),
                fewshot_sampling_strategy="uniform",
                fewshot_examples_per_class=FEWSHOT_PER_PROMPT,
            )
        else:
            options.update(value)
    # settings with one prompt share one journal: the same prompt and seed is the same answer, so
    # an ablation pays only for what differs (its summary still counts the journaled tokens)
    journal = "sst2-all" if "attributes" in on else "sst2-no-attributes"
    journal = "sst2-openings" if "openings" in on else journal
    journal = "sst2-fewshot" if "fewshot" in on else journal
    journal = f"{journal}-grouped" if "grouped" in on else journal
    journal = f"{journal}-turns" if "turns" in on else journal
    prompt = sentiment_prompt("attributes" in on, "openings" in on, "turns" in on)
    return _generate(f"sst2-{setting}", prompt, n, llm, options, max_tokens=60, journal=journal)


def _generate(
    name: str,
    prompt: BasePrompt,
    n: int,
    llm: Any,
    options: dict[str, Any],
    max_tokens: int,
    journal: str | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    run = RUNS / "diversity" / name
    shared = RUNS / "diversity" / (journal or name)
    if restore_journal(shared / "journal", journal or name):
        print(f"resuming from the committed journal experiments/results/journals/{journal or name}")
    generator = DatasetGenerator(llm)
    with Timer() as t:
        generated = generator.generate(
            prompt_template=prompt,
            num_samples_to_generate=n,
            max_prompt_calls=n * 4,
            max_tokens=max_tokens,
            temperature=0.9,
            seed=0,
            journal_dir=shared / "journal",
            log_path=run / "log.jsonl",
            progress=True,
            **options,
        )
    assert not isinstance(generated, tuple) and generator.last_run is not None
    generated, _ = convert_label_ids_to_texts(generated, "label", return_label_options=True)
    write_jsonl(generated, run / "generated.jsonl")
    report = generator.last_run
    summary = report.summary()
    summary["wall_s"] = round(t.seconds, 1)
    summary["attributes_of_rows"] = [p.get("attributes") or {} for p in report.provenance]
    (run / "summary.json").write_text(
        json.dumps({k: v for k, v in summary.items() if k != "attributes_of_rows"})
    )
    return generated, summary


def tokens(summary: dict[str, Any]) -> int:
    return int(summary["prompt_tokens"] + summary["completion_tokens"] + summary.get("cached_tokens", 0))


def setting_tag(setting: str) -> str:
    """The suffix a setting's result files carry ("" for the default "all")."""
    return "" if setting == "all" else f"_{setting.replace('+', '_')}"


def sst2_curve(n: int, parallel: int, setting: str = "all") -> None:
    """The learning curve: students on 100..n generated rows against as many gold rows.

    Another ``setting`` than "all" writes its files with the setting in their names."""
    tag = setting_tag(setting)
    validation = as_dataset(read_jsonl(DATA / "sst2" / "validation.jsonl"), ["text", "label"])
    gold = as_dataset(seeded_sample(read_jsonl(DATA / "sst2" / "train.jsonl"), n, seed=0), ["text", "label"])
    llm = embedded_model(parallel)
    try:
        generated, summary = generate_sentiment(setting, n, llm)
    finally:
        llm.close()
    sizes = [s for s in (100, 200, 500, 1000, 2000) if s <= n]
    curve = learning_curve(generated, validation, sizes=sizes, gold_train=gold, seed=0)
    spread = diversity(
        generated["text"],
        labels=generated["label"],
        attributes=summary["attributes_of_rows"],
        gold_texts=gold["text"],
    )
    gold_spread = diversity(gold["text"], labels=[str(x) for x in gold["label"]])
    write_jsonl(generated.select_columns(["text", "label"]), RESULTS / f"sentiment_generated{tag}_{n}.jsonl")
    report_dir = RUNS / "diversity" / f"sst2-{setting}" / "report"
    write_report(
        report_dir,
        train_student(generated, validation, seed=0),
        curve=curve,
        sources={"train": f"{n} generated rows ({', '.join(SETTINGS[setting])})", "test": "sst2/validation"},
    )
    shutil.copy(report_dir / "learning_curve.png", RESULTS / f"generation_diversity_sst2{tag}_curve.png")
    accuracy = {(p.source, p.n): p.accuracy for p in curve.points}
    rows = []
    for size in sizes:
        mine, theirs = accuracy.get(("generated", size)), accuracy.get(("gold", size))
        margin = f"{mine - theirs:+.4f}" if mine is not None and theirs is not None else "-"
        rows.append([size, _acc(mine), _acc(theirs), margin])
    (RESULTS / f"generation_diversity_sst2{tag}.json").write_text(
        json.dumps(
            {
                "summary": {k: v for k, v in summary.items() if k != "attributes_of_rows"},
                "diversity": spread,
                "gold_diversity": gold_spread,
            },
            indent=2,
            default=str,
        )
    )
    write_table(
        f"generation_diversity_sst2{tag}",
        f"SST-2: students on generated vs gold rows (up to {n})",
        ["rows", "generated", "gold", "generated - gold"],
        rows,
        [
            f"generated ({setting}: {', '.join(SETTINGS[setting])}); {summary['rows']} rows, "
            f"{summary['calls']} model calls, {tokens(summary):,} tokens, {summary['wall_s']:.0f} s wall",
            f"verification: {json.dumps(summary.get('verification'))}; near duplicates dropped: "
            f"{summary.get('near_duplicates')}",
            f"diversity of the generated rows: distinct-2 {spread['distinct_2']:.3f} "
            f"(gold {gold_spread['distinct_2']:.3f}), embedding spread {spread.get('embedding_spread')} "
            f"(gold {gold_spread.get('embedding_spread')}), "
            f"nearest-gold similarity {spread.get('nearest_gold')}",
            "student: frozen all-MiniLM-L6-v2 embeddings + logistic regression (C by 5-fold CV), seed 0; "
            "test: SST-2 validation (872)",
            f"rows: experiments/results/sentiment_generated{tag}_{n}.jsonl; "
            f"plot: generation_diversity_sst2{tag}_curve.png",
        ],
    )


def _acc(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def ablation(n: int, parallel: int, settings: list[str]) -> None:
    """Each technique off / on at ``n`` rows: student accuracy, tokens and time."""
    validation = as_dataset(read_jsonl(DATA / "sst2" / "validation.jsonl"), ["text", "label"])
    llm = embedded_model(parallel)
    results = []
    try:
        for setting in settings:
            generated, summary = generate_sentiment(setting, n, llm)
            student = train_student(generated, validation, seed=0)
            spread = diversity(generated["text"], labels=generated["label"])
            results.append((setting, generated, summary, student, spread))
    finally:
        llm.close()
    write_table(
        f"generation_diversity_ablation_{n}",
        f"SST-2 generation ablation: {n} rows per setting",
        [
            "setting",
            *TECHNIQUES,  # one on/off column per technique
            "student acc",
            "distinct-2",
            "spread",
            "calls",
            "tokens",
            "wall s",
        ],
        [
            [
                setting,
                *("on" if t in SETTINGS[setting] else "off" for t in TECHNIQUES),
                f"{student.accuracy:.4f}",
                f"{spread['distinct_2']:.3f}",
                f"{spread.get('embedding_spread') or 0:.3f}",
                summary["calls"],
                f"{tokens(summary):,}",
                f"{summary['wall_s']:.0f}",
            ]
            for setting, _, summary, student, spread in results
        ],
        [
            "test: SST-2 validation (872); student: MiniLM embeddings + logistic regression, seed 0",
            "tokens and wall time include answers found in the journal of an earlier run "
            "(then wall is lower)",
        ],
    )


#: TREC settings: "no-verify" keeps what the writer wrote. The 1.5B teacher reads most "human"
#: questions ("Who is the founder of Google?") as "entity", so verification drops nearly all of
#: them, and the run spends its calls on replacements that are dropped too (docs/experiments.md)
TREC_SETTINGS = {
    "all": ("attributes", "near-dup", "verify"),
    "no-verify": ("attributes", "near-dup"),
    # the verifier's lean ("human" read as "entity") divided out; six labels spread a calibrated
    # distribution's mass, so a verified row needs 0.5, not the binary SST-2 runs' 0.7
    "calibrated-verify": ("attributes", "near-dup", "verify", "calibration"),
    # examples of the asked type per prompt, from train questions outside the test and gold rows
    "fewshot": ("attributes", "near-dup", "fewshot"),
}
#: "fewshot": examples per prompt, from a pool of TREC_POOL_PER_TYPE questions of each type
TREC_FEWSHOT_PER_PROMPT = 2
TREC_POOL_PER_TYPE = 50
#: with examples in the prompt the model repeats one about a third of the time (SST-2, 300 rows)
NOT_A_COPY = " Write a new one; do not repeat the examples."


def trec(n: int, parallel: int, setting: str = "all") -> None:
    """Six question types, n/6 each, against n gold train questions; test: 500 other questions."""
    rows = [
        {"text": r["text"], "label": TREC_NAMES[r["label"]]}
        for r in read_jsonl(DATA / "trec" / "train.jsonl")
    ]
    random.Random(0).shuffle(rows)
    test_rows, gold_rows = rows[:500], rows[500 : 500 + n]
    test, gold = as_dataset(test_rows, ["text", "label"]), as_dataset(gold_rows, ["text", "label"])
    fewshot = "fewshot" in TREC_SETTINGS[setting]
    prompt = BasePrompt(
        task_description=TREC_TASK + NOT_A_COPY if fewshot else TREC_TASK,
        label_options=list(TREC_NAMES.values()),
        label_descriptions=TREC_DESCRIPTIONS,
        generate_data_for_column="text",
    )
    options: dict[str, Any] = {"attributes": TREC_ATTRIBUTES, **QUESTION_NEAR_DUP}
    if "verify" in TREC_SETTINGS[setting]:
        options.update(TECHNIQUES["verify"])  # type: ignore[arg-type]
    if "calibration" in TREC_SETTINGS[setting]:
        options.update(calibration="batch", verify_min_confidence=0.5)
    if fewshot:  # the pool: the first questions of each type after the test and gold rows
        rest = rows[500 + max(n, 1200) :]  # the same pool for any n up to the full run
        pool = [
            r for t in TREC_NAMES.values() for r in [r for r in rest if r["label"] == t][:TREC_POOL_PER_TYPE]
        ]
        options.update(
            fewshot_dataset=as_dataset(pool, ["text", "label"]),
            fewshot_sampling_strategy="uniform",
            fewshot_examples_per_class=TREC_FEWSHOT_PER_PROMPT,
        )
    tag = "" if setting == "all" else f"_{setting.replace('-', '_')}"
    llm = embedded_model(parallel)
    try:  # one journal: a setting without verification reuses the questions written with it
        generated, summary = _generate(
            f"trec-{setting}",
            prompt,
            n,
            llm,
            options,
            max_tokens=40,
            journal="trec-fewshot" if fewshot else "trec-all",
        )
    finally:
        llm.close()
    on_generated = train_student(generated, test, seed=0)
    on_gold = train_student(gold, test, seed=0)
    spread = diversity(generated["text"], labels=generated["label"], gold_texts=gold["text"])
    # leakage check: generated questions that (nearly) repeat a test question
    near_test = diversity(generated["text"], gold_texts=test["text"])["near_gold_copies"]
    exact_test = len({_plain(t) for t in generated["text"]} & {_plain(t) for t in test["text"]})
    write_jsonl(generated.select_columns(["text", "label"]), RESULTS / f"trec_generated{tag}_{n}.jsonl")
    counts = {label: list(generated["label"]).count(label) for label in TREC_NAMES.values()}
    write_table(
        f"generation_diversity_trec{tag}",
        f"TREC-6: students on {n} generated vs {n} gold questions",
        ["student trained on", "rows", "accuracy (500 held-out gold questions)", "macro-F1"],
        [
            [
                f"generated ({', '.join(TREC_SETTINGS[setting])})",
                len(generated),
                f"{on_generated.accuracy:.4f}",
                f"{on_generated.macro_f1:.4f}",
            ],
            ["gold TREC train", len(gold), f"{on_gold.accuracy:.4f}", f"{on_gold.macro_f1:.4f}"],
        ],
        [
            f"ratio generated / gold: {on_generated.accuracy / on_gold.accuracy:.3f} (target >= 0.85)",
            f"per class: {counts}; {summary['calls']} model calls, {tokens(summary):,} tokens, "
            f"{summary['wall_s']:.0f} s wall",
            f"verification: {json.dumps(summary.get('verification'))}; near duplicates dropped: "
            f"{summary.get('near_duplicates')}",
            f"distinct-2 {spread['distinct_2']:.3f}, spread {spread.get('embedding_spread')}, "
            f"nearest-gold {spread.get('nearest_gold')}",
            f"test questions repeated: {exact_test} word for word; share of rows nearly copying a "
            f"test question (MiniLM cosine >= 0.95): {near_test:.3f}",
            *(
                [
                    f"few-shot: {TREC_FEWSHOT_PER_PROMPT} examples of the asked type per prompt, from "
                    f"{TREC_POOL_PER_TYPE} gold train questions per type outside the test and gold rows"
                ]
                if fewshot
                else []
            ),
        ],
    )


def _plain(text: str) -> str:
    """A question without case, spacing or punctuation, to find word-for-word repeats."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("job", choices=["sst2", "ablation", "trec", "archive"])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--settings", default=None, help="ablation: a list (default: all); sst2, trec: one")
    parser.add_argument("--journal", default=None, help="archive: the journal to commit (sst2-fewshot-turns)")
    args = parser.parse_args()
    if args.job == "archive":  # the answers so far, for a fresh clone to resume from
        print(archive_journal(RUNS / "diversity" / args.journal / "journal", args.journal))
    elif args.job == "sst2":
        sst2_curve(args.n or 2000, args.parallel, args.settings or "all")
    elif args.job == "ablation":
        ablation(args.n or 300, args.parallel, (args.settings or ",".join(SETTINGS)).split(","))
    else:
        trec(args.n or 1200, args.parallel, args.settings or "all")


if __name__ == "__main__":
    main()
