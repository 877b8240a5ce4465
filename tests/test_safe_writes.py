"""Nothing a user keeps is overwritten or published by accident, no secret lands in a file a run
writes, file modes follow the umask, and the CLI answers bad input in one line (issue 26, 4 and 7).

Each case runs the command as a user would (a child process where the symptom is the process's:
exit status, stderr, umask, a second run at once) and only ever writes under pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import movie_recipe, write_fewshot, write_recipe

from fabricator.app.card import PROJECT, project_version
from fabricator.app.cli import main
from fabricator.app.output_folder import LOCK, MARKER, claim_file
from fabricator.errors import ConfigError
from fabricator.redact import redact_text, redact_url

PASSWORD = "s3cretPW"
REVIEWS = [f"Film number {i} was {'great' if i % 2 else 'dull'} from start to end." for i in range(12)]
REFUSAL = "As an AI language model, I cannot write that."
HUB_TOKEN = "hf_safe_writes_secret_7d2e"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, umask: int = -1
) -> subprocess.CompletedProcess:
    """``fabricator ARGS`` in a child process (its own umask and environment, like a user's shell)."""
    return subprocess.run(
        [sys.executable, "-m", "fabricator.app.cli", *args],
        cwd=cwd,
        env=env,
        umask=umask,
        capture_output=True,
        text=True,
        timeout=240,
    )


def recipe(folder: Path, **sections: Any) -> str:
    write_fewshot(folder)
    model = {"backend": "fake", "responses": REVIEWS}
    base = movie_recipe(model=model, generation={"num_samples_to_generate": 4, "max_prompt_calls": 8})
    return write_recipe(folder, {**base, **sections})


def one_line_error(err: str) -> str:
    """stderr of a refused command: no traceback, and the error said on one line."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


# --- 1. one safe-write rule for every file target -------------------------------------------------


def test_claim_file_refuses_what_the_user_keeps_and_creates_parents(tmp_path: Path) -> None:
    mine = tmp_path / "notes.json"
    mine.write_text("my notes")
    with pytest.raises(ConfigError, match="already exists") as caught:
        claim_file(mine)
    assert "--force" in (caught.value.hint or "")
    assert claim_file(mine, force=True) == mine and mine.read_text() == "my notes"  # checked, not touched
    assert claim_file(mine, ours=lambda p: p.read_text() == "my notes") == mine
    with pytest.raises(ConfigError, match="is a folder"):
        claim_file(tmp_path)
    with pytest.raises(ConfigError, match=f"{mine} is a file"):
        claim_file(mine / "deeper" / "x.json")
    new = claim_file(tmp_path / "a" / "b" / "c.json")
    assert new.parent.is_dir() and not new.exists()
    with pytest.raises(ConfigError, match="home folder"):
        claim_file("~nosuchuser_fabricator/x.json")


PREDICTIONS = [
    {"id": i, "text": f"row {i}", "label": label, "confidence": conf}
    for i, (label, conf) in enumerate([("a", 0.9), ("b", 0.8), ("a", 0.6), ("b", 0.55)])
]
GOLD = [{"id": i, "text": f"row {i}", "label": label} for i, label in enumerate(["a", "b", "b", "b"])]


def evaluate_args(tmp_path: Path) -> list[str]:
    for name, rows in (("preds.jsonl", PREDICTIONS), ("gold.jsonl", GOLD)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ["evaluate", "annotations", "--predictions", "preds.jsonl", "--gold", "gold.jsonl"]


def test_plot_into_an_existing_folder_is_refused_and_nothing_is_written_beside_it(tmp_path: Path) -> None:
    args = evaluate_args(tmp_path)
    (tmp_path / "plots").mkdir()
    ran = cli(*args, "--plot", "plots", cwd=tmp_path)
    assert ran.returncode == 2
    assert "plots is a folder" in one_line_error(ran.stderr)
    assert not (tmp_path / "plots.png").exists() and not list((tmp_path / "plots").iterdir())


def test_a_plot_without_a_suffix_is_named_as_written(tmp_path: Path) -> None:
    ran = cli(*evaluate_args(tmp_path), "--plot", "rc", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "plot written to rc.png" in ran.stdout and (tmp_path / "rc.png").is_file()
    assert not (tmp_path / "rc").exists()


def test_plot_and_json_never_overwrite_a_users_file_without_force(tmp_path: Path) -> None:
    args = evaluate_args(tmp_path)
    (tmp_path / "keep.json").write_text("mine")
    (tmp_path / "keep.png").write_text("mine too")
    for flag, name in (("--json", "keep.json"), ("--plot", "keep.png")):
        ran = cli(*args, flag, name, cwd=tmp_path)
        assert ran.returncode == 2
        assert "already exists" in one_line_error(ran.stderr)
    assert (tmp_path / "keep.json").read_text() == "mine" and (
        tmp_path / "keep.png"
    ).read_text() == "mine too"
    ran = cli(*args, "--json", "keep.json", "--force", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "keep.json").read_text())["task"]


def test_a_json_target_under_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    args = evaluate_args(tmp_path)
    ran = cli(*args, "--json", "gold.jsonl/out.json", cwd=tmp_path)
    assert ran.returncode == 2
    assert "gold.jsonl is a file" in one_line_error(ran.stderr)


# --- 2. no password in any file a run writes, or in a message -------------------------------------


def test_redact_url_and_text_cut_credentials() -> None:
    assert redact_url(f"http://alice:{PASSWORD}@host:8000/v1") == "http://host:8000/v1"
    assert redact_url("https://h/v1?api_key=abc&x=1") == "https://h/v1?api_key=***&x=1"
    said = redact_text(f"cannot reach http://alice:{PASSWORD}@host/v1: refused")
    assert PASSWORD not in said and "http://***@host/v1" in said
    assert redact_text("mail alice@example.org") == "mail alice@example.org"


def test_credentials_in_base_url_reach_no_file_of_the_run(tmp_path: Path) -> None:
    url = f"http://alice:{PASSWORD}@127.0.0.1:8000/v1"
    path = recipe(tmp_path, model={"backend": "fake", "responses": REVIEWS, "base_url": url})
    ran = cli("generate", path, "-o", "out", "--quiet", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out"
    leaks = [p for p in out.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaks
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["model"]["base_url"] == "http://127.0.0.1:8000/v1"  # the endpoint stays usable


def test_credentials_never_printed_when_the_server_cannot_be_reached(tmp_path: Path) -> None:
    url = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"
    model = {"backend": "openai", "name": "m", "base_url": url, "api_key_env": "SAFE_WRITES_KEY"}
    path = recipe(tmp_path, model=model)
    env = {**os.environ, "SAFE_WRITES_KEY": "k-123"}
    ran = cli("generate", path, "-o", "out", "--quiet", cwd=tmp_path, env=env)
    assert ran.returncode == 2
    one_line_error(ran.stderr)
    assert PASSWORD not in ran.stdout + ran.stderr
    assert not [p for p in tmp_path.rglob("out/**/*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


# --- 3. an empty run is not published -----------------------------------------------------------


@pytest.fixture
def hub():
    from fabricator.testing.fake_hub import FakeHub

    with FakeHub(token=HUB_TOKEN) as server:
        yield server


def hub_env(hub: Any, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN=HUB_TOKEN, HF_HOME=str(tmp_path / "hf_home"))
    env.update(HF_HUB_DISABLE_TELEMETRY="1", HF_DATASETS_OFFLINE="0", HF_HUB_OFFLINE="0")
    return env


def test_a_run_that_made_nothing_is_not_pushed_unless_asked(hub: Any, tmp_path: Path) -> None:
    output = {"dir": "out", "hub_repo": "user/reviews"}
    path = recipe(tmp_path, model={"backend": "fake", "responses": [REFUSAL]}, output=output)
    ran = cli("generate", path, "--quiet", cwd=tmp_path, env=hub_env(hub, tmp_path))
    assert ran.returncode == 1
    assert "not pushed" in ran.stderr and "user/reviews" not in hub.repos
    ran = cli("generate", path, "--quiet", "--push-anyway", cwd=tmp_path, env=hub_env(hub, tmp_path))
    assert ran.returncode == 1 and "user/reviews" in hub.repos


def test_a_run_below_min_rows_to_push_keeps_the_published_data(hub: Any, tmp_path: Path) -> None:
    output = {"dir": "out", "hub_repo": "user/reviews", "min_rows_to_push": 100}
    ran = cli(
        "generate", recipe(tmp_path, output=output), "--quiet", cwd=tmp_path, env=hub_env(hub, tmp_path)
    )
    assert ran.returncode == 0, ran.stderr
    assert "not pushed" in ran.stderr and "min_rows_to_push (100)" in ran.stderr
    assert "user/reviews" not in hub.repos


# --- 4. file modes follow the umask -------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize(
    "umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)], ids=["022", "027"]
)
def test_output_modes_follow_the_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    ran = cli("generate", recipe(tmp_path), "-o", "out", "--quiet", cwd=tmp_path, umask=umask)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out"
    files = [
        "data.jsonl",
        "README.md",
        "metadata.json",
        "recipe.yaml",
        "provenance.jsonl",
        "log.jsonl",
        MARKER,
    ]
    modes = {name: stat.S_IMODE((out / name).stat().st_mode) for name in files}
    assert modes == dict.fromkeys(files, file_mode)
    assert stat.S_IMODE((out / "dataset").stat().st_mode) == dir_mode
    assert {stat.S_IMODE(p.stat().st_mode) for p in (out / "dataset").iterdir()} == {file_mode}


# --- 5. two runs at once: the loser says "in use" -----------------------------------------------

HOLDER = """
import fcntl, sys, pathlib
folder = pathlib.Path(sys.argv[1]); folder.mkdir()
lock = open(folder / sys.argv[2], "a+"); fcntl.flock(lock, fcntl.LOCK_EX); lock.write("4242"); lock.flush()
(folder / ".fabricator-tmp-abc123").write_text("half a marker")  # the first run, mid-claim
print("holding", flush=True); sys.stdin.read()
"""


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_second_run_during_the_first_ones_claim_is_told_the_folder_is_in_use(tmp_path: Path) -> None:
    path = recipe(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "out"), LOCK],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "holding"
        ran = cli("generate", path, "-o", "out", "--quiet", cwd=tmp_path)
    finally:
        first.communicate("", timeout=30)
    assert ran.returncode == 2
    line = one_line_error(ran.stderr)
    assert "in use by another Fabricator run" in line and "did not write" not in line


# --- 6. one line, never a traceback ---------------------------------------------------------------


def test_an_unknown_home_folder_for_the_output_is_one_line_exit_2(tmp_path: Path) -> None:
    ran = cli("generate", recipe(tmp_path), "-o", "~nosuchuser_fabricator/x", "--quiet", cwd=tmp_path)
    assert ran.returncode == 2
    assert "~nosuchuser_fabricator" in one_line_error(ran.stderr)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import fabricator.app.runner

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"a bug near http://alice:{PASSWORD}@host/v1")

    monkeypatch.setattr(fabricator.app.runner, "run_recipe", broken)
    path = recipe(tmp_path)
    assert main(["generate", path, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError" in one_line_error(err) and "--debug" in err and PASSWORD not in err
    with pytest.raises(RuntimeError):
        main(["--debug", "generate", path, "--quiet"])


def test_a_plot_type_matplotlib_cannot_write_is_one_line_exit_2(tmp_path: Path) -> None:
    ran = cli(*evaluate_args(tmp_path), "--plot", "rc.xyz", cwd=tmp_path)
    assert ran.returncode == 2
    assert "'.xyz'" in one_line_error(ran.stderr) and not (tmp_path / "rc.xyz").exists()


# --- 7. the card credits this project and cites the paper -----------------------------------------


def test_the_card_names_this_project_and_cites_the_paper(tmp_path: Path) -> None:
    ran = cli("generate", recipe(tmp_path), "-o", "out", "--quiet", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"made with Fabricator (`{PROJECT}` {project_version()})" in card
    assert "github.com/flairNLP" not in card  # not the paper authors' repository
    citation = card.split("## Citation", 1)[1]
    assert (
        "Fabricator: An Open Source Toolkit for Generating Labeled Training Data with Teacher LLMs"
        in citation
    )
    assert "Golde" in citation and "2023" in citation and "arXiv:2309.09582" in citation


# --- evaluate student: its --json and report files ----------------------------------------------


def student_args(tmp_path: Path, *extra: str) -> list[str]:
    rows = [{"text": t, "label": "pos" if i % 2 else "neg"} for i, t in enumerate(REVIEWS)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, test = str(tmp_path / "data.jsonl"), str(tmp_path / "data.jsonl")
    return ["evaluate", "student", "--train", train, "--test", test, *extra]


def test_evaluate_student_never_writes_over_a_users_json_or_report(tmp_path, capsys):
    kept = tmp_path / "numbers.json"
    kept.write_text('{"mine": true}')
    assert main(student_args(tmp_path, "--no-report", "--json", str(kept))) == 2
    assert "already exists" in capsys.readouterr().err and kept.read_text() == '{"mine": true}'

    (tmp_path / "report.md").write_text("# My own notes\n")  # the default report folder: the data's
    assert main(student_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "report.md already exists" in err and "--force" in err
    assert (tmp_path / "report.md").read_text() == "# My own notes\n"


def test_evaluate_student_may_replace_its_own_report(tmp_path, capsys):
    report = tmp_path / "report.md"
    report.write_text("# Student classifier report\n\nWritten today by `fabricator evaluate student`.\n")
    # past the file checks, the run stops at a bad column (before any training)
    assert main(student_args(tmp_path, "--label-column", "polarity")) == 2
    err = capsys.readouterr().err
    assert "polarity" in err and "already exists" not in err
