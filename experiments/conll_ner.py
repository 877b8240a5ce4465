"""NER annotation of CoNLL-03 sentences into BIO tags, scored with entity-level F1.

The embedded model reads each sentence and answers a JSON list of {text, type}; spans become BIO
tags (a span that is not in the sentence is a failed row). Few-shot: K CoNLL train sentences
with entities per prompt. Resumable.

    python experiments/conll_ner.py [--n 100] [--shots 3]
    python experiments/conll_ner.py --n 200 --shots 6 --similar   # the nearest train sentences
    python experiments/conll_ner.py --n 200 --default             # the pool given, nothing else

``--similar``: each sentence gets the ``--shots`` train sentences nearest to it (MiniLM
embeddings, ``fewshot_sampling_strategy="similar"``) from a pool of 3,000 seeded train sentences
(any number of entities) instead of random ones from 200 sentences with two or more entities.

``--default``: the same pool of 3,000 and no other option (no strategy, no count of examples,
``max_prompt_calls = n``): what the toolkit picks by itself (docs/tuning.md, "NER: examples chosen
on your pool"); ``--tune-budget`` sets ``tune_budget`` (default: the toolkit's 0.1).
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
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.evaluation.annotation_metrics import ner_metrics
from fabricator.formats import Entities

TYPES = ["PER", "ORG", "LOC", "MISC"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--similar", action="store_true", help="the nearest train sentences as examples")
    parser.add_argument("--default", action="store_true", help="the pool of --similar and no other option")
    parser.add_argument("--tune-budget", type=float, default=None, help="with --default: tune_budget")
    args = parser.parse_args()
    validation = read_jsonl(DATA / "conll2003" / "validation.jsonl")[: args.n]
    train = [
        r
        for r in read_jsonl(DATA / "conll2003" / "train.jsonl")
        if 8 <= len(r["tokens"]) <= 30 and sum(t.startswith("B-") for t in r["ner_tags"]) >= 2
    ]
    fewshot = as_dataset(seeded_sample(train, 200, seed=0), ["tokens", "ner_tags"])
    if args.similar or args.default:
        every = [r for r in read_jsonl(DATA / "conll2003" / "train.jsonl") if 3 <= len(r["tokens"]) <= 40]
        fewshot = as_dataset(seeded_sample(every, 3000, seed=0), ["tokens", "ner_tags"])
    setting = f"{'similar' if args.similar else 'shots'}-{args.shots}"
    if args.default:
        setting = "default" if args.tune_budget is None else f"default-tune{args.tune_budget:g}"
    sentences = as_dataset(validation, ["tokens"])
    prompt = BasePrompt(
        task_description="Find the named entities in the text. Types: {} (PER person, ORG organisation, "
        "LOC location, MISC other names such as nationalities and events).",
        label_options=TYPES,
        generate_data_for_column="entities",
        fewshot_example_columns="text",
    )
    llm = embedded_model(args.parallel)
    generator = DatasetGenerator(llm)
    if args.default:  # the pool and nothing else: the toolkit chooses the examples
        chosen: dict[str, object] = {} if args.tune_budget is None else {"tune_budget": args.tune_budget}
    else:
        chosen = {
            "fewshot_sampling_strategy": "similar" if args.similar else None,
            "fewshot_examples_per_class": None if args.similar else args.shots,
            "fewshot_examples": args.shots if args.similar else None,
        }
    with Timer() as t:
        annotated = generator.generate(
            prompt_template=prompt,
            fewshot_dataset=fewshot,
            unlabeled_dataset=sentences,
            max_prompt_calls=args.n,
            temperature=0.0,
            max_tokens=200,
            output_format=Entities(TYPES),
            journal_dir=RUNS / "conll" / setting,
            progress=True,
            **chosen,
        )
    used = usage_of(generator)
    assert generator.last_run is not None
    summary = generator.last_run.summary()
    assert isinstance(annotated, Dataset)  # one dataset: return_unlabeled_dataset is not asked for
    names = annotated.features["ner_tags"].feature.names
    by_tokens = {tuple(r["tokens"]): [names[t] for t in r["ner_tags"]] for r in annotated}
    predicted = [by_tokens.get(tuple(r["tokens"])) for r in validation]  # failed rows predict nothing
    scores = ner_metrics([r["ner_tags"] for r in validation], predicted)
    rows = [["all (micro)", f"{scores['precision']:.4f}", f"{scores['recall']:.4f}", f"{scores['f1']:.4f}"]]
    rows += [
        [t, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}"]
        for t, v in sorted(scores["per_type"].items())
    ]
    how = f"{args.shots}-shot" + (", nearest train sentences" if args.similar else "")
    if args.default:
        how = "a pool of 3,000 train sentences and no other option"
    tuning = summary.get("tuning")
    notes = [
        f"calls: {summary['calls']} (cap {args.n}), "
        f"re-asks beyond the cap {summary.get('reasks_beyond_cap', 0)} "
        f"(allowance {summary.get('reask_allowance', 0)}), new model requests {used['requests']}, "
        f"answers from the journal {used['cached']}; lost sentences {args.n - used['rows']}",
    ]
    if tuning:
        table = ", ".join(f"{c['setting']} {c['f1']}" for c in tuning["candidates"])
        notes.append(
            f"tuning chose {tuning['chosen']}: pool F1 {tuning['f1']} ± {tuning['margin']} on "
            f"{tuning['rows']} held-out pool sentences ({table}); {tuning['calls']} tuning calls"
        )
    write_table(
        f"conll_ner_{setting}" if args.similar or args.default else "conll_ner",
        f"CoNLL-03 NER annotation of the first {args.n} validation sentences ({how})",
        ["entity type", "precision", "recall", "F1"],
        rows,
        [
            f"{used['rows']} sentences annotated, {used['failures']} failed rows (invalid JSON or spans "
            f"not in the sentence; scored as predicting no entities), {used['tokens']:,} tokens, "
            f"{t.seconds:.0f} s",
            "entity-level scores with seqeval's conventions "
            "(fabricator.evaluation.annotation_metrics.ner_metrics)",
            *notes,
        ],
    )
    llm.close()


if __name__ == "__main__":
    main()
