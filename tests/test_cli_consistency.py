"""One CLI: ``-o`` is the output folder, a run folder is ``RUN_DIR``, ``--json`` where figures print."""

import json

import pytest
from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write

from fabricator.app.cli import build_parser, main

RECIPE = movie_recipe(
    model={"backend": "fake", "responses": ["A moving film.", "Flat and dull."]},
    generation={"num_samples_to_generate": 4, "max_prompt_calls": 8, "dedup": False},
)


def help_of(capsys, *command):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return capsys.readouterr().out


def test_evaluate_annotations_help_prints_percent_signs_once(capsys):
    text = help_of(capsys, "evaluate", "annotations")
    assert "100%, 90%" in text and "%%" not in text


@pytest.mark.parametrize("command", [("generate",), ("plan",), ("review", "export"), ("review", "import")])
def test_dash_o_is_the_output_folder(capsys, command):
    text = " ".join(help_of(capsys, *command).split())
    assert "-o" in text and "output folder" in text


@pytest.mark.parametrize("command", [("push",), ("review", "export"), ("review", "import")])
def test_a_run_folder_is_run_dir(capsys, command):
    assert "RUN_DIR" in help_of(capsys, *command)


def test_plan_and_generate_write_their_figures_as_json(tmp_path, capsys):
    write_fewshot(tmp_path)
    recipe = write(tmp_path, RECIPE)
    out = tmp_path / "out"
    assert main(["plan", recipe, "-o", str(out), "--json", str(tmp_path / "plan.json")]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["rows"] == 4 and plan["calls"] == [4, 8] and plan["over_budget"] is None
    # an existing file is the user's: refused before anything runs, replaced with --force
    assert main(["plan", recipe, "-o", str(out), "--json", str(tmp_path / "plan.json")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["plan", recipe, "--json", str(tmp_path / "plan.json"), "--force"]) == 0
    run_json = tmp_path / "run.json"
    assert main(["generate", recipe, "-o", str(out), "--quiet", "--json", str(run_json)]) == 0
    summary = json.loads(run_json.read_text())
    assert summary == json.loads((out / "metadata.json").read_text())["summary"]
