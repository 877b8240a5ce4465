"""One options model (issue 12, item 1), the public face (item 6), open output formats (item 2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from datasets import Dataset, Value

import fabricator
from fabricator import BasePrompt, ConfigError, DatasetGenerator, GenerationOptions, plan_prompts
from fabricator.app.cli import main
from fabricator.app.recipe import load_recipe
from fabricator.errors import ParseError, RateLimitError
from fabricator.llms import Fake
from fabricator.testing import FakeClock

REVIEW = BasePrompt("Write one short movie review.")


def reviews(prompt: str) -> str:
    return f"Review of {len(prompt)} characters."


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"sede": 1}, "sede: unknown key"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_retries": -1}, "max_retries"),
        ({"engine": "spark"}, "unknown engine"),
    ],
)
def test_unknown_or_wrong_keywords_are_a_config_error_naming_the_key(kwargs, needle):
    llm = Fake("A fine film.")
    with pytest.raises(ConfigError, match=needle):
        DatasetGenerator(llm).generate(REVIEW, max_prompt_calls=2, num_samples_to_generate=2, **kwargs)
    assert llm.calls == 0  # refused before any model call


def test_options_object_and_flat_keywords_mean_the_same_and_flat_keywords_win():
    flat = DatasetGenerator(Fake(reviews)).generate(
        REVIEW, max_prompt_calls=3, seed=5, temperature=0.1, dedup=False
    )
    options = GenerationOptions(sampling={"seed": 5, "temperature": 0.1, "dedup": False})
    grouped = DatasetGenerator(Fake(reviews)).generate(REVIEW, max_prompt_calls=3, options=options)
    assert grouped["text"] == flat["text"]
    llm = Fake(reviews)
    DatasetGenerator(llm).generate(REVIEW, max_prompt_calls=3, options=options, temperature=0.3)
    assert {r.temperature for r in llm.requests} == {0.3}
    assert options.replace(seed=9).flat()["seed"] == 9 and options.sampling.seed == 5


def test_the_paper_positional_arguments_keep_their_places():
    data = DatasetGenerator().generate(REVIEW, None, None, None, None, None, False, 4, 3, None, 25, "A film.")
    assert data["text"] == ["A film."] * 3


def test_max_retry_wait_reaches_the_engine():
    clock = FakeClock()
    slow = {0: RateLimitError("429 slow down", status=429, retry_after=120.0)}
    run = DatasetGenerator(Fake("ok", failures=slow, max_concurrency=1), clock=clock)
    data = run.generate(REVIEW, max_prompt_calls=1, num_samples_to_generate=1, max_retry_wait=300)
    assert data["text"] == ["ok"] and clock.sleeps == [120.0]  # waited, instead of failing the row
    failed = DatasetGenerator(Fake("ok", failures=slow, max_concurrency=1), clock=FakeClock())
    assert (
        len(failed.generate(REVIEW, max_prompt_calls=1, num_samples_to_generate=1)) == 0
    )  # default 60 s: the row fails at once


def test_the_clock_is_a_public_parameter_of_the_generator():
    clock = FakeClock()
    DatasetGenerator(Fake(reviews), clock=clock).generate(
        REVIEW, max_prompt_calls=4, num_samples_to_generate=4, requests_per_minute=60, dedup=False
    )
    assert clock.now() == pytest.approx(3.0)  # 4 requests at 1 per second on virtual time


def write_recipe(tmp_path, generation: dict[str, Any]) -> str:
    path = tmp_path / "recipe.yaml"
    recipe = {
        "prompt": {"task_description": "Write a short movie review.", "generate_data_for_column": "text"},
        "model": {"backend": "fake", "responses": ["A moving film.", "Flat and dull.", "Fine."]},
        "generation": generation,
    }
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def test_recipes_take_the_same_flat_options_but_not_the_runners(tmp_path):
    g = load_recipe(write_recipe(tmp_path, {"max_retry_wait": 5, "seed": 2, "budget_usd": 1.5})).generation
    assert (g.limits.max_retry_wait, g.sampling.seed, g.budget.budget_usd) == (5, 2, 1.5)
    for key in ("journal_dir", "log_path", "progress"):
        with pytest.raises(ConfigError, match=f"generation.{key}: unknown key"):
            load_recipe(write_recipe(tmp_path, {key: "x"}))


def test_summary_shows_calls_against_the_cap_and_the_journal_warnings(tmp_path, capsys):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, {"num_samples_to_generate": 3, "max_prompt_calls": 5})
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 0
    assert "3 of 5 allowed (max_prompt_calls)" in capsys.readouterr().out
    with (out / "journal" / "journal-main.jsonl").open("a") as journal:
        journal.write("{not json\n")
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "0 of 5 allowed" in captured.out  # journal answers are not counted
    assert "warning:" in captured.err and ".corrupt" in captured.err


def test_the_public_face_and_plan_prompts():
    for name in (
        "DatasetGenerator",
        "BasePrompt",
        "GenerationReport",
        "FabricatorError",
        "GenerationOptions",
    ):
        assert name in fabricator.__all__ and hasattr(fabricator, name)
    assert not [name for name in fabricator.__all__ if name.startswith("_")]
    prompt = BasePrompt("Write a {} review.", label_options=["positive", "negative"])
    llm = Fake(reviews)
    DatasetGenerator(llm).generate(prompt, max_prompt_calls=4, num_samples_to_generate=4, seed=3, dedup=False)
    planned = plan_prompts(prompt, count=4, options=GenerationOptions(sampling={"seed": 3}))
    assert [item.messages for item in planned] == [r.messages for r in llm.requests]
    assert sorted(item.label for item in planned) == ["negative", "negative", "positive", "positive"]


class Sentiment:
    """A user's format with only the six required methods (no base class, no registry)."""

    def prepare(self, dataset: Dataset) -> Dataset:
        return dataset

    def needed_columns(self) -> list[str]:
        return []

    def json_schema(self) -> dict[str, Any] | None:
        return None

    def instructions(self) -> str:
        return 'Answer with JSON {"score": <1 to 5>}.'

    def parse(self, text: str, row: Mapping[str, Any]) -> dict[str, Any]:
        try:
            score = int(json.loads(text)["score"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ParseError("expected JSON with a score", raw=text) from exc
        return {"score": str(score)}

    def features(self) -> dict[str, Any]:
        return {"score": Value("string")}


def test_a_new_output_format_needs_no_registry():
    unlabeled = Dataset.from_dict({"text": ["Great!", "Awful."]})
    prompt = BasePrompt("Rate the review.", generate_data_for_column="score", fewshot_example_columns="text")
    llm = Fake(["not json", '{"score": 5}', '{"score": 1}'], max_concurrency=1)
    data = DatasetGenerator(llm).generate(prompt, unlabeled_dataset=unlabeled, output_format=Sentiment())
    assert data.to_list() == [{"text": "Great!", "score": "5"}, {"text": "Awful.", "score": "1"}]
    reask = llm.requests[1].messages[-1]["content"]  # the wrong answer was re-asked with the error
    assert "expected JSON with a score" in reask and "score" in reask
