import json
import os

import pytest
import yaml

from fabricator.cli import main
from fabricator.tables import load_table

RECIPE = {
    "prompt": {"task_description": "Write a {} movie review.", "label_options": ["positive", "negative"],
               "generate_data_for_column": "text"},
    "fewshot": {"path": "fewshot.jsonl", "sampling_strategy": "uniform", "examples_per_class": 1,
                "sampling_column": "label"},
    "model": {"backend": "fake", "responses": ["A moving film.", "Sure! Here is a review:\nFlat and dull."]},
    "generation": {"num_samples_to_generate": 8, "max_prompt_calls": 12, "dedup": False},
}


@pytest.fixture
def recipe_dir(tmp_path):
    rows = [{"text": "Loved it.", "label": "positive"}, {"text": "Hated it.", "label": "negative"}]
    (tmp_path / "fewshot.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return tmp_path


def write(recipe_dir, recipe):
    path = recipe_dir / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def test_generate_writes_dataset_log_and_metadata(recipe_dir, capsys):
    out = recipe_dir / "out"
    assert main(["generate", write(recipe_dir, RECIPE), "-o", str(out), "--quiet"]) == 0
    data = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert len(data) == 8 and {r["label"] for r in data} == {"positive", "negative"}
    assert {r["text"] for r in data} == {"A moving film.", "Flat and dull."}
    assert len(load_table(out / "dataset")) == 8
    assert len((out / "log.jsonl").read_text().splitlines()) == 8
    provenance = [json.loads(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    assert len(provenance) == 8 and all(p["model"] == "fake" and p["fewshot_ids"] for p in provenance)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["summary"]["rows"] == 8 and "datasets" in meta["versions"]
    first_tokens = meta["summary"]["prompt_tokens"] + meta["summary"]["completion_tokens"]
    assert first_tokens > 0 and meta["summary"]["cached_tokens"] == 0
    assert "rows" in capsys.readouterr().out
    # a second run resumes from the journal: no new model calls
    assert main(["generate", write(recipe_dir, RECIPE), "-o", str(out), "--quiet"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["summary"]["requests"] == 0 and meta["summary"]["cached"] == 8
    # what the dataset cost stays on record: the journaled answers' tokens
    assert meta["summary"]["prompt_tokens"] == 0 and meta["summary"]["cached_tokens"] == first_tokens


@pytest.mark.parametrize("change, needle", [
    ({"generation": {"num_samples": 5}}, "generation.num_samples: unknown key"),
    ({"generation": {"max_prompt_calls": "many"}}, "generation.max_prompt_calls"),
    ({"model": {"backend": "gpt"}}, "model.backend"),
    ({"colour": "blue"}, "colour: unknown key"),
])
def test_bad_recipes_name_the_key(recipe_dir, capsys, change, needle):
    recipe = {**RECIPE, **change}
    assert main(["generate", write(recipe_dir, recipe), "--quiet"]) == 2
    assert needle in capsys.readouterr().err.replace("\n", " ")


def test_missing_data_and_recipe_files(recipe_dir, capsys):
    recipe = {**RECIPE, "fewshot": {**RECIPE["fewshot"], "path": "nope.jsonl"}}
    assert main(["generate", write(recipe_dir, recipe), "--quiet"]) == 2
    assert "nope.jsonl not found" in capsys.readouterr().err
    assert main(["generate", str(recipe_dir / "missing.yaml")]) == 2


def test_openai_backend_key_never_printed(recipe_dir, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123456")
    recipe = {**RECIPE, "model": {"backend": "openai", "name": "gpt-x", "base_url": "http://127.0.0.1:9/v1"}}
    assert main(["generate", write(recipe_dir, recipe), "-o", str(recipe_dir / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err or "no request reached" in err
    assert "sk-secret" not in err
    for root, _, files in os.walk(recipe_dir):
        for f in files:
            assert "sk-secret" not in open(os.path.join(root, f), errors="ignore").read()


def test_summary_says_whether_failed_answers_were_replaced():
    from fabricator.cli import _failures

    assert _failures({"failures": 0, "rows": 24, "requested": 24}) == "0"
    assert _failures({"failures": 5, "rows": 24, "requested": 24}).startswith("5 (all replaced")
    assert _failures({"failures": 3, "rows": 97, "requested": 100}).startswith("3 (not all replaced")
