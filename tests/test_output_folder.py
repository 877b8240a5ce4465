"""The output folder as a user meets it: never written over, never shared, paths as typed.

Each run goes through ``fabricator.app.cli.main``; a refused run is proved to send no request by
pointing its recipe at a fake OpenAI-compatible server and counting what that server received.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write_any_recipe

from fabricator.app.cli import main
from fabricator.testing.fake_server import FakeOpenAIServer

RECIPE = movie_recipe(
    model={"backend": "fake", "responses": ["A moving film.", "Flat and dull."]},
    generation={"num_samples_to_generate": 8, "max_prompt_calls": 16, "dedup": False},
)


@pytest.fixture
def project(tmp_path):
    """A user's folder: a recipe, its few-shot data and an unrelated file."""
    write_fewshot(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes\n")
    return tmp_path


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def write_recipe(folder, name="recipe.yaml", **changes):
    return write_any_recipe(folder, RECIPE, name, **changes)


def via(server):
    """The same recipe, answered by the fake HTTP server (so refused runs can be counted)."""
    return {"model": {"backend": "openai", "name": "fake-model", "base_url": server.base_url}}


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def lines(path):
    return path.read_text().splitlines()


# --- case 1: a folder that is not ours is refused; inputs and user files are never touched -------


def test_output_dot_next_to_the_recipe_is_refused_before_any_call(project, server, monkeypatch, capsys):
    recipe = write_recipe(project, **via(server), output=".")
    before = snapshot(project)
    monkeypatch.chdir(project)
    assert main(["generate", recipe, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "did not write" in err and "recipe.yaml" in err and "pick a new or empty folder" in err
    assert server.stats["received"] == 0
    assert snapshot(project) == before  # recipe, data and notes untouched, nothing added


def test_user_files_inside_dataset_folder_are_never_deleted(project, capsys):
    out = project / "out"
    recipe = write_recipe(project)
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 0
    (out / "dataset" / "mine.txt").write_text("keep me\n")
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 2
    assert "mine.txt" in capsys.readouterr().err
    assert (out / "dataset" / "mine.txt").read_text() == "keep me\n"


def test_an_input_inside_the_output_folder_is_never_written_over(project, server, capsys):
    out = project / "out"
    assert main(["generate", write_recipe(project), "-o", str(out), "--quiet"]) == 0
    produced = (out / "data.jsonl").read_bytes()
    # a second recipe reads the first run's rows as few-shot data and writes to the same folder
    recipe = write_recipe(
        project, name="again.yaml", **via(server), fewshot={**RECIPE["fewshot"], "path": "out/data.jsonl"}
    )
    assert main(["generate", recipe, "-o", str(out), "--quiet", "--fresh"]) == 2
    assert "out/data.jsonl" in capsys.readouterr().err
    assert server.stats["received"] == 0
    assert (out / "data.jsonl").read_bytes() == produced


def test_rerun_from_the_recipe_copy_keeps_that_copy(project, capsys):
    out = project / "out"
    assert main(["generate", write_recipe(project), "-o", str(out), "--quiet"]) == 0
    copy = out / "recipe.yaml"
    copy.write_text(copy.read_text().replace("fewshot.jsonl", "../fewshot.jsonl") + "# my edit\n")
    edited = copy.read_bytes()
    assert main(["generate", str(copy), "-o", str(out), "--quiet"]) == 0
    assert copy.read_bytes() == edited


def test_a_folder_of_an_older_fabricator_is_still_resumed(project):
    out = project / "out"
    recipe = write_recipe(project)
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 0
    for name in (".fabricator-output", ".fabricator.lock"):  # what older versions did not write
        (out / name).unlink(missing_ok=True)
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 0
    assert json.loads((out / "metadata.json").read_text())["summary"]["cached"] == 8


# --- log.jsonl: what this run did, once -----------------------------------------------------------


@pytest.mark.parametrize("again", [[], ["--fresh"]])
def test_log_holds_the_last_run_only(project, again):
    out = project / "out"
    recipe = write_recipe(project)
    assert main(["generate", recipe, "-o", str(out), "--quiet"]) == 0
    assert len(lines(out / "log.jsonl")) == 8
    assert main(["generate", recipe, "-o", str(out), "--quiet", *again]) == 0
    assert len(lines(out / "log.jsonl")) == 8
    assert len(lines(out / "data.jsonl")) == 8
    assert not [p.name for p in out.iterdir() if p.name.startswith(".fabricator-tmp")]


# --- case 2: a second process on the same folder is refused at once ------------------------------

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from fabricator.llms.fake import Fake
    from fabricator.app.recipe import load_recipe
    from fabricator.app.runner import run_recipe

    recipe, out, go = sys.argv[1:4]

    class Gated(Fake):
        '''Says when the first call starts, then answers only once the file ``go`` exists.'''
        said = False

        async def complete(self, request):
            if not self.said:
                self.said = True
                print("started", flush=True)
            while not Path(go).exists():
                await asyncio.sleep(0.01)
            return await super().complete(request)

    result = run_recipe(load_recipe(recipe), output=out, progress=False,
                        llm=Gated(["A moving film.", "Flat and dull."]))
    print("rows", result.rows, flush=True)
""")


def test_second_process_on_the_same_folder_is_refused_at_once(project, server, capsys):
    out, go = project / "out", project / "go"
    script = project / "holder.py"
    script.write_text(HOLDER)
    first = subprocess.Popen(
        [sys.executable, str(script), write_recipe(project), str(out), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = first.stdout.readline()
        assert started == "started\n", first.stderr.read()
        second = write_recipe(project, name="second.yaml", **via(server))
        assert main(["generate", second, "-o", str(out), "--quiet", "--reuse"]) == 2
        err = capsys.readouterr().err
        assert "in use by another Fabricator run" in err and str(first.pid) in err
        assert server.stats["received"] == 0
    finally:
        go.write_text("go")
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert "rows 8" in stdout
    assert len(lines(out / "data.jsonl")) == 8
    # the lock went with the first process: the folder is free again
    assert main(["generate", write_recipe(project), "-o", str(out), "--quiet"]) == 0


# --- case 10: output paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, needle",
    [
        ("notes.txt", "is a file, not a folder"),
        ("notes.txt/out", "notes.txt is a file"),
    ],
)
def test_output_path_that_cannot_be_a_folder(project, server, capsys, where, needle):
    recipe = write_recipe(project, **via(server))
    assert main(["generate", recipe, "-o", str(project / where), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert server.stats["received"] == 0
    assert (project / "notes.txt").read_text() == "my notes\n"


def test_read_only_output_parent(project, server, capsys):
    """A folder the user cannot write to is one error line before any call, for root too."""
    locked = project / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    # root ignores permission bits: make the folder immutable instead (ext4 and the like), which
    # stops root as a read-only filesystem would; failing that, sysfs refuses new folders to root
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(locked)]).returncode == 0
    target = locked / "out" if os.geteuid() != 0 or immutable else Path("/sys/fabricator-test/out")
    try:
        recipe = write_recipe(project, **via(server))
        assert main(["generate", recipe, "-o", str(target), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "not writable" in err or "Operation not permitted" in err or "Read-only" in err, err
        assert err.count("error:") == 1 and "Traceback" not in err
        assert server.stats["received"] == 0
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        locked.chmod(0o755)


def test_tilde_expands_for_every_output(project, tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert main(["generate", write_recipe(project), "-o", "~/runs/x", "--quiet"]) == 0
    out = home / "runs" / "x"
    made = {p.name for p in out.iterdir()}
    assert {"dataset", "data.jsonl", "log.jsonl", "metadata.json", "journal"} <= made
    assert list(work.iterdir()) == []
