"""Every count in a recipe is bounded and typed, nothing is silently ignored, and bad numbers give
a one-line error with exit 2 instead of a traceback (issue 26, deliver 3 and the plan/generate
tracebacks). Each case runs the command line as a second process, in pytest's temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import movie_recipe, write_fewshot

from fabricator import ConfigError, DatasetGenerator
from fabricator.app.recipe import load_recipe
from fabricator.llms import Fake
from fabricator.prompts import BasePrompt
from fabricator.testing import FakeOpenAIServer

#: the recipe the cases start from: four movie reviews from the fake backend, ten calls at most
GENERATION = {"num_samples_to_generate": 4, "max_prompt_calls": 10}


def fabricator(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fabricator ARGS`` run in ``folder`` as a second process (no key, unbuffered)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fabricator.app.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The one-line error of a command refused as bad input (exit 2, no traceback)."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def project(folder: Path, text: str | None = None, **sections: Any) -> str:
    """A recipe (``text`` as written, or the movie recipe with ``sections``) beside its few-shot data."""
    write_fewshot(folder)
    if text is None:
        recipe = movie_recipe(**{"model": {"backend": "fake"}, **sections})
        recipe.setdefault("generation", dict(GENERATION))
        text = yaml.safe_dump(recipe, sort_keys=False)
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")
    return "recipe.yaml"


def with_generation(**options: Any) -> dict[str, Any]:
    return {**GENERATION, **options}


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def served(folder: Path, server: FakeOpenAIServer, **options: Any) -> str:
    """The movie recipe against the loopback server, one call at a time."""
    model = {"backend": "openai", "name": "fake-model", "base_url": server.base_url, "max_concurrency": 1}
    return project(folder, model=model, generation=with_generation(**options))


# --- 1. duplicate keys ------------------------------------------------------------------------------

TWO_GENERATIONS = """\
prompt:
  task_description: "Write a {} movie review."
  label_options: [positive, negative]
  generate_data_for_column: text
model:
  backend: fake
generation:
  max_prompt_calls: 2
output: out
generation:
  num_samples_to_generate: 4
"""


@pytest.mark.parametrize("command", ["plan", "generate"])
def test_a_second_generation_section_is_an_error_naming_the_key_and_lines(tmp_path, command):
    done = fabricator(tmp_path, command, project(tmp_path, TWO_GENERATIONS))
    refused(done, "'generation' is given twice", "lines 7 and 10")
    assert not (tmp_path / "out").exists()


def test_a_key_given_twice_inside_a_section_is_an_error_too(tmp_path):
    text = TWO_GENERATIONS.replace("output: out\ngeneration:\n", "").replace(
        "  max_prompt_calls: 2\n", "  max_prompt_calls: 2\n  seed: 1\n  max_prompt_calls: 50\n"
    )
    refused(fabricator(tmp_path, "plan", project(tmp_path, text)), "'max_prompt_calls' is given twice")


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    """A ``<<`` merge is YAML's way to override on purpose: not a key given twice."""
    head = TWO_GENERATIONS.split("generation:")[0]
    path = tmp_path / "merge.yaml"
    path.write_text(head + "generation:\n  <<: {max_prompt_calls: 2, seed: 1}\n  max_prompt_calls: 5\n")
    generation = load_recipe(path).generation
    assert (generation.max_prompt_calls, generation.sampling.seed) == (5, 1)


# --- 2. bounded counts --------------------------------------------------------------------------------


#: a count a few zeros too long, for each key that holds one (the error names every key and bound)
OVERSIZED = {
    "generation": with_generation(
        label_samples=1_000_000_000, max_tokens=10**12, max_retries=10**9, budget_tokens=10**20, seed=10**30
    ),
    "model": {"backend": "fake", "parallel": 10**9, "max_concurrency": 10**9},
}


def test_every_count_has_an_upper_bound_named_in_the_error(tmp_path):
    error = refused(fabricator(tmp_path, "plan", project(tmp_path, **OVERSIZED)))
    for key in (*OVERSIZED["generation"], *(f"model.{k}" for k in ("parallel", "max_concurrency"))):
        if key not in GENERATION:
            assert f"{key}: Input should be less than or equal to" in error, key
    assert "label_samples: Input should be less than or equal to 100" in error


def test_a_billion_label_samples_are_refused_before_any_call(tmp_path, server):
    recipe = served(tmp_path, server, label_samples=1_000_000_000)
    refused(fabricator(tmp_path, "generate", recipe, "-o", "out", "--quiet"), "label_samples", "100")
    assert server.stats["received"] == 0


# --- 3. counts are whole numbers, numbers are not booleans ---------------------------------------------


#: a boolean or a float where a count (or a number) is wanted: pydantic's lax mode took them as 1 or 2
NOT_COUNTS = {
    "max_prompt_calls": True,
    "num_samples_to_generate": 2.0,
    "seed": True,
    "budget_tokens": True,
    "rows_per_call": 2.0,
    "temperature": True,
}


def test_booleans_and_floats_are_not_counts(tmp_path):
    error = refused(fabricator(tmp_path, "plan", project(tmp_path, generation=NOT_COUNTS)))
    for key, value in NOT_COUNTS.items():
        kind = "number" if key == "temperature" else "whole number"
        assert f"generation.{key}: Value error, must be a {kind}, not {value!r}" in error, key


def test_max_prompt_calls_true_is_not_one_call(tmp_path, server):
    recipe = served(tmp_path, server, max_prompt_calls=True)
    refused(fabricator(tmp_path, "generate", recipe, "-o", "out", "--quiet"), "max_prompt_calls")
    assert server.stats["received"] == 0


def test_few_shot_counts_are_whole_numbers_too(tmp_path):
    recipe = movie_recipe()
    recipe["fewshot"]["examples_per_class"] = True
    done = fabricator(tmp_path, "plan", project(tmp_path, fewshot=recipe["fewshot"]))
    refused(done, "fewshot.examples_per_class")


# --- 4. a dollar budget needs prices, and prices are finite and >= 0 -----------------------------------


@pytest.mark.parametrize(
    "args", [["generate", "--quiet"], ["generate", "--quiet", "--spend-budget"], ["plan"]]
)
def test_budget_usd_without_prices_is_refused_before_any_call(tmp_path, server, args):
    recipe = served(tmp_path, server, budget_usd=0.0001, num_samples_to_generate=20, max_prompt_calls=20)
    refused(fabricator(tmp_path, args[0], recipe, "-o", "out", *args[1:]), "budget_usd", "prices")
    assert server.stats["received"] == 0 and not (tmp_path / "out").exists()


def test_budget_usd_without_prices_is_refused_by_the_api_too():
    llm = Fake("A fine film.")
    with pytest.raises(ConfigError, match="budget_usd") as caught:
        DatasetGenerator(llm).generate(BasePrompt("Write a review."), max_prompt_calls=2, budget_usd=0.01)
    assert "prices" in (caught.value.hint or "") and llm.calls == 0


@pytest.mark.parametrize(
    "prices, needle", [([-1, -1], "greater than or equal to 0"), ([float("nan"), 1], "finite number")]
)
def test_negative_or_nan_prices_are_refused(tmp_path, server, prices, needle):
    recipe = served(tmp_path, server, prices=prices)
    refused(fabricator(tmp_path, "generate", recipe, "-o", "out", "--quiet"), "prices", needle)
    assert server.stats["received"] == 0


# --- 5. no traceback for bad numbers or paths -----------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "generate"])
@pytest.mark.parametrize(
    "weights, needle",
    [
        ({"short": float("inf"), "long": 1}, "finite"),
        ({"short": 1.5e308, "long": 1.5e308}, "add up to more than a number can hold"),
    ],
)
def test_attribute_weights_that_are_infinite_or_overflow_are_refused(tmp_path, command, weights, needle):
    recipe = project(tmp_path, attributes={"length": weights}, generation=with_generation())
    refused(fabricator(tmp_path, command, recipe, "-o", "out"), "length", needle)
    assert not (tmp_path / "out" / "data.jsonl").exists()


def test_per_label_weights_are_checked_too(tmp_path):
    attributes = {"length": {"per_label": {"positive": {"a": float("inf")}, "negative": ["b"]}}}
    recipe = project(tmp_path, attributes=attributes, generation=with_generation())
    refused(fabricator(tmp_path, "plan", recipe), "length.per_label.positive", "finite")


def test_a_previous_runs_metadata_with_1e400_is_not_a_measurement(tmp_path):
    """A previous run only gives optional rates: a hand-edited ``metadata.json`` is set aside with
    the plan's note, as any other malformed one is, instead of a traceback (exit 1)."""
    recipe = project(tmp_path, generation=with_generation(budget_tokens=100_000))
    assert fabricator(tmp_path, "generate", recipe, "-o", "out", "--quiet").returncode == 0
    meta = tmp_path / "out" / "metadata.json"
    summary = json.loads(meta.read_text())["summary"]
    text = meta.read_text().replace(
        f'"completion_tokens": {summary["completion_tokens"]}', '"completion_tokens": 1e400'
    )
    assert "1e400" in text
    meta.write_text(text)
    plan = fabricator(tmp_path, "plan", recipe, "-o", "out")
    assert plan.returncode == 0 and "Traceback" not in plan.stderr, plan.stderr
    assert "is not a run's metadata" in plan.stdout
    again = fabricator(tmp_path, "generate", recipe, "-o", "out", "--quiet")  # a budget: the plan is made
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr


@pytest.mark.parametrize("elapsed", ["NaN", "-5", "1" + "0" * 400])
def test_a_previous_runs_metadata_out_of_range_is_not_used_by_plan(tmp_path, elapsed):
    recipe = project(tmp_path)
    (tmp_path / "out").mkdir()
    summary = f'{{"succeeded": 3, "completion_tokens": 30, "elapsed_s": {elapsed}}}'
    (tmp_path / "out" / "metadata.json").write_text(f'{{"model": "fake", "summary": {summary}}}')
    done = fabricator(tmp_path, "plan", recipe, "-o", "out")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "is not a run's metadata" in done.stdout and "inf" not in done.stdout


@pytest.mark.parametrize("command", ["plan", "generate"])
def test_an_output_under_an_unknown_users_home_is_a_one_line_error(tmp_path, command):
    recipe = project(tmp_path, output="~nonexistentuser26/x", generation=with_generation())
    refused(fabricator(tmp_path, command, recipe), "~nonexistentuser26")


def test_plan_into_an_unknown_users_home_is_a_one_line_error(tmp_path):
    refused(
        fabricator(tmp_path, "plan", project(tmp_path), "-o", "~nonexistentuser26/x"), "~nonexistentuser26"
    )


def test_a_data_path_under_an_unknown_users_home_is_a_one_line_error(tmp_path):
    recipe = movie_recipe()
    recipe["fewshot"]["path"] = "~nonexistentuser26/fewshot.jsonl"
    refused(fabricator(tmp_path, "plan", project(tmp_path, fewshot=recipe["fewshot"])), "~nonexistentuser26")
