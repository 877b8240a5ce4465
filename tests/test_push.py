"""``fabricator push`` and ``output.hub_repo``: a run's folder becomes a Hub dataset repo.

End to end against ``FakeHub``, a loopback server speaking the endpoints ``huggingface_hub`` and
``datasets`` use. Both read ``HF_ENDPOINT`` when they are imported, so the push and the load run
in a child process with ``HF_ENDPOINT``, ``HF_TOKEN`` and a fresh ``HF_HOME`` set; the test then
reads the repo on the server and what ``datasets.load_dataset(REPO_ID)`` gave back.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fabricator.app.cli import main
from fabricator.app.push import push_output
from fabricator.errors import ConfigError
from fabricator.tables import load_table
from fabricator.testing.fake_hub import FakeHub

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOKEN = "hf_push_test_secret_5f3a"
REVIEWS = [f"Film number {i} was {'great' if i % 2 else 'dull'} from start to end." for i in range(40)]

LOAD = """
import json, sys, datasets
d = datasets.load_dataset(sys.argv[1], split="train")
print(json.dumps({"rows": d.to_list(), "features": d.features.to_dict()}))
"""
CLI = "import sys; from fabricator.app.cli import main; sys.exit(main(sys.argv[1:]))"


def sentiment_recipe(tmp_path, output=None):
    """The sentiment example beside its data, on the fake backend; the recipe's path."""
    folder = tmp_path / "sentiment"
    shutil.copytree(EXAMPLES / "sentiment", folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["model"] = {"backend": "fake", "responses": REVIEWS}
    if output is not None:
        recipe["output"] = output
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder / "recipe.yaml"


def run_sentiment(tmp_path):
    out = tmp_path / "out"
    assert main(["generate", str(sentiment_recipe(tmp_path)), "-o", str(out), "--quiet"]) == 0
    return out


def child(hub, tmp_path, code, *args, token=TOKEN):
    """Run python ``code`` with the Hub at ``hub``; the completed process (stdout, stderr as text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN=token, HF_HOME=str(tmp_path / "hf_home"))
    env.update(HF_HUB_DISABLE_TELEMETRY="1", HF_DATASETS_OFFLINE="0", HF_HUB_OFFLINE="0")
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture
def hub():
    with FakeHub(token=TOKEN) as server:
        yield server


def test_push_then_load_dataset_gives_the_same_rows_and_features(hub, tmp_path):
    out = run_sentiment(tmp_path)
    pushed = child(hub, tmp_path, CLI, "push", str(out), "user/sentiment", "--private")
    assert pushed.returncode == 0, pushed.stderr
    assert "user/sentiment" in pushed.stdout

    repo = hub.repos["user/sentiment"]
    assert repo.private
    pushed_names = ("data.jsonl", "README.md", "provenance.jsonl", "failures.jsonl", "recipe.yaml")
    for name in (*pushed_names, "report.html"):  # the card links report.html: it must be there too
        assert repo.files[name] == (out / name).read_bytes(), name
    assert not [p for p in repo.files if p.startswith(("journal", "dataset/", ".fabricator"))]
    assert hub.authorizations and all(a == f"Bearer {TOKEN}" for a in hub.authorizations)

    loaded = child(hub, tmp_path, LOAD, "user/sentiment")
    assert loaded.returncode == 0, loaded.stderr
    got = json.loads(loaded.stdout.strip().splitlines()[-1])
    saved = load_table(out / "dataset")
    assert got["features"] == saved.features.to_dict()  # the card's features: ClassLabel, not a string
    assert got["rows"] == saved.to_list()
    assert not hub.unknown or all("/resolve/" in path for _, path in hub.unknown)  # probes, no gaps


def test_a_recipe_with_output_hub_repo_pushes_after_a_successful_run(hub, tmp_path):
    out = tmp_path / "runs" / "first"
    recipe = sentiment_recipe(tmp_path, output={"dir": str(out), "hub_repo": "user/from-recipe"})
    ran = child(hub, tmp_path, CLI, "generate", str(recipe), "--quiet")
    assert ran.returncode == 0, ran.stderr
    repo = hub.repos["user/from-recipe"]
    assert not repo.private
    assert repo.files["data.jsonl"] == (out / "data.jsonl").read_bytes()
    written = yaml.safe_load(repo.files["recipe.yaml"])
    assert written["output"]["hub_repo"] == "user/from-recipe"  # the recipe as written, round-trips
    assert TOKEN.encode() not in b"".join(repo.files.values())


def test_a_recipe_with_hub_repo_and_no_token_stops_before_any_model_call(hub, tmp_path):
    out = tmp_path / "runs" / "first"
    recipe = sentiment_recipe(tmp_path, output={"dir": str(out), "hub_repo": "user/x"})
    code = "import huggingface_hub.constants as c, os; c.HF_TOKEN_PATH = os.devnull + '.none'; " + CLI
    ran = child(hub, tmp_path, code, "generate", str(recipe), "--quiet", token="")
    assert ran.returncode == 2
    assert "HF_TOKEN" in ran.stderr and "huggingface-cli login" in ran.stderr
    assert not (out / "data.jsonl").exists() and not hub.repos


def test_push_without_a_token_names_hf_token_and_the_login(tmp_path, monkeypatch, capsys):
    out = run_sentiment(tmp_path)
    capsys.readouterr()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    assert main(["push", str(out), "user/sentiment"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "no Hugging Face token" in err
    assert "HF_TOKEN" in err and "huggingface-cli login" in err


def test_push_refuses_a_folder_that_is_not_a_fabricator_output(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "data.jsonl").write_text('{"text": "my own file"}\n')
    with pytest.raises(ConfigError, match="not a Fabricator output folder") as caught:
        push_output(folder, "user/mine")
    assert ".fabricator-output" in caught.value.message and caught.value.hint


def test_a_rejected_token_is_reported_without_showing_it(hub, tmp_path):
    out = run_sentiment(tmp_path)
    wrong = "hf_wrong_token_that_must_not_leak_9b1c"
    pushed = child(hub, tmp_path, CLI, "push", str(out), "user/sentiment", token=wrong)
    assert pushed.returncode == 2
    assert wrong not in pushed.stdout + pushed.stderr
    assert "HF_TOKEN" in pushed.stderr  # the fix names where the token comes from
    assert not hub.repos


def test_a_folder_without_jsonl_is_pushed_as_parquet_with_the_card_pointing_at_it(hub, tmp_path):
    out = run_sentiment(tmp_path)
    (out / "data.jsonl").unlink()  # e.g. removed to save space: the saved dataset is the data
    pushed = child(hub, tmp_path, CLI, "push", str(out), "user/parquet")
    assert pushed.returncode == 0, pushed.stderr
    repo = hub.repos["user/parquet"]
    assert "data/train.parquet" in repo.files and "data.jsonl" not in repo.files
    card = yaml.safe_load(repo.files["README.md"].decode().split("---\n")[1])
    assert card["configs"][0]["data_files"] == [{"split": "train", "path": "data/train.parquet"}]
    assert (out / "README.md").read_text().count("data.jsonl")  # the local card is left as it was

    loaded = child(hub, tmp_path, LOAD, "user/parquet")
    assert loaded.returncode == 0, loaded.stderr
    got = json.loads(loaded.stdout.strip().splitlines()[-1])
    saved = load_table(out / "dataset")
    assert got["features"] == saved.features.to_dict() and got["rows"] == saved.to_list()
