"""The executor seam (``fabricator.execution.build_executor``) and the ``RayVLLM`` backend, without Ray.

The Ray executor itself is exercised in tests/test_ray.py (skipped where Ray is not installed).
"""

import asyncio
import sys
import types

import pytest

from fabricator.errors import ConfigError
from fabricator.execution import Executor, build_executor, check_executor
from fabricator.execution.calls import CallBudget
from fabricator.execution.engine import Engine
from fabricator.execution.work import Failure, WorkItem
from fabricator.llms import Fake
from fabricator.llms.base import LLM, Request
from fabricator.progress import ProgressReporter


class EchoMaker:
    """The part of ``RowMaker`` an executor uses: ``make(engine, item, logger, budget=)``."""

    def __init__(self) -> None:
        self.budgets: list[CallBudget | None] = []

    async def make(self, engine, item, logger, source=None, budget=None):
        self.budgets.append(budget)
        completion = await engine.call(Request(messages=item.messages), f"key-{item.index}")
        if completion.text == "bad":
            return Failure(item.index, "not a row", "ParseError", completion.text)
        return {"text": completion.text}


def items(n: int) -> list[WorkItem]:
    return [WorkItem(i, ({"role": "user", "content": f"row {i}"},), f"row {i}") for i in range(n)]


def test_local_executor_runs_every_item_through_the_row_maker():
    llm = Fake(lambda prompt: "bad" if prompt.endswith("3") else f"answer to {prompt}")
    engine, maker, budget = Engine(llm, concurrency=3), EchoMaker(), CallBudget(10)
    executor = build_executor(
        "local",
        llm=llm,
        maker=maker,
        engine=engine,
        logger=None,
        progress=ProgressReporter(enabled=False),
        journal=None,
        budget=budget,
    )
    assert isinstance(executor, Executor) and executor.round_items > 0
    kept: dict[int, object] = {}
    asyncio.run(executor.map(items(6), lambda item, result: kept.__setitem__(item.index, result)))
    assert sorted(kept) == list(range(6))
    assert kept[0] == {"text": "answer to row 0"}
    assert isinstance(kept[3], Failure) and kept[3].raw == "bad"
    assert maker.budgets == [budget] * 6  # the run's call budget, not one per item
    assert engine.stats.requests == 6 and llm.calls == 6


@pytest.mark.parametrize(
    "kind, actors, address, needle",
    [
        ("spark", None, None, "unknown engine 'spark'"),
        ("local", 2, None, "only apply to engine='ray'"),
        ("local", None, "auto", "only apply to engine='ray'"),
        ("ray", 0, None, "ray_actors must be at least 1"),
    ],
)
def test_check_executor_refuses_bad_settings_with_a_hint(kind, actors, address, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        check_executor(kind, actors, address)
    assert info.value.hint


def test_check_executor_names_the_ray_extra_when_ray_is_missing(monkeypatch):
    for name in ("ray", "ray.data"):
        monkeypatch.setitem(sys.modules, name, None)
    assert check_executor("local", None, None) == "local"
    with pytest.raises(ConfigError, match=r"fabricator-data\[ray\]"):
        check_executor("ray", None, None)


# --- RayVLLM: a backend in fabricator.llms ------------------------------------------------------


def fake_vllm() -> types.ModuleType:
    """A stand-in for vLLM's ``LLM.chat``: answers with the last user message, upper-cased."""
    module = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, **params):
            self.params = params

    class LLM:
        def __init__(self, model, **kwargs):
            self.model, self.kwargs = model, kwargs

        def chat(self, messages, params, use_tqdm=True):
            text = messages[-1]["content"].upper()
            out = types.SimpleNamespace(
                text=text, finish_reason="length", token_ids=[1] * params.params["max_tokens"]
            )
            return [types.SimpleNamespace(prompt_token_ids=[0] * len(messages), outputs=[out])]

    module.SamplingParams, module.LLM = SamplingParams, LLM
    return module


def test_ray_vllm_is_a_backend_whose_missing_vllm_names_the_extra(monkeypatch):
    from fabricator.llms.ray_vllm import RayVLLM

    monkeypatch.setitem(sys.modules, "vllm", None)
    llm = RayVLLM("some/model")
    assert isinstance(llm, LLM)
    with pytest.raises(ConfigError, match=r"fabricator-data\[ray-vllm\]") as info:
        asyncio.run(llm.complete(Request(messages=({"role": "user", "content": "hi"},))))
    assert "ray-vllm" in info.value.hint


def test_vllm_chat_answers_one_request_without_the_prefill(monkeypatch):
    """What the actor behind ``RayVLLM.complete`` does with one request."""
    from fabricator.llms.ray_vllm import VLLMChat, chat_messages, sampling_params

    monkeypatch.setitem(sys.modules, "vllm", fake_vllm())
    request = Request(
        messages=({"role": "user", "content": "hi"}, {"role": "assistant", "content": "A"}),
        temperature=0.2,
        max_tokens=7,
        seed=3,
        stop=("\n",),
    )
    assert chat_messages(request) == [{"role": "user", "content": "hi"}]
    assert sampling_params(request) == {"temperature": 0.2, "max_tokens": 7, "seed": 3, "stop": ["\n"]}
    chat = VLLMChat("some/model", {"dtype": "half"})
    assert chat.model.kwargs == {"dtype": "half"}
    assert chat.chat(chat_messages(request), sampling_params(request)) == ("HI", "length", 1, 7)


def test_ray_vllm_keeps_its_old_import_path():
    from fabricator.execution.ray import RayVLLM as old
    from fabricator.llms.ray_vllm import RayVLLM

    assert old is RayVLLM


def test_ray_vllm_batch_processor_without_vllm_names_the_extra(monkeypatch):
    from fabricator.llms.ray_vllm import RayVLLM

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ConfigError, match=r"fabricator-data\[ray-vllm\]"):
        RayVLLM("some/model").processor()
