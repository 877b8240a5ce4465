"""``fabricator review``: a run's labels to reviewers (Label Studio, Argilla files) and back.

The Label Studio tests run a real server (``label-studio`` from PyPI, installed by the ``test``
extra) with SQLite on 127.0.0.1, started once per session. Fabricator authenticates with a
personal access token (the default kind since Label Studio 1.22); the "reviewer" of the tests
uses the legacy token the server was started with, through the plain HTTP API.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from datasets import load_from_disk

from fabricator.app.cli import main
from fabricator.app.output_folder import OutputFolder
from fabricator.app.review import argilla_records, argilla_settings, load_run
from fabricator.app.review.spans import bio_to_spans, joined_text, spans_to_bio
from fabricator.tables import read_records, write_jsonl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TYPES = ["abbreviation", "description", "entity", "human", "location", "number"]
LEGACY = "fabricator-review-legacy-5f3a9c"
ROWS = 24
UNSCORED = (5, 17)  # rows left without a confidence: reviewed after every scored row


def confidences(n: int) -> list[float | None]:
    """Distinct confidences in a shuffled order (seeded), ``None`` for the UNSCORED rows."""
    values = [round(0.2 + 0.03 * k, 3) for k in range(n)]
    random.Random(7).shuffle(values)
    return [None if i in UNSCORED else v for i, v in enumerate(values)]


def trec_run(tmp_path: Path, rows: int = ROWS) -> Path:
    """A TREC annotation run on the fake backend, with a ``confidence`` column; its output folder."""
    folder = tmp_path / "trec"
    shutil.copytree(EXAMPLES / "trec", folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["model"] = {"backend": "fake", "responses": [json.dumps({"label": t}) for t in TYPES]}
    recipe["unlabeled"]["limit"] = rows
    recipe["generation"].update(max_prompt_calls=rows, label_scoring="off")  # confidences set below
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    set_confidence(out, confidences(rows))
    return out


def ner_run(tmp_path: Path) -> Path:
    folder = tmp_path / "ner"
    shutil.copytree(EXAMPLES / "ner", folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    answers = [[{"text": "LEICESTERSHIRE", "type": "ORG"}], [{"text": "Phil Simmons", "type": "PER"}]]
    recipe["model"] = {"backend": "fake", "responses": [json.dumps(a) for a in answers]}
    recipe["unlabeled"]["limit"] = 2
    recipe["generation"].update(max_prompt_calls=2, label_scoring="off")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "ner-out"
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    return out


def set_confidence(out: Path, values: list[float | None]) -> None:
    """Give the run's rows these confidences (as the label scoring does), in dataset/ and data.jsonl."""
    dataset = load_from_disk(str(out / "dataset"))
    if "confidence" in dataset.column_names:
        dataset = dataset.remove_columns("confidence")
    dataset = dataset.add_column("confidence", values)
    with OutputFolder(out) as folder:
        folder.write_dataset(dataset)
        folder.write_file("data.jsonl", lambda tmp: write_jsonl(dataset, tmp))


def said(capsys) -> str:
    """What the command printed, messages and errors alike."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def review_order(values: list[float | None]) -> list[int]:
    scored = sorted((i for i, v in enumerate(values) if v is not None), key=lambda i: values[i])
    return scored + [i for i, v in enumerate(values) if v is None]


# --- no server ----------------------------------------------------------------------------------------


def test_argilla_export_writes_records_least_confident_first_with_scored_suggestions(tmp_path):
    from argilla import Record  # installed by the test extra
    from argilla._models._settings._fields import FieldModel
    from argilla._models._settings._metadata import MetadataFieldModel
    from argilla._models._settings._questions import QuestionModel

    out = trec_run(tmp_path)
    assert main(["review", "export", str(out), "--to", "argilla", "-o", str(tmp_path / "argilla")]) == 0
    records = json.loads((tmp_path / "argilla" / "records.json").read_text())
    rows = read_records(out / "data.jsonl")
    values = confidences(ROWS)

    assert [r["metadata"]["row"] for r in records] == review_order(values)
    for record in records:
        row = rows[record["metadata"]["row"]]
        assert record["fields"] == {"text": row["text"]}
        suggestion = record["suggestions"]["label"]
        assert suggestion["value"] == row["label"] and suggestion["agent"] == "fake"
        assert suggestion.get("score") == values[record["metadata"]["row"]]
        assert Record.from_dict(record).to_dict() == record  # Argilla reads it back unchanged

    settings = json.loads((tmp_path / "argilla" / ".argilla" / "settings.json").read_text())
    assert [QuestionModel(**q).settings.type for q in settings["questions"]] == ["label_selection"]
    assert [o["value"] for o in settings["questions"][0]["settings"]["options"]] == TYPES
    assert [FieldModel(**f).name for f in settings["fields"]] == ["text"]
    assert {MetadataFieldModel(**m).name for m in settings["metadata"]} == {"confidence", "row"}


def test_argilla_export_of_entities_suggests_the_spans_of_the_tags(tmp_path):
    out = ner_run(tmp_path)
    run = load_run(out)
    records = argilla_records(run, limit=1)
    assert len(records) == 1
    text = records[0]["fields"]["text"]
    spans = records[0]["suggestions"]["entities"]["value"]
    assert [(text[s["start"] : s["end"]], s["label"]) for s in spans] == [("LEICESTERSHIRE", "ORG")]
    assert argilla_settings(run)["questions"][0]["settings"]["type"] == "span"


def test_bio_tags_survive_the_trip_through_character_spans():
    for row in read_records(EXAMPLES / "ner" / "gold.jsonl"):
        spans = bio_to_spans(row["tokens"], row["ner_tags"])
        text = joined_text(row["tokens"])
        assert all(text[s.start : s.end].strip() == text[s.start : s.end] for s in spans)
        assert spans_to_bio(row["tokens"], spans) == row["ner_tags"]


def test_review_refuses_bad_input_without_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    out = trec_run(tmp_path, rows=4)
    url = ["--url", "http://127.0.0.1:9"]
    assert main(["review", "export", str(out), "--to", "label-studio", *url]) == 2
    assert "LABEL_STUDIO_API_KEY" in said(capsys)
    assert main(["review", "export", str(tmp_path), "--to", "argilla", "-o", str(tmp_path / "a")]) == 2
    assert "not a Fabricator output folder" in said(capsys)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-real-token")
    back = ["review", "import", str(out), "--from", "label-studio", *url, "--project", "1"]
    assert main([*back, "-o", str(out)]) == 2  # never over the run itself
    assert "never written over" in said(capsys)
    assert main(back) == 2
    assert "cannot reach Label Studio at http://127.0.0.1:9" in said(capsys)


# --- a real Label Studio server ----------------------------------------------------------------------


class Server:
    def __init__(self, url: str, pat: str) -> None:
        self.url = url
        self.pat = pat

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        """The reviewer's side: plain HTTP with the legacy token."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Token {LEGACY}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def tasks(self, project: int) -> list[dict[str, Any]]:
        return self.call("GET", f"/api/projects/{project}/export?exportType=JSON&download_all_tasks=true")

    def project_id(self, title: str) -> int:
        projects = self.call("GET", "/api/projects/?page_size=100")["results"]
        return next(p["id"] for p in projects if p["title"] == title)

    def annotate(self, task: int, result: list[dict[str, Any]], *, skipped: bool = False) -> None:
        self.call("POST", f"/api/tasks/{task}/annotations/", {"result": result, "was_cancelled": skipped})


def _label_studio_command() -> list[str]:
    given = os.environ.get("FABRICATOR_LABEL_STUDIO")  # a label-studio executable elsewhere (dev only)
    beside = Path(sys.executable).parent / "label-studio"
    found = given or (str(beside) if beside.exists() else shutil.which("label-studio"))
    if not found:
        pytest.fail(
            "label-studio is not installed, so the review round trip cannot run: "
            "install the test extra (pip install -e '.[test]'), which includes it",
            pytrace=False,
        )
    return [found]


def _listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    command = _label_studio_command()
    home = tmp_path_factory.mktemp("label-studio")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(home),
        LATEST_VERSION_CHECK="false",  # no call to pypi.org
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
    )
    log = open(home / "server.log", "w")  # noqa: SIM115 - open for the session
    # --internal-host is the address it binds (--host only names it in URLs)
    user = ["--username", "reviewer@example.org", "--password", "review-pw-1", "--user-token", LEGACY]
    options = ["--internal-host", "127.0.0.1", "--port", str(port), "--data-dir", str(home / "data")]
    process = subprocess.Popen(
        [*command, "start", "--no-browser", *options, *user, "--enable-legacy-api-token"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"label-studio exited: {(home / 'server.log').read_text()[-3000:]}", pytrace=False
                )
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("label-studio did not answer /health within 7 minutes", pytrace=False)
            time.sleep(1)
        listening = _listeners(port)
        assert listening and all(a in ("0100007F", "0000000000000000FFFF00000100007F") for a in listening), (
            f"label-studio listens on {listening}, not only on 127.0.0.1"
        )
        server = Server(url, pat="")
        server.pat = server.call("POST", "/api/token/", {})["token"]  # a personal access token (JWT)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


@pytest.mark.slow
def test_label_studio_round_trip_takes_back_exactly_the_reviewers_changes(
    label_studio, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.pat)
    out = trec_run(tmp_path)
    original = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()}
    rows = read_records(out / "data.jsonl")
    values = confidences(ROWS)
    url = ["--url", label_studio.url]

    export = ["review", "export", str(out), "--to", "label-studio", *url, "--project", "trec round trip"]
    assert main([*export, "--limit", "20"]) == 0
    assert label_studio.pat not in said(capsys)
    project = label_studio.project_id("trec round trip")
    tasks = sorted(label_studio.tasks(project), key=lambda t: t["id"])
    sent = [t["data"]["fabricator_row"] for t in tasks]
    assert sent == review_order(values)[:20]  # the queue: least confident first
    predictions = label_studio.call("GET", f"/api/predictions/?task={tasks[0]['id']}")
    assert predictions[0]["score"] == pytest.approx(values[sent[0]])
    assert predictions[0]["result"][0]["value"]["choices"] == [rows[sent[0]]["label"]]

    # the reviewer: 5 labels changed, 2 confirmed, 1 task skipped, the rest not opened
    changed = {t["data"]["fabricator_row"]: t["id"] for t in tasks[1:6]}
    new_label = {row: TYPES[(TYPES.index(rows[row]["label"]) + 1) % len(TYPES)] for row in changed}
    for row, task in changed.items():
        label_studio.annotate(task, choice(new_label[row]))
    confirmed = {t["data"]["fabricator_row"] for t in tasks[8:10]}
    for task in tasks[8:10]:
        label_studio.annotate(task["id"], choice(rows[task["data"]["fabricator_row"]]["label"]))
    label_studio.annotate(tasks[12]["id"], choice(TYPES[0]), skipped=True)

    new = tmp_path / "reviewed"
    back = ["review", "import", str(out), "--from", "label-studio", *url, "--project", str(project)]
    assert main([*back, "-o", str(new)]) == 0
    printed = said(capsys)
    assert "changed the model's label in 5 of 7 reviewed row(s)" in printed

    reviewed = read_records(new / "data.jsonl")
    differ = {i for i, (a, b) in enumerate(zip(rows, reviewed, strict=True)) if a != b}
    assert differ == set(changed)
    assert all(reviewed[i]["label"] == new_label[i] for i in changed)
    provenance = {p["row"]: p for p in read_records(new / "provenance.jsonl")}
    human = {i for i, p in provenance.items() if p["labeled_by"] == "human"}
    assert human == set(changed) | confirmed
    assert {p["labeled_by"] for i, p in provenance.items() if i not in human} == {"model"}
    assert all(provenance[i]["model_label"] == rows[i]["label"] for i in changed)
    saved = load_from_disk(str(new / "dataset"))
    assert saved.features["label"].names == TYPES
    assert [saved.features["label"].int2str(v) for v in saved["label"]] == [r["label"] for r in reviewed]
    assert original == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()
    }

    # a second export fills the project with the rows not sent yet, nothing twice
    assert main(export) == 0
    assert sorted(t["data"]["fabricator_row"] for t in label_studio.tasks(project)) == list(range(ROWS))


@pytest.mark.slow
def test_label_studio_entity_review_changes_the_tags(label_studio, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.pat)
    out = ner_run(tmp_path)
    url = ["--url", label_studio.url]
    assert main(["review", "export", str(out), "--to", "label-studio", *url, "--project", "ner review"]) == 0
    project = label_studio.project_id("ner review")
    task = next(t for t in label_studio.tasks(project) if t["data"]["fabricator_row"] == 1)
    text = task["data"]["text"]
    prediction = label_studio.call("GET", f"/api/predictions/?task={task['id']}")[0]["result"]
    assert [(r["value"]["text"], r["value"]["labels"]) for r in prediction] == [("Phil Simmons", ["PER"])]
    start = text.index("West Indian")
    spans = [{"start": start, "end": start + len("West Indian"), "text": "West Indian", "labels": ["MISC"]}]
    spans.append({**prediction[0]["value"]})
    label_studio.annotate(
        task["id"], [{"from_name": "label", "to_name": "text", "type": "labels", "value": v} for v in spans]
    )
    back = ["review", "import", str(out), "--from", "label-studio", *url, "--project", str(project)]
    assert main(back) == 0
    assert "in 1 of 1 reviewed row(s)" in said(capsys)
    reviewed = read_records(tmp_path / "ner-out-reviewed" / "data.jsonl")
    assert reviewed[1]["ner_tags"][:5] == ["B-MISC", "I-MISC", "O", "B-PER", "I-PER"]
    assert reviewed[0] == read_records(out / "data.jsonl")[0]


@pytest.mark.slow
def test_label_studio_refuses_a_bad_token_without_showing_it(label_studio, tmp_path, capsys, monkeypatch):
    out = trec_run(tmp_path, rows=4)
    bad = label_studio.pat[:-6] + "AAAAAA"  # a JWT whose signature does not match
    for token in (bad, "legacy-looking-but-wrong-token"):
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", token)
        assert main(["review", "export", str(out), "--to", "label-studio", "--url", label_studio.url]) == 2
        printed = said(capsys)
        assert "refused" in printed and "LABEL_STUDIO_API_KEY" in printed
        assert token not in printed
