"""engine="ray" without Ray, and what the Ray path needs from the base package (no Ray here).

Runs in the base suite: nothing in this file imports Ray (tests/test_ray.py does, and is skipped
where the ``ray`` extra is not installed).
"""

import asyncio
import pickle
import sys
from pathlib import Path

import pytest
import yaml

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.cli import main
from fabricator.app.recipe import load_recipe
from fabricator.errors import ConfigError
from fabricator.llms import Fake
from fabricator.llms.base import Request
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer

PROMPT = BasePrompt(task_description="Write a short movie review.", generate_data_for_column="text")


@pytest.fixture
def no_ray(monkeypatch):
    """Make ``import ray`` fail as it does where the extra is not installed."""
    for name in ("ray", "ray.data"):
        monkeypatch.setitem(sys.modules, name, None)


def test_ray_engine_without_ray_names_the_extra(no_ray):
    llm = Fake("A fine film.")
    with pytest.raises(ConfigError, match=r"pip install 'fabricator-data\[ray\]'") as info:
        DatasetGenerator(llm).generate(PROMPT, max_prompt_calls=3, num_samples_to_generate=3, engine="ray")
    assert "pip install 'fabricator-data[ray]'" in info.value.message
    assert llm.calls == 0  # refused before any work


def test_cli_engine_ray_without_ray_is_a_clear_error(no_ray, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "prompt": {
                    "task_description": "Write a short movie review.",
                    "generate_data_for_column": "text",
                },
                "model": {"backend": "fake", "responses": "A fine film."},
                "generation": {"max_prompt_calls": 2, "num_samples_to_generate": 2},
            }
        )
    )
    assert main(["generate", str(recipe), "-o", str(tmp_path / "out"), "--quiet", "--engine", "ray"]) == 2
    assert "fabricator-data[ray]" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"engine": "spark"}, "unknown engine"),
        ({"ray_actors": 2}, "only apply to engine='ray'"),
        ({"ray_address": "auto"}, "only apply to engine='ray'"),
    ],
)
def test_engine_arguments_are_checked(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        DatasetGenerator(Fake("A fine film.")).generate(
            PROMPT, max_prompt_calls=1, num_samples_to_generate=1, **kwargs
        )


def test_recipe_generation_engine(tmp_path):
    base = {"prompt": {"task_description": "Write a review.", "generate_data_for_column": "text"}}
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump({**base, "generation": {"engine": "ray", "ray_actors": 4, "ray_address": "auto"}})
    )
    g = load_recipe(path).generation
    assert (g.execution.engine, g.execution.ray_actors, g.execution.ray_address) == ("ray", 4, "auto")
    assert load_recipe(_write(tmp_path, base)).generation.execution.engine == "local"
    with pytest.raises(ConfigError, match="engine"):
        load_recipe(_write(tmp_path, {**base, "generation": {"engine": "spark"}}))


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_openai_backend_pickles_without_its_session():
    """What a Ray actor receives: no session (nor loop), the key kept, and a working copy."""
    with FakeOpenAIServer(api_key="sk-test") as srv:
        llm = OpenAICompatible("fake-model", base_url=srv.base_url, api_key="sk-test")
        request = Request(messages=({"role": "user", "content": "hello"},), max_tokens=8)

        async def use(backend: OpenAICompatible) -> str:
            try:
                return (await backend.complete(request)).text
            finally:
                await backend.aclose()

        async def pickled_while_open() -> OpenAICompatible:
            await llm.complete(request)
            assert llm._session is not None
            copy = pickle.loads(pickle.dumps(llm))
            await llm.aclose()
            return copy

        copy = asyncio.run(pickled_while_open())
        assert copy._session is None and copy._session_loop is None
        assert asyncio.run(use(copy)) == "reply to: hello"
        assert srv.stats["unauthorized"] == 0  # the key travelled with the copy
        assert "sk-test" not in repr(copy)


def test_fake_backend_pickles_fresh():
    llm = Fake(["a", "b"], latency=0.0)
    request = Request(messages=({"role": "user", "content": "x"},))
    assert asyncio.run(llm.complete(request)).text == "a"
    copy = pickle.loads(pickle.dumps(llm))
    assert (copy.calls, copy.requests) == (0, [])
    assert [asyncio.run(copy.complete(request)).text for _ in range(3)] == ["a", "b", "a"]
    assert llm.calls == 1


def test_row_maker_is_small_and_picklable(sentiment_fewshot):
    """The object a Ray actor makes rows with: no datasets, and the same rows after pickling."""
    from datasets import Dataset

    from fabricator.execution.work import WorkItem
    from fabricator.options import SamplingOptions
    from fabricator.pipeline.resolve import resolve_task
    from fabricator.pipeline.task import row_maker

    prompt = BasePrompt(
        task_description="Classify as: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    unlabeled = Dataset.from_dict({"text": ["Great!", "Awful."], "extra": [1, 2]})
    task = resolve_task(prompt, sentiment_fewshot, "uniform", 1, "label", unlabeled, llm=Fake())
    maker = row_maker(task, SamplingOptions(temperature=0.5, max_tokens=16), max_tries=3)
    light = pickle.loads(pickle.dumps(maker.without_rows()))
    assert light.unlabeled_rows is None and maker.unlabeled_rows == [{"text": "Great!"}, {"text": "Awful."}]
    item = WorkItem(1, ({"role": "user", "content": "x"},), "x", source=1)
    assert (
        light.parse(item, "Negative.", {"text": "Awful."})
        == maker.parse(item, "Negative.")
        == {"text": "Awful.", "label": "negative", "__source": 1}
    )
    assert light.request(item, item.messages, 0) == maker.request(item, item.messages, 0)
