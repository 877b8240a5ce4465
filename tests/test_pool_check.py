"""The pool check: label-conditioned rows that a classifier fitted on the labelled pool reads as
another label are dropped and written again, at no model call."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.evaluation.student import embeddings as embeddings_module
from fabricator.llms.fake import Fake
from fabricator.pipeline.filters.pool_check import MIN_ROWS

pytestmark = pytest.mark.usefixtures("letter_encoder")

SENTIMENT = ["positive", "negative"]


def write_prompt() -> BasePrompt:
    return BasePrompt(
        "Write one {} movie review sentence.", label_options=SENTIMENT, generate_data_for_column="text"
    )


def pool(positive: int = MIN_ROWS, negative: int = MIN_ROWS) -> Dataset:
    texts = [f"good film {i}" for i in range(positive)] + [f"bad film {i}" for i in range(negative)]
    return Dataset.from_dict({"text": texts, "label": ["positive"] * positive + ["negative"] * negative})


class Teacher:
    """Writes a review of the asked label, except every third one, which reads as the other."""

    def __init__(self) -> None:
        self.count = itertools.count(1)

    def write(self, prompt: str) -> str:
        n = next(self.count)
        asked = "positive" if "Write one positive" in prompt else "negative"
        if n % 3 == 0:
            asked = "negative" if asked == "positive" else "positive"
        return f"a {'good' if asked == 'positive' else 'bad'} movie review {n}"


def generate(fewshot: Dataset, rows: int = 12, **options: Any) -> tuple[Dataset, DatasetGenerator, Fake]:
    llm = Fake(Teacher().write)
    gen = DatasetGenerator(llm)
    made = gen.generate(
        write_prompt(), fewshot_dataset=fewshot, fewshot_sampling_strategy="uniform",
        fewshot_examples_per_class=1, fewshot_sampling_column="label",
        num_samples_to_generate=rows, max_prompt_calls=40, **options,
    )  # fmt: skip
    return made, gen, llm


def labels(ds: Dataset) -> list[str]:
    feature = ds.features["label"]
    return [feature.names[i] for i in ds["label"]] if hasattr(feature, "names") else list(ds["label"])


def reads_as_its_label(ds: Dataset) -> list[bool]:
    return [("good" in t) == (label == "positive") for t, label in zip(ds["text"], labels(ds), strict=True)]


def test_rows_the_pool_reads_as_another_label_are_dropped_and_written_again():
    made, gen, llm = generate(pool())
    report = gen.last_run
    assert report is not None
    assert len(made) == 12 and all(reads_as_its_label(made))
    counts = report.summary()["pool_check"]
    mismatches = [f for f in report.failures if f.kind == "LabelMismatch"]
    assert counts["mismatched"] == len(mismatches) >= 4  # every third of 12+ rows
    assert all("the pool classifier reads it as" in f.error and f.raw for f in mismatches)
    assert counts["checked"] == counts["kept"] + counts["mismatched"] and counts["unchecked"] == 0
    assert counts["pool_rows"] == 2 * MIN_ROWS
    assert counts["by_label"]["positive"]["negative"] > 0
    # no call of its own: one call per row written, kept or dropped
    assert llm.calls == report.budget.used == counts["checked"]
    scores = [p["pool_scores"] for p in report.provenance]
    assert all(s[label] > 0.5 for s, label in zip(scores, labels(made), strict=True))


def test_off_keeps_what_the_teacher_wrote():
    made, gen, _ = generate(pool(), pool_classifier="off")
    assert gen.last_run is not None and "pool_check" not in gen.last_run.summary()
    assert not all(reads_as_its_label(made))


def test_a_label_with_too_few_pool_rows_leaves_the_run_unchecked():
    made, gen, _ = generate(pool(negative=MIN_ROWS - 1))
    assert gen.last_run is not None and "pool_check" not in gen.last_run.summary()
    assert not all(reads_as_its_label(made))


def test_a_label_with_too_few_rows_goes_unchecked_while_the_others_are_checked():
    fewshot = Dataset.from_dict(
        {
            "text": [f"good film {i}" for i in range(MIN_ROWS)]
            + [f"bad film {i}" for i in range(MIN_ROWS)]
            + ["so so film 1", "so so film 2"],
            "label": ["positive"] * MIN_ROWS + ["negative"] * MIN_ROWS + ["neutral"] * 2,
        }
    )
    llm = Fake(lambda prompt: "a so so film" if "neutral" in prompt else Teacher().write(prompt))
    gen = DatasetGenerator(llm)
    gen.generate(
        BasePrompt("Write one {} movie review sentence.", label_options=[*SENTIMENT, "neutral"],
                   generate_data_for_column="text"),
        fewshot_dataset=fewshot, fewshot_sampling_strategy="uniform", fewshot_examples_per_class=1,
        fewshot_sampling_column="label", num_samples_to_generate=9, max_prompt_calls=40, dedup=False,
    )  # fmt: skip
    assert gen.last_run is not None
    counts = gen.last_run.summary()["pool_check"]
    assert "neutral" not in counts["by_label"] and counts["unchecked"] >= 3


def test_without_the_embedder_the_run_goes_on_unchecked_and_says_why(monkeypatch):
    def missing(texts: Any, **_: Any) -> Any:
        raise ConfigError("the student needs sentence-transformers", hint="pip install '...[student]'")

    monkeypatch.setattr(embeddings_module, "embed_texts", missing)
    made, gen, _ = generate(pool())
    assert gen.last_run is not None and len(made) == 12
    counts = gen.last_run.summary()["pool_check"]
    assert "sentence-transformers" in counts["error"]
    assert counts["checked"] == 0 and counts["unchecked"] >= 12


def test_a_rerun_from_the_journal_pays_nothing_and_keeps_the_same_rows(tmp_path):
    first, _, _ = generate(pool(), journal_dir=tmp_path / "run")
    again, gen, llm = generate(pool(), journal_dir=tmp_path / "run")
    assert llm.calls == 0
    assert again["text"] == first["text"] and labels(again) == labels(first)
    assert gen.last_run is not None and gen.last_run.summary()["pool_check"]["mismatched"] >= 4


def test_the_plan_says_which_labels_are_checked_and_off_says_nothing(tmp_path):
    from conftest import movie_recipe, write_fewshot
    from conftest import write_recipe as write

    from fabricator.app.recipe import load_recipe
    from fabricator.app.runner import plan_recipe

    rows = [{"text": t, "label": label} for t, label in zip(pool()["text"], pool()["label"], strict=True)]
    write_fewshot(tmp_path, rows)
    generation = {"num_samples_to_generate": 8, "max_prompt_calls": 10}
    on = plan_recipe(load_recipe(write(tmp_path, movie_recipe(generation=generation))), llm=Fake())
    line = dict(on.lines())["pool check"]
    assert f"pool's {2 * MIN_ROWS} labelled rows" in line and "negative, positive" in line
    assert on.as_dict()["pool_check"] == line
    off = {**generation, "pool_classifier": "off"}
    plain = plan_recipe(load_recipe(write(tmp_path, movie_recipe(generation=off))), llm=Fake())
    assert "pool check" not in dict(plain.lines()) and plain.as_dict()["pool_check"] is None


def test_the_card_says_what_the_check_kept_or_why_it_could_not():
    from fabricator.app.card_method import pool_check

    counts = {"pool_rows": 40, "checked": 12, "kept": 9, "mismatched": 3, "unchecked": 2}
    line = pool_check(counts)
    assert "40 labelled few-shot rows" in line and "9 of 12 checked rows kept" in line
    assert "2 of labels with too few pool rows" in line
    failed = pool_check({"pool_rows": 40, "error": "needs the [student] extra"})
    assert "could not be fitted (needs the [student] extra)" in failed and "kept" not in failed


def test_under_the_student_loop_it_never_learns_the_rows_the_student_is_tested_on():
    made, gen, _ = generate(pool(2 * MIN_ROWS, 2 * MIN_ROWS), rows=24, student_loop=True, student_rounds=2)
    assert gen.last_run is not None and len(made) == 24
    summary = gen.last_run.summary()
    assert summary["student_loop"]["test_rows"] == 2 * MIN_ROWS  # half of each label held out
    assert summary["pool_check"]["pool_rows"] == summary["student_loop"]["shown_rows"] == 2 * MIN_ROWS


def test_a_recipe_run_reports_the_check_in_its_metadata_and_card(tmp_path):
    import json

    from conftest import movie_recipe, write_fewshot
    from conftest import write_recipe as write

    from fabricator.app.cli import main

    rows = [{"text": t, "label": label} for t, label in zip(pool()["text"], pool()["label"], strict=True)]
    write_fewshot(tmp_path, rows)
    recipe = movie_recipe(
        model={"backend": "fake", "responses": ["a good movie 1", "a bad movie 2", "a bad movie 3"]},
        generation={"num_samples_to_generate": 6, "max_prompt_calls": 30, "dedup": False},
    )
    out = tmp_path / "out"
    assert main(["generate", write(tmp_path, recipe), "-o", str(out), "--quiet"]) == 0
    summary = json.loads((out / "metadata.json").read_text())["summary"]
    assert summary["pool_check"]["mismatched"] > 0 and summary["pool_check"]["kept"] == 6
    card = (out / "README.md").read_text()
    assert "- Pool check: rows a classifier fitted on the 40 labelled few-shot rows read as" in card
