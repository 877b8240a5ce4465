"""Backends and output formats by name: a user's own, registered in code or by an entry point, used
from a recipe through ``fabricator generate``; capabilities declared, not probed (issue 27)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write
from datasets import Dataset, Value
from pydantic import BaseModel, ConfigDict

from fabricator.app.cli import main
from fabricator.errors import ConfigError, ParseError
from fabricator.formats import format_names, output_format, register_format
from fabricator.llms import (
    Capabilities,
    Completion,
    Fake,
    OpenAICompatible,
    Request,
    backend_names,
    build_backend,
    capabilities_of,
    register_backend,
)
from fabricator.testing import FakeOpenAIServer


class Echo:
    """A user's backend: answers every prompt with its ``reply`` (the protocol, no base class)."""

    max_concurrency = 2
    capabilities = Capabilities()

    def __init__(self, reply: str) -> None:
        self.name = "echo"
        self.reply = reply

    async def complete(self, request: Request) -> Completion:
        return Completion(self.reply)

    async def aclose(self) -> None:
        return None


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: str = "An echo of a film."


def make_echo(options: EchoOptions, *, planning: bool) -> Echo:
    return Echo(options.reply)


class Stars:
    """A user's format: the answer is a number of stars, at most ``most``."""

    def __init__(self, most: int = 5) -> None:
        self.most = most

    def prepare(self, dataset: Dataset) -> Dataset:
        return dataset

    def needed_columns(self) -> list[str]:
        return []

    def json_schema(self) -> dict[str, Any] | None:
        return None

    def instructions(self) -> str:
        return f"Answer with a number of stars from 1 to {self.most}."

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        if not text.strip().isdigit() or not 1 <= int(text) <= self.most:
            raise ParseError(f"expected 1 to {self.most} stars", raw=text)
        return {"stars": text.strip()}

    def features(self) -> dict[str, Any]:
        return {"stars": Value("string")}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_fewshot(tmp_path)
    return tmp_path


def generated(folder: Path, recipe: dict[str, Any]) -> list[dict[str, Any]]:
    out = folder / "out"
    assert main(["generate", write(folder, recipe), "-o", str(out), "--quiet"]) == 0
    return [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]


GENERATION = {"num_samples_to_generate": 2, "max_prompt_calls": 4, "dedup": False}


def test_a_backend_registered_in_code_is_named_by_a_recipe(folder: Path) -> None:
    register_backend("echo", make_echo, EchoOptions)
    assert "echo" in backend_names()
    recipe = movie_recipe(model={"backend": "echo", "reply": "Echoed."}, generation=GENERATION)
    assert {row["text"] for row in generated(folder, recipe)} == {"Echoed."}


def test_a_backends_own_options_model_names_an_unknown_key(folder: Path, capsys) -> None:
    register_backend("echo", make_echo, EchoOptions)
    recipe = movie_recipe(model={"backend": "echo", "colour": "blue"}, generation=GENERATION)
    assert main(["generate", write(folder, recipe), "--quiet"]) == 2
    assert "model.colour: unknown key" in capsys.readouterr().err.replace("\n", " ")


def installed_plugin(root: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str) -> None:
    """A package on ``sys.path`` (its module and its dist-info) declaring ``entry_points``."""
    (root / "toy_plugin.py").write_text(
        "from fabricator.llms import Backend, Fake\n"
        "def make(options, *, planning):\n"
        "    return Fake('From the plugin.', name='toy')\n"
        "TOY = Backend(make)\n"
    )
    info = root / "toy_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "toy_plugin", raising=False)


def test_a_backend_declared_by_an_entry_point_is_named_by_a_recipe(
    folder: Path, monkeypatch, tmp_path
) -> None:
    plugin = tmp_path / "site"
    plugin.mkdir()
    installed_plugin(plugin, monkeypatch, "[fabricator.backends]\ntoy = toy_plugin:TOY\n")
    assert "toy" in backend_names()
    recipe = movie_recipe(model={"backend": "toy"}, generation=GENERATION)
    assert {row["text"] for row in generated(folder, recipe)} == {"From the plugin."}


def test_an_unknown_backend_lists_the_known_ones(folder: Path, capsys) -> None:
    recipe = movie_recipe(model={"backend": "gpt"}, generation=GENERATION)
    assert main(["generate", write(folder, recipe), "--quiet"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "model.backend" in err and "unknown backend 'gpt'" in err
    assert all(name in err for name in ("embedded", "ensemble", "fake", "openai", "ray-vllm"))
    with pytest.raises(ConfigError, match="unknown backend 'gpt'") as info:
        build_backend("gpt", {})
    assert "fake" in (info.value.hint or "")


def annotation_recipe(folder: Path, output_format: dict[str, Any], answers: list[str]) -> dict[str, Any]:
    (folder / "reviews.jsonl").write_text('{"text": "Great!"}\n{"text": "Awful."}\n')
    return {
        "prompt": {
            "task_description": "Rate the review.",
            "generate_data_for_column": "stars",
            "fewshot_example_columns": "text",
        },
        "unlabeled": {"path": "reviews.jsonl"},
        "output_format": output_format,
        "model": {"backend": "fake", "responses": answers},
        "generation": {"max_prompt_calls": 6},
    }


def test_a_format_registered_in_code_is_named_by_a_recipe(folder: Path) -> None:
    register_format("stars", Stars)
    assert "stars" in format_names()
    recipe = annotation_recipe(folder, {"kind": "stars", "most": 3}, ["4", "3", "1"])
    rows = generated(folder, recipe)
    # "4" is past the recipe's three stars: re-asked, then the next answers are kept
    assert rows == [{"text": "Great!", "stars": "3"}, {"text": "Awful.", "stars": "1"}]
    with pytest.raises(ConfigError, match="colour"):
        output_format("stars", colour="blue")


def test_a_format_declared_by_an_entry_point_is_named_by_a_recipe(
    folder: Path, monkeypatch, tmp_path
) -> None:
    plugin = tmp_path / "site"
    plugin.mkdir()
    installed_plugin(plugin, monkeypatch, f"[fabricator.formats]\nstars-ep = {__name__}:Stars\n")
    assert "stars-ep" in format_names()
    recipe = annotation_recipe(folder, {"kind": "stars-ep"}, ["5", "2"])
    assert [row["stars"] for row in generated(folder, recipe)] == ["5", "2"]


def test_backends_declare_capabilities_and_close_as_context_managers() -> None:
    assert capabilities_of(Fake()).logprobs and not capabilities_of(Fake(logprobs=False)).logprobs
    with FakeOpenAIServer() as server:
        llm = OpenAICompatible("m", base_url=server.base_url, supports_prefill=True)
        assert llm.capabilities == Capabilities(
            logprobs=True, json_schema=True, prefill=True, preflight=True, batch_api=True
        )

        async def ask() -> str:
            async with llm as model:
                return (await model.complete(Request(messages=({"role": "user", "content": "hi"},)))).text

        assert asyncio.run(ask()) == "reply to: hi"
        assert llm._session is None  # closed on the way out


def test_an_ensemble_is_named_by_a_recipe_with_its_members() -> None:
    llm = build_backend("ensemble", {"members": [{"backend": "fake"}, {"backend": "fake", "name": "b"}]})
    assert llm.name == "ensemble(fake+b)" and capabilities_of(llm).prefill
