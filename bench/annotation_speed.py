"""Label annotation speed on the embedded model: label scoring against generate-and-parse.

Annotates the 40 questions of ``examples/trec`` (its recipe: two examples of each of the six types
per prompt, temperature 0) three ways on one ``LlamaCpp`` server, in one run:

* ``parse``: before label scoring: a new few-shot draw per row, the answer generated as JSON
  (constrained by the schema) and parsed;
* ``score``: the label read from the token probabilities of one greedy step, a new draw per row;
* ``score+shared``: the same, with one few-shot draw shared by all rows (``fewshot_reuse``), so
  every prompt starts with the same system prompt, task and examples and the server's prompt cache
  serves that prefix.

Prints rows/s, prompt tokens (and how many the server's prompt cache served), completion tokens,
and each way's speed as a ratio to ``parse``. Each way runs ``--repeat`` times in turn.

    python bench/annotation_speed.py [--repeat 1] [--parallel 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import LlamaCpp
from fabricator.tables import load_table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "trec"
LABELS = ["abbreviation", "description", "entity", "human", "location", "number"]
WAYS: dict[str, dict[str, Any]] = {
    "parse": {"label_scoring": "off"},
    "score": {},
    "score+shared": {"fewshot_reuse": 1_000},
}


def trec_prompt() -> BasePrompt:
    return BasePrompt(
        "Classify the question by the type of its answer. The types are: {}.",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )


def run(llm: LlamaCpp, options: dict[str, Any]) -> dict[str, float]:
    questions = load_table(EXAMPLE / "questions.jsonl")
    prompt = trec_prompt()
    generator = DatasetGenerator(llm)
    started = time.perf_counter()
    dataset = generator.generate(
        prompt,
        load_table(EXAMPLE / "fewshot.jsonl"),
        "stratified",
        2,
        "label",
        unlabeled_dataset=questions,
        max_prompt_calls=len(questions),
        temperature=0.0,
        max_tokens=48,
        **options,
    )
    seconds = time.perf_counter() - started
    assert generator.last_run is not None
    s = generator.last_run.summary()
    return {
        "rows": len(dataset),
        "seconds": seconds,
        "rows_s": len(dataset) / seconds,
        "prompt": s["prompt_tokens"],
        "cached": s["prompt_cache_tokens"],
        "completion": s["completion_tokens"],
    }


def prompt_parts(llm: LlamaCpp) -> dict[str, int]:
    """Tokens of each part of one row's prompt (the model's tokenizer), to see what caching can save."""
    from fabricator.pipeline.plan import plan_prompts

    questions = load_table(EXAMPLE / "questions.jsonl")
    prompt = trec_prompt()
    fewshot = load_table(EXAMPLE / "fewshot.jsonl")
    [item] = plan_prompts(prompt, fewshot, "stratified", 2, "label", questions, count=1, llm=llm)
    [bare] = plan_prompts(prompt, None, None, None, None, questions, count=1, llm=llm)
    system = [m for m in item.messages if m["role"] == "system"]
    full, no_examples, only_system = llm.count_tokens([item.messages, bare.messages, system])
    return {
        "system prompt": only_system,
        "task + row": no_examples - only_system,
        "examples": full - no_examples,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    llm = LlamaCpp(n_parallel=args.parallel)
    llm.start()  # model load and warm-up are not part of the timing
    results: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for _ in range(args.repeat):
        for way, options in WAYS.items():
            results[way].append(run(llm, options))
    parts = prompt_parts(llm)
    llm.close()
    total = sum(parts.values())
    print(
        "one prompt of the former recipe, by part: "
        + ", ".join(f"{name} {n} tokens ({n / total:.0%})" for name, n in parts.items())
    )
    base = sum(r["rows_s"] for r in results["parse"]) / args.repeat
    print(
        f"{'way':<14}{'rows':>5}{'seconds':>9}{'rows/s':>8}{'prompt tok':>11}{'cache-served':>13}"
        f"{'completion':>11}{'vs parse':>9}"
    )
    for way, runs in results.items():
        for r in runs:
            print(
                f"{way:<14}{r['rows']:>5.0f}{r['seconds']:>9.1f}{r['rows_s']:>8.3f}{r['prompt']:>11,.0f}"
                f"{r['cached']:>13,.0f}{r['completion']:>11,.0f}{r['rows_s'] / base:>8.2f}x"
            )


if __name__ == "__main__":
    main()
