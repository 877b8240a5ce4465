"""Nothing a server sends can crash a run or make it pay twice; budgets count across resumes.

Each case runs ``fabricator generate`` (in this process through ``main``, or as a real second
process where it is killed) against a ``FakeOpenAIServer`` on loopback that misbehaves in one way:
content sent as a list of parts, a lone surrogate in the text, NaN/Infinity/1000 log-probabilities,
no ``usage`` (or negative counts), malformed or huge bodies, redirects, credentials in
``base_url``. Runs synchronise on journal lines and server counters, never on wall time.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import movie_recipe, write_fewshot, write_recipe

from fabricator import errors
from fabricator.app.cli import main
from fabricator.execution.journal import Journal
from fabricator.llms.base import Request
from fabricator.llms.openai import OpenAICompatible
from fabricator.testing import FakeOpenAIServer
from fabricator.testing.fake_server import RawAnswer

pytestmark = pytest.mark.timeout(120)

ROWS = 12
SECRET = "s3cretPW"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def review(messages: list, body: dict) -> str:
    """A distinct review per request (the seed), so no row is dropped as a duplicate."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    mood = "loved" if "positive" in user else "hated"
    return f"I {mood} this film, take {body.get('seed')}."


def project(folder: Path, base_url: str, *, rows: int = ROWS, concurrency: int = 2, **generation: Any) -> str:
    """A label-conditioned recipe against ``base_url`` (``fewshot.jsonl`` beside it); its path."""
    write_fewshot(folder)
    recipe = movie_recipe(
        model={
            "backend": "openai",
            "name": "fake-model",
            "base_url": base_url,
            "max_concurrency": concurrency,
        },
        generation={"num_samples_to_generate": rows, "max_prompt_calls": rows, "seed": 5, **generation},
    )
    return write_recipe(folder, recipe)


def generate(recipe: str, out: Path, *flags: str) -> int:
    return main(["generate", recipe, "-o", str(out), "--quiet", *flags])


def summary_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "metadata.json").read_text(encoding="utf-8"))["summary"]


def rows_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "data.jsonl").read_text(encoding="utf-8").splitlines()]


# --- answers are checked as they enter ----------------------------------------------------------


def test_content_parts_are_joined_into_the_rows_text(tmp_path):
    with FakeOpenAIServer(responder=review, content_parts=True) as srv:
        assert generate(project(tmp_path, srv.base_url), tmp_path / "out") == 0
    texts = [row["text"] for row in rows_of(tmp_path / "out")]
    assert len(texts) == ROWS
    # the text parts, joined; the reasoning part is not the answer; no Python repr of a list
    assert all(t.startswith(("I loved this film, take", "I hated this film, take")) for t in texts), texts


def test_content_that_is_not_text_fails_its_row_once_without_a_traceback(tmp_path, capsys):
    answers = {"n": 0}

    def sometimes_a_number(messages: list, body: dict) -> str | RawAnswer:
        answers["n"] += 1
        if answers["n"] % 3:
            return review(messages, body)
        return RawAnswer({"choices": [{"message": {"role": "assistant", "content": {"text": 42}}}]})

    with FakeOpenAIServer(responder=sometimes_a_number) as srv:
        code = generate(project(tmp_path, srv.base_url, concurrency=1), tmp_path / "out")
        received = srv.stats["received"]
    assert code == 0 and "Traceback" not in capsys.readouterr().err
    failures = [json.loads(line) for line in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()]
    assert failures and all("message.content is a JSON object, not text" in f["error"] for f in failures)
    assert all("\n" not in f["error"] for f in failures)
    assert received == ROWS  # not retried: the same answer would be paid again and again


def test_a_lone_surrogate_is_replaced_counted_and_a_rerun_pays_nothing(tmp_path):
    def cut_emoji(messages: list, body: dict) -> str:
        return review(messages, body) + " \ud83d"  # half of an emoji: JSON "\\ud83d" on the wire

    out = tmp_path / "out"
    with FakeOpenAIServer(responder=cut_emoji) as srv:
        recipe = project(tmp_path, srv.base_url)
        assert generate(recipe, out) == 0
        first = srv.stats["completed"]
        assert generate(recipe, out) == 0  # the same journal: every answer is there
        assert srv.stats["completed"] == first == ROWS
    rows = rows_of(out)
    assert len(rows) == ROWS and all(row["text"].endswith(" \ufffd") for row in rows)
    journal = (out / "journal" / "journal-main.jsonl").read_bytes()
    assert journal.decode("utf-8").count("\ufffd") == ROWS
    rerun = summary_of(out)  # the second run's: all from the journal, nothing sent
    assert rerun["cached"] == ROWS and rerun["requests"] == 0


def test_the_first_run_counts_the_repaired_answers_and_says_so(tmp_path, caplog):
    with FakeOpenAIServer(responder=lambda m, b: review(m, b) + " \udc00") as srv:
        assert generate(project(tmp_path, srv.base_url), tmp_path / "out") == 0
    assert summary_of(tmp_path / "out").get("repaired_text") == ROWS
    said = [r.getMessage() for r in caplog.records if "invalid Unicode" in r.getMessage()]
    assert len(said) == 1 and "repaired_text" in said[0]  # once, naming the count in the summary


def test_the_journal_never_fails_on_an_answers_text(tmp_path):
    with Journal(tmp_path / "j") as journal:
        journal.append("k1", {"text": "half an emoji \ud83d", "usage": [1, 2]})
        assert journal.repaired == 1 and journal.get("k1")["text"] == "half an emoji \ufffd"
    with Journal(tmp_path / "j") as again:  # the line is valid UTF-8 and JSON: read back whole
        assert again.get("k1")["text"] == "half an emoji \ufffd" and not again.warnings


# --- log-probabilities ------------------------------------------------------------------------


def annotation_project(folder: Path, base_url: str) -> str:
    (folder / "reviews.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in ["an awful film", "a great film"] * 3)
    )
    recipe = {
        "prompt": {
            "task_description": "Label the sentiment of the review: {}.",
            "label_options": ["positive", "negative"],
            "generate_data_for_column": "label",
            "fewshot_example_columns": "text",
        },
        "unlabeled": {"path": "reviews.jsonl"},
        "model": {"backend": "openai", "name": "fake-model", "base_url": base_url, "max_concurrency": 2},
        "generation": {"max_prompt_calls": 60, "temperature": 0.0, "max_tokens": 8},
    }
    return write_recipe(folder, recipe)


def says(messages: list, body: dict) -> str:
    """The label the answer text gives: negative for the awful review, positive for the other."""
    return "negative" if "awful" in json.dumps(messages) else "positive"


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1000.0], ids=["NaN", "Infinity", "1000"])
def test_invalid_logprobs_are_treated_as_absent_and_counted(tmp_path, bad):
    out = tmp_path / "out"
    bad_set = {" positive": bad, " negative": bad}
    with FakeOpenAIServer(responder=says, raw_logprobs=lambda m, b: bad_set) as srv:
        assert generate(annotation_project(tmp_path, srv.base_url), out) == 0
    # labels come from what the answers say, never from the invalid numbers
    assert [r["label"] for r in rows_of(out)] == ["negative", "positive"] * 3
    summary = summary_of(out)
    assert summary.get("invalid_logprobs", 0) >= 6 and summary["rows"] == 6
    journal = (out / "journal" / "journal-main.jsonl").read_text(encoding="utf-8")
    assert "NaN" not in journal and "Infinity" not in journal and "1000" not in journal


# --- budgets ----------------------------------------------------------------------------------


def per_call_tokens(tmp_path: Path, srv: FakeOpenAIServer) -> float:
    """Tokens one call of the budget recipe costs, measured by a two-row run."""
    folder = tmp_path / "probe"
    folder.mkdir()
    assert generate(project(folder, srv.base_url, rows=2, concurrency=1), folder / "out") == 0
    s = summary_of(folder / "out")
    return (s["prompt_tokens"] + s["completion_tokens"]) / s["requests"]


@pytest.mark.parametrize(
    "usage",
    [lambda p, c: None, lambda p, c: {"prompt_tokens": -500, "completion_tokens": -500}],
    ids=["no-usage", "negative-usage"],
)
def test_answers_without_usable_usage_are_counted_by_estimate_and_stop_at_the_budget(tmp_path, usage):
    out = tmp_path / "out"
    with FakeOpenAIServer(responder=review, usage=usage) as srv:
        recipe = project(tmp_path, srv.base_url, rows=40, concurrency=1, budget_tokens=400)
        assert generate(recipe, out, "--spend-budget") == 0
        paid = srv.stats["completed"]
    summary = summary_of(out)
    assert summary["stopped"] == "budget" and 0 < paid < 40
    assert summary["estimated_usage"] == paid and summary["prompt_tokens"] > 0
    assert summary["prompt_tokens"] + summary["completion_tokens"] >= 400


def run_cli(recipe: str, out: Path, *flags: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    cmd = [sys.executable, "-m", "fabricator.app.cli", "generate", recipe, "-o", str(out), "--quiet", *flags]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, what: str, safety_s: float = 90.0) -> None:
    """Poll ``condition``; the deadline only stops a hung test, it measures nothing."""
    deadline = time.monotonic() + safety_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.005)


def journal_lines(out: Path) -> int:
    try:
        return (out / "journal" / "journal-main.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_budget_counts_the_journaled_answers_of_a_killed_run(tmp_path):
    """Uninterrupted: N calls, then the budget stops it. Killed (kill -9) after 3 answers and resumed:
    N answers paid in all, not 3 + N."""
    hold = {"armed": False}

    def faults(n: int) -> str | None:  # while armed, hold requests past the third on the wire
        return "hang" if hold["armed"] and n >= 3 else None

    with FakeOpenAIServer(responder=review, faults=faults, hang_seconds=3600.0) as srv:
        budget = math.ceil(5.5 * per_call_tokens(tmp_path, srv))  # about six calls' worth
        recipe = project(tmp_path, srv.base_url, rows=20, concurrency=1, budget_tokens=budget)
        srv.reset_stats()
        assert generate(recipe, tmp_path / "whole", "--spend-budget") == 0
        uninterrupted = srv.stats["completed"]
        assert summary_of(tmp_path / "whole")["stopped"] == "budget" and 5 <= uninterrupted < 20

        srv.reset_stats()
        hold["armed"] = True
        out = tmp_path / "killed"
        proc = run_cli(recipe, out, "--spend-budget")
        try:
            wait_until(lambda: journal_lines(out) >= 3 and srv.stats["in_flight"] == 1, "3 answers journaled")
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
        hold["armed"] = False
        wait_until(lambda: srv.stats["in_flight"] == 0, "the server to drop the dead client's request")
        assert srv.stats["completed"] == 3

        resumed = run_cli(recipe, out, "--spend-budget")
        stdout, stderr = resumed.communicate(timeout=90)
        assert resumed.returncode == 0, stderr + stdout
        assert srv.stats["completed"] == uninterrupted  # paid in all, across the kill
    summary = summary_of(out)
    assert summary["stopped"] == "budget" and summary["cached"] == 3
    assert summary["resumed_prompt_tokens"] + summary["resumed_completion_tokens"] > 0
    assert [r["text"] for r in rows_of(out)] == [r["text"] for r in rows_of(tmp_path / "whole")]


# --- the client: malformed answers, huge bodies, redirects, credentials -----------------------


def complete(llm: OpenAICompatible, request: Request | None = None):
    async def go():
        try:
            return await llm.complete(request or Request(messages=({"role": "user", "content": "hi"},)))
        finally:
            await llm.aclose()

    return asyncio.run(go())


def failure(llm: OpenAICompatible) -> errors.BackendError:
    with pytest.raises(errors.BackendError) as info:
        complete(llm)
    return info.value


HTML = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>\n<h1>nginx</h1></body></html>"
)


@pytest.mark.parametrize(
    "answer, cls, says",
    [
        (RawAnswer("this is not json"), errors.ServerError, "not JSON"),
        (RawAnswer("[1, 2, 3]"), errors.ServerError, "a JSON array without choices"),
        (RawAnswer({"id": "x", "object": "chat.completion"}), errors.ServerError, "without choices"),
        (RawAnswer({"choices": []}), errors.ServerError, "without choices"),
        (RawAnswer("null"), errors.ServerError, "a JSON null"),
        (RawAnswer(HTML), errors.ServerError, "502 Bad Gateway"),
        (RawAnswer(HTML, status=502), errors.ServerError, "an HTML page: 502 Bad Gateway"),
        (
            RawAnswer("", status=302, headers={"Location": f"http://bob:{SECRET}@elsewhere/v1"}),
            errors.BadRequestError,
            "redirects to http://elsewhere/v1",
        ),
    ],
    ids=["not-json", "json-list", "no-choices", "empty-choices", "null", "html-200", "html-502", "redirect"],
)
def test_every_malformed_answer_is_one_line_in_the_error_tree(answer, cls, says):
    with FakeOpenAIServer(responder=lambda m, b: answer) as srv:
        url = srv.base_url.replace("http://", f"http://alice:{SECRET}@")
        err = failure(OpenAICompatible("m", base_url=url))
    assert isinstance(err, cls) and says in err.message, err.message
    assert "\n" not in err.message and SECRET not in str(err) and "alice" not in str(err)


def test_a_huge_answer_is_refused_not_read_whole():
    huge = RawAnswer({"choices": [{"message": {"content": "word " * 50_000}}]})
    with FakeOpenAIServer(responder=lambda m, b: huge) as srv:
        err = failure(OpenAICompatible("m", base_url=srv.base_url, max_response_bytes=10_000))
    assert isinstance(err, errors.ServerError) and not err.retryable
    assert "10,000-byte limit" in err.message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_credentials_in_base_url_never_reach_a_message(tmp_path, capsys):
    url = f"http://alice:{SECRET}@127.0.0.1:{closed_port()}/v1"
    assert generate(project(tmp_path, url), tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:" in err
    assert SECRET not in err and "alice" not in err
    llm = OpenAICompatible("m", base_url=url)
    assert SECRET not in repr(llm) and SECRET not in failure(llm).message


def test_credentials_go_to_the_server_but_not_into_what_the_run_writes(tmp_path):
    with FakeOpenAIServer(responder=review) as srv:
        url = srv.base_url.replace("http://", f"http://alice:{SECRET}@")
        assert generate(project(tmp_path, url, rows=2), tmp_path / "out") == 0
        sent = srv.requests[0].headers.get("Authorization", "")
    assert sent.startswith("Basic ")  # aiohttp sends the URL's credentials as basic auth
    for name in ("log.jsonl", "metadata.json", "data.jsonl"):
        assert SECRET not in (tmp_path / "out" / name).read_text(encoding="utf-8")
