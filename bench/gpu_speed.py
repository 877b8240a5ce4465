"""The GPU path measured against its limit: ``VLLMLocal`` (vLLM in this process, one GPU).

A fixed workload through ``DatasetGenerator``, as a user runs it:

* ``annotate``: the 40 questions of ``examples/trec``, repeated to ``--annotate`` rows, labelled by
  label scoring (vLLM's log-probabilities), two examples of each type per prompt, one shared draw
  per 50 rows (``fewshot_reuse``: vLLM's prefix cache serves it);
* ``generate``: ``--generate`` label-conditioned movie reviews (``examples/sentiment``'s prompt and
  examples, temperature 0.9, at most 120 new tokens).

Prints rows/s, prompt and completion tokens/s, and the fraction of the GPU's token-throughput
limit reached. The limit is the compute roofline: a token through a dense model costs about
``2 * parameters`` FLOPs, so ``peak FLOP/s / (2 * parameters)`` tokens/s is the most any batch
size gives (decode at a small batch is held by memory bandwidth far below it, so a fraction near
1 needs large batches). The peak is the GPU's dense BF16 figure from its data sheet (``PEAKS``,
or ``--peak-tflops``); parameters are counted from the loaded model.

    python bench/gpu_speed.py [--model Qwen/Qwen2.5-Coder-1.5B-Instruct] [--annotate 4000] [--generate 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms.vllm_local import VLLMLocal
from fabricator.tables import load_table

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TREC = ["abbreviation", "description", "entity", "human", "location", "number"]
#: dense BF16 tensor TFLOP/s (no sparsity) from the data sheets, by a word of the device name
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0}


def peak_tflops(device_name: str, given: float | None) -> float:
    if given:
        return given
    for word, tflops in PEAKS.items():
        if word in device_name:
            return tflops
    raise SystemExit(f"no peak known for {device_name!r}: pass --peak-tflops")


def parameters(llm: VLLMLocal) -> int:
    """The weights one token goes through (the layers' matrices and the output head), counted from
    the loaded model's config: what the FLOPs of a token are ``2 *``."""
    engine: Any = llm.start()
    c = engine.llm_engine.model_config.hf_config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    d, q = c.hidden_size, c.num_attention_heads * head_dim
    attention = 2 * d * q + 2 * d * kv_heads * head_dim
    mlp = 3 * d * c.intermediate_size
    return int(c.num_hidden_layers * (attention + mlp) + c.vocab_size * d)


def timed(generator: DatasetGenerator, **kwargs: Any) -> dict[str, float]:
    started = time.perf_counter()
    dataset = generator.generate(**kwargs)
    seconds = time.perf_counter() - started
    assert generator.last_run is not None
    s = generator.last_run.summary()
    return {
        "rows": len(dataset),
        "seconds": seconds,
        "prompt": s["prompt_tokens"],
        "cached": s["prompt_cache_tokens"],
        "completion": s["completion_tokens"],
    }


def annotate(generator: DatasetGenerator, rows: int) -> dict[str, float]:
    questions = load_table(EXAMPLES / "trec" / "questions.jsonl")
    repeated = questions.select([i % len(questions) for i in range(rows)])
    prompt = BasePrompt(
        "Classify the question by the type of its answer. The types are: {}.",
        label_options=TREC,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    return timed(
        generator,
        prompt_template=prompt,
        fewshot_dataset=load_table(EXAMPLES / "trec" / "fewshot.jsonl"),
        fewshot_sampling_strategy="stratified",
        fewshot_examples_per_class=2,
        fewshot_sampling_column="label",
        unlabeled_dataset=repeated,
        max_prompt_calls=rows * 2,
        temperature=0.0,
        fewshot_reuse=50,
        dedup=False,
    )


def generate(generator: DatasetGenerator, rows: int) -> dict[str, float]:
    prompt = BasePrompt(
        "Write a short {} movie review (two or three sentences) in the style of the examples.",
        label_options=["positive", "negative"],
        generate_data_for_column="text",
    )
    return timed(
        generator,
        prompt_template=prompt,
        fewshot_dataset=load_table(EXAMPLES / "sentiment" / "fewshot.jsonl"),
        fewshot_sampling_strategy="uniform",
        fewshot_examples_per_class=2,
        fewshot_sampling_column="label",
        num_samples_to_generate=rows,
        max_prompt_calls=rows * 2,
        max_tokens=120,
        temperature=0.9,
        dedup=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="Qwen/Qwen2.5-Coder-1.5B-Instruct", help="HF id or a .gguf path")
    parser.add_argument("--tokenizer", default=None, help="for a .gguf: its original model's HF id")
    parser.add_argument("--annotate", type=int, default=4000)
    parser.add_argument("--generate", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=512, help="requests in flight (the batch)")
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args()
    import torch

    device = torch.cuda.get_device_name(0)
    peak = peak_tflops(device, args.peak_tflops) * 1e12
    llm = VLLMLocal(args.model, tokenizer=args.tokenizer, max_concurrency=args.concurrency)
    started = time.perf_counter()
    n_params = parameters(llm)
    print(
        f"device: {device}; model {args.model}: {n_params / 1e9:.2f} B parameters, loaded in "
        f"{time.perf_counter() - started:.0f} s"
    )
    limit = peak / (2 * n_params)
    generator = DatasetGenerator(llm)
    generate(generator, 64)  # warm-up: CUDA graphs, the first batches
    results = {"annotate": annotate(generator, args.annotate), "generate": generate(generator, args.generate)}
    print(
        f"limit (compute roofline): {peak / 1e12:.0f} TFLOP/s / (2 x {n_params / 1e9:.2f} B weights) "
        f"= {limit:,.0f} tokens/s"
    )
    print(
        f"{'workload':<10}{'rows':>7}{'s':>8}{'rows/s':>9}{'prompt tok/s':>14}{'cached':>8}"
        f"{'compl tok/s':>13}{'all tok/s':>11}{'of limit':>10}"
    )
    for name, r in results.items():
        tokens = (r["prompt"] + r["completion"]) / r["seconds"]
        # prompt tokens served from vLLM's prefix cache cost no FLOPs: only computed ones count
        computed = (r["prompt"] - r["cached"] + r["completion"]) / r["seconds"]
        print(
            f"{name:<10}{r['rows']:>7.0f}{r['seconds']:>8.1f}{r['rows'] / r['seconds']:>9.1f}"
            f"{r['prompt'] / r['seconds']:>14,.0f}{r['cached'] / max(r['prompt'], 1):>8.0%}"
            f"{r['completion'] / r['seconds']:>13,.0f}{tokens:>11,.0f}{computed / limit:>10.1%}"
        )
    print("of limit: tokens computed (prompt not served from cache + completion) per second / the limit")


if __name__ == "__main__":
    main()
