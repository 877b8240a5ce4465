"""Filters by name: a user's own, registered in code or by an entry point, used from a recipe through
``fabricator generate``, dropping rows as failures of its own kind; the built-in ones by name too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write

from fabricator.app.cli import main
from fabricator.execution.work import Failure, FailureKind
from fabricator.pipeline.filters import Kept, Round
from fabricator.pipeline.filters.registry import FilterContext, filter_names, register_filter


class NoBadWords:
    """A user's filter: drops the rows whose text says ``word``, for a reason of its own."""

    def __init__(self, context: FilterContext, word: str = "bad") -> None:
        self.column = context.task.prompt.target_column
        self.word = word

    async def apply(self, batch: Round) -> Kept:
        kept = Kept({})
        for index, row in batch.rows.items():
            text = str(row[self.column])
            if self.word in text.lower().split():
                reason = f"no-bad-words: the text says {self.word!r}"
                kept.failures[index] = Failure(index, reason, FailureKind.FILTERED, text)
            else:
                kept.rows[index] = row
        return kept


ANSWERS = ["A fine film.", "A bad film.", "Another fine film."]


def recipe_with(filters: list[dict[str, Any]], answers: list[str] = ANSWERS) -> dict[str, Any]:
    generation = {"num_samples_to_generate": 2, "max_prompt_calls": 6, "dedup": False, "filters": filters}
    return movie_recipe(model={"backend": "fake", "responses": answers}, generation=generation)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_fewshot(tmp_path)
    return tmp_path


def run(folder: Path, recipe: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The texts a run made and the failures it kept."""
    out = folder / "out"
    assert main(["generate", write(folder, recipe), "-o", str(out), "--quiet"]) == 0
    texts = [json.loads(line)["text"] for line in (out / "data.jsonl").read_text().splitlines()]
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    return texts, failures


def test_a_filter_registered_in_code_is_named_by_a_recipe(folder: Path) -> None:
    register_filter("no-bad-words", NoBadWords)
    assert "no-bad-words" in filter_names()
    texts, failures = run(folder, recipe_with([{"name": "no-bad-words"}]))
    assert sorted(texts) == ["A fine film.", "Another fine film."]  # the dropped row was replaced
    assert [(f["kind"], f["raw"]) for f in failures] == [("Filtered", "A bad film.")]
    assert "no-bad-words" in failures[0]["error"]


def test_a_filters_options_come_from_the_recipe_and_an_unknown_one_is_named(folder: Path, capsys) -> None:
    register_filter("no-bad-words", NoBadWords)
    answers = ["A fine film.", "A bad film.", "A good film."]
    texts, failures = run(folder, recipe_with([{"name": "no-bad-words", "word": "fine"}], answers))
    assert sorted(texts) == ["A bad film.", "A good film."]
    assert [f["raw"] for f in failures] == ["A fine film."]
    recipe = recipe_with([{"name": "no-bad-words", "colour": "blue"}])
    assert main(["generate", write(folder, recipe), "-o", str(folder / "other"), "--quiet"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "filter 'no-bad-words'" in err and "colour" in err


def test_a_filter_declared_by_an_entry_point_is_named_by_a_recipe(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    info = site / "toy_filters-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-filters\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[fabricator.filters]\nno-bad-words-ep = {__name__}:NoBadWords\n")
    monkeypatch.syspath_prepend(str(site))
    assert "no-bad-words-ep" in filter_names()
    texts, failures = run(folder, recipe_with([{"name": "no-bad-words-ep"}]))
    assert sorted(texts) == ["A fine film.", "Another fine film."]
    assert [f["kind"] for f in failures] == ["Filtered"]


def test_an_unknown_filter_lists_the_known_ones(folder: Path, capsys) -> None:
    recipe = recipe_with([{"name": "nope"}])
    assert main(["generate", write(folder, recipe), "-o", str(folder / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "unknown filter 'nope'" in err
    assert all(name in err for name in ("copies", "near-duplicates", "verification"))
    assert not (folder / "out" / "data.jsonl").exists()


def test_the_built_in_filters_are_named_too(folder: Path) -> None:
    texts, failures = run(folder, recipe_with([{"name": "copies"}], answers=["Same film."]))
    assert texts == ["Same film."]
    assert failures and {f["kind"] for f in failures} == {"Duplicate"}
