"""The in-process vLLM backend (``fabricator.llms.vllm_local``) against a stand-in for vLLM.

The stand-in is a ``vllm`` module put in ``sys.modules``: ``SamplingParams``,
``sampling_params.StructuredOutputsParams`` and an engine whose ``chat`` answers from a function of
each conversation, with per-token log-probabilities as vLLM gives them (``{token id: Logprob}``). No
vLLM install and no GPU are needed.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError, PromptTooLong
from fabricator.llms import Request, build_backend
from fabricator.llms.vllm_local import VLLMLocal


@dataclass
class Logprob:
    logprob: float
    rank: int
    decoded_token: str


@dataclass
class Output:
    text: str
    token_ids: list[int]
    finish_reason: str
    logprobs: list[dict[int, Logprob]] | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[Output]
    num_cached_tokens: int = 0


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@dataclass
class StructuredOutputsParams:
    json: dict[str, Any]


@dataclass
class Engine:
    """Answers ``answer(messages, params) -> (text, {token: prob} or None)``; records every call."""

    answer: Any
    gate: threading.Event | None = None  # the first call waits for it (to let a queue build up)
    entered: threading.Event = field(default_factory=threading.Event)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def chat(self, conversations, params, **kwargs):
        self.calls.append({"conversations": conversations, "params": params, **kwargs})
        self.entered.set()
        if self.gate is not None and len(self.calls) == 1:
            assert self.gate.wait(30), "the test never opened the gate"
        return [self._one(c, p) for c, p in zip(conversations, params, strict=True)]

    def _one(self, messages, params):
        text, probs = self.answer(messages, params.kwargs)
        tokens = text.split(" ")
        logprobs = None
        if probs is not None and params.kwargs.get("logprobs"):
            ranked = sorted(probs.items(), key=lambda kv: -kv[1])
            logprobs = [
                {i: Logprob(math.log(p), rank, tok) for i, (tok, p) in enumerate(ranked)}
                for rank, _ in enumerate(tokens[:1], start=1)
            ]
        prompt = sum(len(m["content"].split()) for m in messages)
        return RequestOutput(list(range(prompt)), [Output(text, [0] * len(tokens), "stop", logprobs)], 3)

    def get_tokenizer(self):
        return Tokenizer()


class Tokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt, continue_final_message):
        words = sum(len(m["content"].split()) for m in messages)
        return list(range(words + (2 if add_generation_prompt else 0)))


@pytest.fixture
def fake_vllm(monkeypatch):
    """A stand-in ``vllm`` module with the API surface the backend uses."""
    module = types.ModuleType("vllm")
    params = types.ModuleType("vllm.sampling_params")
    params.StructuredOutputsParams = StructuredOutputsParams
    params.SamplingParams = SamplingParams
    module.SamplingParams = SamplingParams
    module.sampling_params = params
    built: list[dict[str, Any]] = []

    def llm(**kwargs):
        built.append(kwargs)
        return Engine(lambda messages, params: ("loaded model", None))

    module.LLM = llm
    module.built = built
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", params)
    return module


def request(text: str, **kwargs: Any) -> Request:
    return Request(messages=({"role": "user", "content": text},), **kwargs)


def test_without_vllm_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    llm = VLLMLocal("some/model")
    with pytest.raises(ConfigError, match=r"fabricator-data\[vllm\]"):
        asyncio.run(llm.complete(request("hi")))


def test_the_recipe_name_builds_it_without_loading_and_the_first_call_loads_once(fake_vllm):
    llm = build_backend("vllm", {"name": "org/model", "tokenizer": "org/tok", "engine_kwargs": {"seed": 1}})
    assert isinstance(llm, VLLMLocal) and fake_vllm.built == []

    async def two():
        return await asyncio.gather(llm.complete(request("a")), llm.complete(request("b")))

    answers = asyncio.run(two())
    assert [a.text for a in answers] == ["loaded model", "loaded model"]
    assert fake_vllm.built == [{"model": "org/model", "seed": 1, "tokenizer": "org/tok"}]
    with pytest.raises(ConfigError, match="max_concurrency"):
        build_backend("vllm", {"name": "org/model", "max_concurrency": 0})


def test_concurrent_requests_go_to_vllm_as_one_batch(fake_vllm):
    gate = threading.Event()
    engine = Engine(lambda messages, params: (f"echo {messages[-1]['content']}", None), gate=gate)
    llm = VLLMLocal("m", engine=engine)

    async def run():
        first = asyncio.create_task(llm.complete(request("r0")))
        await asyncio.to_thread(engine.entered.wait, 30)  # r0 is inside vLLM, alone
        rest = [asyncio.create_task(llm.complete(request(f"r{i}"))) for i in range(1, 6)]
        await asyncio.sleep(0)  # they queue while vLLM is busy
        gate.set()
        return await asyncio.gather(first, *rest)

    answers = asyncio.run(run())
    assert [a.text for a in answers] == [f"echo r{i}" for i in range(6)]
    assert llm.batches == [1, 5]
    assert [len(c["conversations"]) for c in engine.calls] == [1, 5]


def test_sampling_params_schema_usage_and_cached_tokens(fake_vllm):
    engine = Engine(lambda messages, params: ('{"label": "x"}', None))
    llm = VLLMLocal("m", engine=engine)
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    asked = request("one two three", temperature=0.3, max_tokens=7, seed=5, stop=("\n",), json_schema=schema)
    answer = asyncio.run(llm.complete(asked))
    params = engine.calls[0]["params"][0].kwargs
    assert params["temperature"] == 0.3 and params["max_tokens"] == 7 and params["seed"] == 5
    assert params["stop"] == ["\n"] and "top_p" not in params and "logprobs" not in params
    assert params["structured_outputs"] == StructuredOutputsParams(json=schema)
    assert json.loads(answer.text) == {"label": "x"}
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.cached_tokens) == (
        3,
        2,
        3,
    )


def test_an_older_vllm_gets_guided_decoding(fake_vllm):
    @dataclass
    class GuidedDecodingParams:
        json: dict[str, Any]

    del fake_vllm.sampling_params.StructuredOutputsParams
    fake_vllm.sampling_params.GuidedDecodingParams = GuidedDecodingParams
    engine = Engine(lambda messages, params: ("{}", None))
    asyncio.run(VLLMLocal("m", engine=engine).complete(request("x", json_schema={"type": "object"})))
    assert engine.calls[0]["params"][0].kwargs["guided_decoding"] == GuidedDecodingParams({"type": "object"})


def test_a_prefill_is_continued_and_plain_chats_get_the_generation_prompt(fake_vllm):
    engine = Engine(lambda messages, params: ("x", None))
    llm = VLLMLocal("m", engine=engine)
    prefilled = Request(({"role": "user", "content": "q"}, {"role": "assistant", "content": "label:"}))

    async def both():
        return await asyncio.gather(llm.complete(request("plain")), llm.complete(prefilled))

    asyncio.run(both())
    flags = {
        (c["add_generation_prompt"], c["continue_final_message"]): c["conversations"] for c in engine.calls
    }
    assert flags[(True, False)] == [[{"role": "user", "content": "plain"}]]
    assert flags[(False, True)][0][-1] == {"role": "assistant", "content": "label:"}


def test_one_prompt_too_long_fails_alone(fake_vllm):
    def answer(messages, params):
        if "LONG" in messages[-1]["content"]:
            raise ValueError("The decoder prompt (length 9000) is longer than the maximum model length")
        return "fine", None

    gate = threading.Event()
    engine = Engine(answer, gate=gate)
    llm = VLLMLocal("m", engine=engine)

    async def run():
        first = asyncio.create_task(llm.complete(request("warm")))
        await asyncio.to_thread(engine.entered.wait, 30)
        batch = [asyncio.create_task(llm.complete(request(t))) for t in ("a", "LONG", "b")]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(first, *batch, return_exceptions=True)

    out = asyncio.run(run())
    assert [o.text for o in (out[0], out[1], out[3])] == ["fine"] * 3
    assert isinstance(out[2], PromptTooLong) and "longer than" in str(out[2])


def test_label_scoring_reads_vllms_logprobs_through_the_generator(fake_vllm):
    probs = {"good": {" positive": 0.8, " negative": 0.2}, "bad": {" positive": 0.1, " negative": 0.9}}

    def answer(messages, params):
        row = messages[-2]["content"].rsplit("text: ", 1)[-1].split("\n", 1)[0]
        best = max(probs[row], key=probs[row].get)
        return best, probs[row]

    engine = Engine(answer)
    llm = VLLMLocal("m", engine=engine)
    prompt = BasePrompt(
        "Classify the review as one of: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    generator = DatasetGenerator(llm)
    ds = generator.generate(prompt, unlabeled_dataset=Dataset.from_dict({"text": ["good", "bad"]}))
    names = ds.features["label"].names
    assert [names[i] for i in ds["label"]] == ["positive", "negative"]
    assert ds["confidence"] == pytest.approx([0.8, 0.9])
    assert all(c["continue_final_message"] for c in engine.calls)  # scored after the "label:" prefill
    assert all(p.kwargs["logprobs"] for c in engine.calls for p in c["params"])


def test_count_tokens_uses_the_models_chat_template(fake_vllm):
    llm = VLLMLocal("m", engine=Engine(lambda m, p: ("", None)))
    plain = [{"role": "user", "content": "a b c"}]
    prefilled = [*plain, {"role": "assistant", "content": "label:"}]
    assert llm.count_tokens([plain, prefilled]) == [5, 4]
