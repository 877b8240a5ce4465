import json
import os
from pathlib import Path

import pytest
from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write

from fabricator.app.cli import main
from fabricator.tables import load_table

RECIPE = movie_recipe(
    model={"backend": "fake", "responses": ["A moving film.", "Sure! Here is a review:\nFlat and dull."]},
    generation={"num_samples_to_generate": 8, "max_prompt_calls": 12, "dedup": False},
)


@pytest.fixture
def recipe_dir(tmp_path):
    write_fewshot(tmp_path)
    return tmp_path


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


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"generation": {"num_samples": 5}}, "generation.num_samples: unknown key"),
        ({"generation": {"max_prompt_calls": "many"}}, "generation.max_prompt_calls"),
        ({"model": {"backend": "gpt"}}, "model.backend"),
        ({"colour": "blue"}, "colour: unknown key"),
    ],
)
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
            assert "sk-secret" not in Path(root, f).read_text(errors="ignore")


def test_summary_says_whether_failed_answers_were_replaced():
    from fabricator.app.cli import describe_failures

    assert describe_failures({"failures": 0, "rows": 24, "requested": 24}) == "0"
    assert describe_failures({"failures": 5, "rows": 24, "requested": 24}).startswith("5 (all replaced")
    assert describe_failures({"failures": 3, "rows": 97, "requested": 100}).startswith("3 (not all replaced")


# --- exit codes: a run that made nothing fails, a partial run says what is missing ---------------

REFUSAL = "As an AI language model, I cannot write that."


def annotation_recipe(recipe_dir, responses):
    rows = "".join(json.dumps({"text": t}) + "\n" for t in ("good", "bad"))
    (recipe_dir / "unlabeled.jsonl").write_text(rows)
    return {
        "prompt": {
            "task_description": "Classify the review as one of: {}.",
            "label_options": ["positive", "negative"],
            "generate_data_for_column": "label",
            "fewshot_example_columns": "text",
        },
        "fewshot": RECIPE["fewshot"],
        "unlabeled": {"path": "unlabeled.jsonl"},
        "model": {"backend": "fake", "responses": responses},
        "generation": {"max_prompt_calls": 20},
    }


@pytest.mark.parametrize(
    "make, kind",
    [
        (
            lambda d: {
                **RECIPE,
                "model": {"backend": "fake", "responses": REFUSAL},
                "generation": {"num_samples_to_generate": 4, "max_prompt_calls": 40},
            },
            "Refusal",
        ),
        (lambda d: annotation_recipe(d, "banana"), "ParseError"),
    ],
    ids=["generation-refusals", "annotation-garbage"],
)
def test_run_that_made_nothing_exits_1_and_says_why(recipe_dir, capsys, make, kind):
    out = recipe_dir / "out"
    assert main(["generate", write(recipe_dir, make(recipe_dir)), "-o", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "nothing was produced" in captured.err and kind in captured.err
    assert "nothing produced" in captured.out and "completed" not in captured.out
    assert (out / "failures.jsonl").read_text()  # what went wrong is kept


@pytest.mark.parametrize(
    "fault, kind",
    [
        ("500", "ServerError"),
        ("hang", "RequestTimeout"),
        ("malformed", "malformed response"),
    ],
)
def test_every_request_failing_at_the_server_exits_1(recipe_dir, capsys, fault, kind):
    from fabricator.testing.fake_server import FakeOpenAIServer

    with FakeOpenAIServer(faults=lambda n: fault, hang_seconds=30) as srv:
        recipe = {
            **RECIPE,
            "model": {"backend": "openai", "name": "m", "base_url": srv.base_url},
            "generation": {
                "num_samples_to_generate": 2,
                "max_prompt_calls": 4,
                "max_retries": 0,
                # short only where the server hangs: a 500 on a busy machine must not time out first
                "timeout_per_prompt": 0.2 if fault == "hang" else 20,
            },
        }
        assert main(["generate", write(recipe_dir, recipe), "-o", str(recipe_dir / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "nothing was produced: 0 of 2 rows" in err and kind in err


def test_partial_run_says_how_many_rows_are_missing(recipe_dir, capsys):
    answers = ["A moving film.", REFUSAL, REFUSAL, REFUSAL]
    recipe = {
        **RECIPE,
        "model": {"backend": "fake", "responses": answers},
        "generation": {"num_samples_to_generate": 4, "max_prompt_calls": 4, "dedup": False},
    }
    out = recipe_dir / "out"
    assert main(["generate", write(recipe_dir, recipe), "-o", str(out), "--quiet"]) == 0
    s = json.loads((out / "metadata.json").read_text())["summary"]
    missing = s["requested"] - s["rows"]
    assert s["rows"] > 0 and missing > 0
    assert f"{missing} of {s['requested']} requested rows are missing" in capsys.readouterr().err


# --- recipe files and the CLI's face ----------------------------------------------------------------


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"prompt:\n  task_description: caf\xe9 {}\n", "not UTF-8"),
        (b"prompt: [unclosed\n", "not valid YAML"),
        (b"\xff\xfe\x00p\x00", "not UTF-8"),
    ],
    ids=["latin-1", "bad-yaml", "utf-16"],
)
def test_unreadable_recipe_is_one_error_line(recipe_dir, capsys, content, needle):
    path = recipe_dir / "recipe.yaml"
    path.write_bytes(content)
    assert main(["generate", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and needle in error_lines(err)[0] and "Traceback" not in err
    assert "fix:" in err


def test_missing_recipe_is_one_error_line(recipe_dir, capsys):
    assert main(["generate", str(recipe_dir / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "not found" in err


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"fabricator {version('fabricator-data')}"


def test_help_describes_the_tool_and_each_command_with_an_example(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "(thin)" not in text and "labeled" in text
    for command in ("generate ", "evaluate annotations ", "evaluate student "):
        assert "fabricator " + command in text
