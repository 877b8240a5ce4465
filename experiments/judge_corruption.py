"""Does the judge rank corrupted rows below clean ones? SST-2 dev rows with known labels.

Clean rows are a seeded sample of SST-2 validation with their gold labels. Corrupted rows are
other validation rows, spoiled in one of three ways: the label flipped, the text cut to its first
third, or the text taken from another task (a TREC question or a CoNLL-2003 sentence) with a
random sentiment label. The embedded model judges every row on one criterion by its probabilities
over 1-5; the AUROC of clean vs each corruption says how well the expected score separates them.

    python experiments/judge_corruption.py --clean 100 --corrupted 100
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from typing import Any

from common import DATA, RESULTS, RUNS, embedded_model, read_jsonl, restore_journal, write_table
from judge_common import auroc, judge_rows

from fabricator.judge_criteria import JudgeCriterion

CRITERION = JudgeCriterion(
    name="review",
    rubric="The text is a complete movie-review sentence and its sentiment label is correct.",
)
KINDS = ("label flipped", "text truncated", "other task")


def corrupt(row: dict[str, Any], kind: str, other: str, rng: random.Random) -> dict[str, Any]:
    if kind == "label flipped":
        return {"text": row["text"], "label": "negative" if row["label"] == "positive" else "positive"}
    if kind == "text truncated":
        words = row["text"].split()
        return {"text": " ".join(words[: max(1, len(words) // 3)]), "label": row["label"]}
    return {"text": other, "label": rng.choice(["positive", "negative"])}


def rows_of(clean: int, corrupted: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    dev = [r for r in read_jsonl(DATA / "sst2" / "validation.jsonl") if len(r["text"].split()) >= 6]
    picked = rng.sample(dev, clean + corrupted)
    trec = [r["text"] for r in read_jsonl(DATA / "trec" / "train.jsonl")]
    conll = [" ".join(r["tokens"]) for r in read_jsonl(DATA / "conll2003" / "validation.jsonl")]
    conll = [s for s in conll if len(s.split()) >= 8]
    out = [{"text": r["text"], "label": r["label"], "kind": "clean"} for r in picked[:clean]]
    for n, row in enumerate(picked[clean:]):
        kind = KINDS[n % len(KINDS)]
        other = rng.choice(trec if n % 2 else conll)
        out.append({**corrupt(row, kind, other, rng), "kind": kind})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clean", type=int, default=100)
    parser.add_argument("--corrupted", type=int, default=100)
    args = parser.parse_args()
    rows = rows_of(args.clean, args.corrupted)
    shown = [{"text": r["text"], "label": r["label"]} for r in rows]  # the judge never sees the kind
    restore_journal(RUNS / "judge_corruption", "judge_corruption")  # the committed answers, if any
    llm = embedded_model()  # started only if an answer is missing from the journal
    try:
        scores = judge_rows(shown, CRITERION, llm, RUNS / "judge_corruption")
    finally:
        llm.close()

    def of(kind: str, key: str) -> list[float]:
        return [
            s[key] if key == "score" else float(max(s["distribution"], key=s["distribution"].get))
            for s, r in zip(scores, rows, strict=True)
            if s and (r["kind"] == kind or (kind == "all corrupted" and r["kind"] != "clean"))
        ]

    clean, clean_point = of("clean", "score"), of("clean", "point")
    table = [["clean", len(clean), f"{statistics.mean(clean):.3f}", "-", "-"]]
    for kind in (*KINDS, "all corrupted"):
        bad = of(kind, "score")
        point = f"{auroc(clean_point, of(kind, 'point')):.3f}"
        table.append([kind, len(bad), f"{statistics.mean(bad):.3f}", f"{auroc(clean, bad):.3f}", point])
    (RESULTS / "judge_corruption.json").write_text(
        json.dumps([{**r, "judge": s} for r, s in zip(rows, scores, strict=True)], indent=0)
    )
    write_table(
        "judge_corruption",
        "Judge vs corrupted SST-2 dev rows: AUROC of the expected score, clean vs corrupted",
        [
            "rows",
            "n scored",
            "mean expected score (1-5)",
            "AUROC: expected score",
            "AUROC: most likely point",
        ],
        table,
        [
            f"criterion: {CRITERION.rubric!r}, scale 1-5, scored by log-probabilities over the scale",
            f"rows: seeded sample (seed 0) of SST-2 validation rows of 6+ words: {args.clean} clean, "
            f"{args.corrupted} corrupted in turn (label flipped, first third of the text, a TREC "
            "question or a CoNLL-2003 sentence with a random label)",
            "judge: the embedded model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, llama.cpp, CPU)",
            "most likely point: the score a parsed greedy answer gives (ties count half in the AUROC)",
        ],
    )


if __name__ == "__main__":
    main()
