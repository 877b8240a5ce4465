"""The kill test ("Never lose work"): ``kill -9`` a CLI run mid-way, run it again, lose and repay nothing.

A recipe generates 60 label-conditioned rows through the openai backend against a fake server in
this process (a thread), which answers deterministically from the request (messages and seed) and
records every chat request. ``python -m fabricator.app.cli generate`` runs as a subprocess; once its
journal holds some but not all lines (and its next requests are on the wire: see ``Gate``) it gets
SIGKILL, and the same command is run again to the end. The server must have seen each work item
once, plus exactly the requests that were in flight at the kill (sent, but never journaled), and
the final dataset must equal an uninterrupted run's. A second test interrupts a run with SIGINT
(Ctrl-C) and checks that it ends without waiting for the requests in flight and cleanly (exit 130)
with the rows done so far written out, the journal intact, and a rerun paying only for the rest.
Both synchronise on events (journal lines, requests in flight), never on how long things take:
timeouts here are safety nets for a hung run, not measurements.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fabricator.testing import FakeOpenAIServer

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

ROWS = 60
CONCURRENCY = 2
LATENCY = 0.05
STOP_AT = 12  # journal lines before the run is stopped
HOLD = 3600.0  # the server holds requests past STOP_AT "forever": only a client that gives up gets past


def responder(messages: list, body: dict) -> str:
    """The same text for the same request, a different text for every other request."""
    digest = hashlib.sha256(json.dumps([messages, body.get("seed")], sort_keys=True).encode()).hexdigest()
    user = next(m["content"] for m in messages if m["role"] == "user")
    mood = "loved" if "positive" in user else "hated"
    return f"I {mood} this film ({digest[:12]})."


def request_id(body: dict) -> str:
    """What identifies one request on the wire: its answer text (unique by construction)."""
    return responder(body["messages"], body)


RECIPE = """\
prompt:
  task_description: "Write a short {{}} movie review."
  label_options: [positive, negative]
  generate_data_for_column: text
model:
  backend: openai
  name: fake-model
  base_url: {base_url}
  max_concurrency: {concurrency}
generation:
  num_samples_to_generate: {rows}
  max_prompt_calls: {rows}
  seed: 11
  temperature: 0.7
  max_tokens: 64
output: out
"""


class Gate:
    """While armed, the server holds chat requests number >= STOP_AT for HOLD seconds ("hang").

    This fixes the moment of the stop: once the journal has STOP_AT lines, both workers' next
    requests are in flight and stay there, so the signal always lands mid-run with requests sent
    but not answered, however slow this machine is. Held requests are never answered (the server
    drops them when the client goes away); requests sent once disarmed are answered at once.
    """

    armed = True

    def __call__(self, n: int) -> str | None:
        return "hang" if self.armed and n >= STOP_AT else None


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def server(gate: Gate):
    with FakeOpenAIServer(latency=LATENCY, responder=responder, faults=gate, hang_seconds=HOLD) as srv:
        yield srv


@pytest.fixture
def recipe(tmp_path: Path, server: FakeOpenAIServer) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        RECIPE.format(base_url=server.base_url, concurrency=CONCURRENCY, rows=ROWS), encoding="utf-8"
    )
    return path


def cli(recipe: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fabricator.app.cli", "generate", str(recipe), "-o", str(out), "--quiet"]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("OPENAI_API_KEY", None)
    e["PYTHONUNBUFFERED"] = "1"
    return e


def run_to_end(recipe: Path, out: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cli(recipe, out), env=env(), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def journal_records(out: Path) -> list[dict]:
    """The complete lines of the journal (a torn last line is not a record)."""
    records = []
    for path in sorted((out / "journal").glob("journal-*.jsonl")):
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                records.append(json.loads(line))
    return records


def default_sigint() -> None:
    """The child starts with Ctrl-C's default action even when this suite runs with SIGINT ignored
    (a background job of a non-interactive shell: ``cmd &``), which the child would inherit and
    which would make Python never raise KeyboardInterrupt in it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_stop_midway(
    recipe: Path, out: Path, sig: int, server: FakeOpenAIServer, gate: Gate
) -> subprocess.Popen:
    """Start the CLI; send ``sig`` once the journal holds STOP_AT lines and requests are in flight."""
    proc = subprocess.Popen(
        cli(recipe, out),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    journal = out / "journal" / "journal-main.jsonl"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be stopped: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("the run wrote no journal in 60 s")
            try:
                lines = journal.read_bytes().count(b"\n")
            except FileNotFoundError:
                lines = 0
            if lines >= STOP_AT and server.stats["in_flight"] == CONCURRENCY:
                os.kill(proc.pid, sig)
                gate.armed = False
                return proc
            time.sleep(0.002)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        raise


def wait_until(condition, what: str, safety_s: float = 60.0) -> None:
    """Poll ``condition`` until true; the deadline only stops a hung test, it measures nothing."""
    deadline = time.monotonic() + safety_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.002)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_kill_9_then_rerun_pays_nothing_twice_and_matches_an_uninterrupted_run(
    tmp_path: Path, recipe: Path, server: FakeOpenAIServer, gate: Gate
):
    out = tmp_path / "killed"
    proc = start_and_stop_midway(recipe, out, signal.SIGKILL, server, gate)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # the server notices the dead client and drops its held requests
    wait_until(lambda: server.stats["in_flight"] == 0, "the server to drop the dead client's requests")

    first = [r.body for r in server.requests]
    assert server.stats["received"] == len(first)  # every chat request that reached the server
    journaled = {r["text"] for r in journal_records(out)}
    assert 0 < len(journaled) < ROWS, "the kill must come mid-run"
    sent = [request_id(b) for b in first]
    assert len(set(sent)) == len(sent), "no request was repeated within the first run"
    assert journaled <= set(sent)
    in_flight = [i for i in sent if i not in journaled]  # sent (and paid for) but never journaled
    assert len(in_flight) == CONCURRENCY  # both workers' requests were on the wire

    server.reset_stats()
    resumed = run_to_end(recipe, out)
    second = [request_id(r.body) for r in server.requests]
    # nothing paid twice: the rerun asks only for what the journal lacks, each once ...
    assert not set(second) & journaled
    assert len(set(second)) == len(second) == ROWS - len(journaled)
    # ... which includes every request that was in flight at the kill
    assert set(in_flight) <= set(second)
    # the totals reconcile: requests over both runs = work items + the in-flight ones repaid
    assert len(first) + len(second) == ROWS + len(in_flight)
    summary = json.loads((out / "metadata.json").read_text())["summary"]
    assert summary["cached"] == len(journaled) and summary["requests"] == len(second)
    assert summary["rows"] == ROWS and summary["failures"] == 0 and summary["retries"] == 0
    assert "from journal" in resumed.stdout

    server.reset_stats()
    clean = tmp_path / "clean"
    run_to_end(recipe, clean)
    assert len(server.requests) == ROWS
    killed_rows, clean_rows = read_jsonl(out / "data.jsonl"), read_jsonl(clean / "data.jsonl")
    assert len(killed_rows) == ROWS
    assert killed_rows == clean_rows
    assert {r["label"] for r in clean_rows} == {"positive", "negative"}
    assert len({r["text"] for r in clean_rows}) == ROWS


def test_ctrl_c_stops_cleanly_keeping_the_rows_done(
    tmp_path: Path, recipe: Path, server: FakeOpenAIServer, gate: Gate
):
    out = tmp_path / "interrupted"
    proc = start_and_stop_midway(recipe, out, signal.SIGINT, server, gate)
    # the safety net is far shorter than HOLD: a run that waited for its requests in flight to be
    # answered would never get here
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr + stdout
    assert "Traceback" not in stderr, stderr

    records = journal_records(out)
    journal = out / "journal" / "journal-main.jsonl"
    assert journal.read_bytes().endswith(b"\n"), "the journal ends with a complete line"
    assert 0 < len(records) < ROWS
    # it stopped without the held requests: every answer the server gave is journaled, no other
    assert server.stats["completed"] == len(records) >= STOP_AT
    rows = read_jsonl(out / "data.jsonl")
    # every journaled answer became a row, in plan order, and nothing else did
    assert {r["text"] for r in rows} == {r["text"] for r in records}
    assert len(rows) == len(records)
    summary = json.loads((out / "metadata.json").read_text())["summary"]
    assert summary["interrupted"] is True and summary["rows"] == len(rows)
    assert "interrupted" in stdout

    # and the journal resumes: the rerun completes, paying only for what was not done
    asked_before = len(server.requests)
    run_to_end(recipe, out)
    assert len(server.requests) - asked_before == ROWS - len(records)
    assert len(read_jsonl(out / "data.jsonl")) == ROWS
