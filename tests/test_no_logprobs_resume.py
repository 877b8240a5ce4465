"""Never pay twice on a backend without log-probabilities; bad log-probabilities never become labels.

Each path (label scoring, sampled votes, rephrasings, verification, attribute proposals, grouped
rows, re-asks) runs through the command line against the loopback server configured to send no
``logprobs``: a rerun with the same journal pays nothing, and a second process killed with SIGKILL
mid-run then resumed pays at most the requests that were in flight. A server (or an older journal,
or another backend) sending NaN, Infinity or 1000 gets its rows labelled from the model's answers,
the invalid sets counted, and no crash, now or in a rerun against a healthy server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import Request
from fabricator.llms.base import Completion, TokenChoice, Usage
from fabricator.llms.fake import Fake
from fabricator.testing import FakeOpenAIServer

pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

FEWSHOT = [{"text": "Loved it.", "label": "positive"}, {"text": "Hated it.", "label": "negative"}]


def _user(messages: list) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")


def responder(messages: list, body: dict) -> str:
    """Answers from the request alone, like a model at a fixed seed."""
    user = _user(messages)
    digest = hashlib.sha256(json.dumps([messages, body.get("seed")], sort_keys=True).encode()).hexdigest()
    if user.startswith("List "):  # an attribute proposal
        return "the acting\nthe plot\nthe music"
    count = re.search(r"Do these (\d+) tasks", user)
    if count:  # a grouped call
        mood = "loved" if "positive" in user else "hated"
        return "\n".join(f"{n}. I {mood} it, part {n} ({digest[:8]})." for n in range(1, int(count[1]) + 1))
    if "label:" in user.rsplit("\n", 1)[-1] or "Which label" in user or "Classify" in user:
        text = user.rsplit("text: ", 1)[-1].lower()
        if "garbage first" in text and "not a label" not in user:
            return "banana"  # a wrong answer: re-asked with the error
        return "negative" if ("bad" in text or "hated" in text) else "positive"
    mood = "loved" if "positive" in user else "hated"
    return f"I {mood} this film ({digest[:12]})."


def annotation(rows: int, **generation: Any) -> dict[str, Any]:
    return {
        "prompt": {
            "task_description": "Classify the review as one of: {}.",
            "label_options": ["positive", "negative"],
            "generate_data_for_column": "label",
            "fewshot_example_columns": "text",
        },
        "fewshot": {
            "path": "fewshot.jsonl",
            "sampling_strategy": "uniform",
            "examples_per_class": 1,
            "sampling_column": "label",
        },
        "unlabeled": {"path": "unlabeled.jsonl"},
        "generation": {"max_prompt_calls": rows * 20, **generation},
    }


def generation(rows: int, prompt: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    return {
        "prompt": {
            "task_description": "Write a short {} movie review.",
            "label_options": ["positive", "negative"],
            "generate_data_for_column": "text",
            **(prompt or {}),
        },
        "fewshot": {
            "path": "fewshot.jsonl",
            "sampling_strategy": "uniform",
            "examples_per_class": 1,
            "sampling_column": "label",
        },
        "generation": {"num_samples_to_generate": rows, "max_prompt_calls": rows * 20, **options},
    }


ROWS = 6
PATHS = {
    "scored-labels": annotation(ROWS),
    "scored-labels-capped": annotation(ROWS, max_prompt_calls=ROWS),  # the issue: cap = rows
    "sampled-votes": annotation(ROWS, label_scoring="samples", label_samples=3),
    "fewshot-votes": annotation(ROWS, votes=2),
    "rephrasings": annotation(ROWS, task_rephrasings=["Is this review {}?"]),
    "re-asks": annotation(ROWS, label_scoring="off"),
    "verification": generation(ROWS, verify=True),
    "verification-capped": generation(ROWS, verify=True, max_prompt_calls=2 * ROWS),
    "proposals": generation(
        ROWS,
        prompt={"task_description": "Write a short {} movie review about {aspect}."},
        attributes={"aspect": {"propose": 3}},
    ),
    "grouped": generation(ROWS, rows_per_call=2),
}


def setup(
    folder: Path, recipe: dict[str, Any], base_url: str, concurrency: int = 4, *, garbage: bool = True
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fewshot.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FEWSHOT))
    texts = [f"{'bad' if i % 2 else 'good'} film {i}" for i in range(ROWS)]
    if garbage:
        texts[0] = "good film, garbage first"  # the re-ask path: its first answer is wrong
    (folder / "unlabeled.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    model = {"backend": "openai", "name": "fake-model", "base_url": base_url, "max_concurrency": concurrency}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({**recipe, "model": model}))
    return path


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["OPENAI_API_KEY"] = "sk-test"
    e["PYTHONUNBUFFERED"] = "1"
    return e


def cli(recipe: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fabricator.app.cli", "generate", str(recipe), "-o", str(out), "--quiet"]


def run(recipe: Path, out: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cli(recipe, out), env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    return done


def data(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]


def summary(out: Path) -> dict:
    return json.loads((out / "metadata.json").read_text())["summary"]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(responder=responder, serve_logprobs=False) as srv:
        yield srv


@pytest.mark.parametrize("recipe_dict", list(PATHS.values()), ids=list(PATHS))
def test_a_rerun_without_logprobs_pays_nothing(tmp_path: Path, server: FakeOpenAIServer, recipe_dict: Any):
    recipe = setup(tmp_path, recipe_dict, server.base_url)
    out = tmp_path / "out"
    before = server.stats["received"]
    run(recipe, out)
    paid = server.stats["received"] - before
    assert paid > 0 and data(out)
    first = data(out)
    before = server.stats["received"]
    run(recipe, out)
    assert server.stats["received"] - before == 0, "the rerun paid again"
    assert data(out) == first
    assert summary(out)["requests"] == 0


def test_a_rerun_under_a_cap_shorter_than_the_samples_pays_at_most_the_spare_calls(
    tmp_path: Path, server: FakeOpenAIServer
):
    # the cap covers every first ask and 3 of the samples: which rows get those 3 depends on the
    # order rows finish in, so a rerun may spend them on other rows; it never pays for an answer it
    # has, so it pays at most those 3 spare calls (a row that failed in the first run, here the one
    # whose first answer is garbage, may get a sample it did not get then)
    spare = 3
    recipe = setup(tmp_path, annotation(ROWS, max_prompt_calls=ROWS + spare), server.base_url)
    out = tmp_path / "out"
    before = server.stats["received"]
    run(recipe, out)
    assert server.stats["received"] - before == ROWS + spare
    first = data(out)
    before = server.stats["received"]
    run(recipe, out)
    assert server.stats["received"] - before <= spare
    assert len(data(out)) == len(first)


# --- kill -9 mid-run, then resume ---------------------------------------------------------------

KILL_ROWS = 24
CONCURRENCY = 2
STOP_AT = 10  # journal lines before the kill


class Gate:
    """While armed, requests number >= STOP_AT hang: the kill lands with requests in flight."""

    armed = True

    def __call__(self, n: int) -> str | None:
        return "hang" if self.armed and n >= STOP_AT else None


def kill_midway(recipe: Path, out: Path, server: FakeOpenAIServer, gate: Gate) -> int:
    """Start the CLI, SIGKILL it once the journal holds STOP_AT lines with requests in flight;
    the requests then in flight (sent, never journaled)."""
    proc = subprocess.Popen(cli(recipe, out), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = out / "journal" / "journal-main.jsonl"
    deadline = time.monotonic() + 90  # a safety net for a hung run, not a measurement
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be stopped: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("the run never reached the kill point")
            lines = journal.read_bytes().count(b"\n") if journal.exists() else 0
            if lines >= STOP_AT and server.stats["in_flight"] == CONCURRENCY:
                in_flight = server.stats["in_flight"]
                os.kill(proc.pid, signal.SIGKILL)
                gate.armed = False
                proc.communicate(timeout=60)
                return in_flight
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
@pytest.mark.parametrize("cap", [KILL_ROWS, KILL_ROWS * 20], ids=["cap-equals-rows", "generous-cap"])
def test_kill_9_then_resume_without_logprobs_pays_only_what_was_in_flight(tmp_path: Path, cap: int):
    recipe_dict = annotation(KILL_ROWS, max_prompt_calls=cap)
    global ROWS
    saved, ROWS = ROWS, KILL_ROWS
    try:
        with FakeOpenAIServer(responder=responder, serve_logprobs=False) as plain:
            whole = setup(tmp_path / "whole", recipe_dict, plain.base_url, CONCURRENCY)
            run(whole, tmp_path / "whole" / "out")
            uninterrupted = plain.stats["received"]
            expected = data(tmp_path / "whole" / "out")
        gate = Gate()
        with FakeOpenAIServer(responder=responder, serve_logprobs=False, faults=gate, latency=0.01) as srv:
            recipe = setup(tmp_path / "killed", recipe_dict, srv.base_url, CONCURRENCY)
            out = tmp_path / "killed" / "out"
            in_flight = kill_midway(recipe, out, srv, gate)
            run(recipe, out)
            total = srv.stats["received"]
    finally:
        ROWS = saved
    assert uninterrupted < total <= uninterrupted + in_flight
    assert data(out) == expected


# --- invalid log-probabilities ------------------------------------------------------------------

BAD_SETS = {
    "nan": {" positive": math.nan, " negative": math.nan},
    "infinity": {" positive": math.inf, " negative": -math.inf},
    "huge": {" positive": 1000.0, " negative": -0.5},
}


@pytest.mark.parametrize("bad", list(BAD_SETS))
def test_invalid_logprobs_are_counted_and_labels_come_from_the_answers(tmp_path: Path, bad: str):
    recipe_dict = annotation(ROWS)
    with FakeOpenAIServer(responder=responder, raw_logprobs=lambda m, b: BAD_SETS[bad]) as broken:
        recipe = setup(tmp_path, recipe_dict, broken.base_url, garbage=False)
        out = tmp_path / "out"
        run(recipe, out)
    labels = [r["label"] for r in data(out)]
    assert labels == ["positive", "negative"] * (ROWS // 2)  # what the model answered, not label 0
    assert summary(out)["invalid_logprobs"] == ROWS
    with FakeOpenAIServer(responder=responder) as healthy:  # the same journal, a healthy server
        setup(tmp_path, recipe_dict, healthy.base_url, garbage=False)
        run(recipe, out)
        assert healthy.stats["received"] == 0
    assert [r["label"] for r in data(out)] == labels


class BadLogprobs:
    """A backend (not HTTP: nothing checks its answers on the way in) with invalid log-probabilities."""

    name = "bad-logprobs"
    max_concurrency = 2
    supports_prefill = True

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    async def complete(self, request: Request) -> Completion:
        self.calls += 1
        text = _user(list(request.messages)).rsplit("text: ", 1)[-1]
        answer = "negative" if "bad" in text else "positive"
        top = ((" positive", self.value), (" negative", self.value))
        logprobs = (TokenChoice(" positive", self.value, top),) if request.logprobs else None
        return Completion(answer, usage=Usage(3, 1), logprobs=logprobs)

    async def aclose(self) -> None:
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, 1000.0, 0.0], ids=["nan", "inf", "1000", "not-a-distribution"]
)
def test_a_journal_holding_invalid_logprobs_never_crashes_a_rerun(tmp_path: Path, value: float):
    prompt = BasePrompt(
        "Classify the review as one of: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    rows = Dataset.from_dict({"text": ["good one", "bad one", "good two", "bad two"]})
    bad = BadLogprobs(value)
    g = DatasetGenerator(bad)
    ds = g.generate(
        prompt, unlabeled_dataset=rows, max_prompt_calls=40, journal_dir=tmp_path, label_samples=3
    )
    names = ds.features["label"].names
    assert [names[i] for i in ds["label"]] == ["positive", "negative", "positive", "negative"]
    assert g.last_run.summary()["invalid_logprobs"] == 4
    assert all(p["scoring"] == "samples" for p in g.last_run.provenance)
    healthy = Fake("positive", name=bad.name, token_probs=lambda r: {" positive": 0.9, " negative": 0.1})
    g2 = DatasetGenerator(healthy)
    again = g2.generate(
        prompt, unlabeled_dataset=rows, max_prompt_calls=40, journal_dir=tmp_path, label_samples=3
    )
    assert healthy.calls == 0 and again["label"] == ds["label"]
