"""``engine: batch`` from a recipe and the command line: generate, annotation with label scores,
``fabricator status RUN_DIR``, and Ctrl-C asking before it cancels paid batches.

All against the loopback ``FakeBatchServer``; the terminal's answer is injected (no real terminal).
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import movie_recipe, write_fewshot, write_recipe
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.cli import main
from fabricator.execution.batch_interrupt import should_cancel
from fabricator.llms import OpenAICompatible
from fabricator.testing import FakeBatchServer

pytestmark = pytest.mark.timeout(120)


def responder(messages: list, body: dict) -> str:
    user = next(m["content"] for m in messages if m["role"] == "user")
    if "Classify" in user:
        return "negative" if "bad" in user.rsplit("text: ", 1)[-1] else "positive"
    return f"I {'loved' if 'positive' in user else 'hated'} this film (seed {body.get('seed')})."


def batch_recipe(folder: Path, server: FakeBatchServer, **generation: Any) -> str:
    write_fewshot(folder)
    model = {"backend": "openai", "name": "fake-model", "base_url": server.base_url}
    gen = {"engine": "batch", "max_prompt_calls": 4, "num_samples_to_generate": 4,
           "batch_poll_seconds": 0, **generation}  # fmt: skip
    return write_recipe(folder, movie_recipe(model=model, generation=gen))


def test_a_recipe_with_engine_batch_runs_through_the_cli(tmp_path: Path, capsys) -> None:
    with FakeBatchServer(responder=responder) as server:
        path = batch_recipe(tmp_path, server)
        assert main(["generate", path, "-o", str(tmp_path / "out"), "--quiet"]) == 0
        assert server.stats["received"] == 0 and server.batch_sizes == [4]
    rows = (tmp_path / "out" / "data.jsonl").read_text().splitlines()
    assert len(rows) == 4
    capsys.readouterr()
    assert main(["status", str(tmp_path / "out"), "--json", str(tmp_path / "status.json")]) == 0
    shown = capsys.readouterr().out
    assert "batch-0" in shown and "4 requests" in shown and "done" in shown
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["open"] == 0
    assert status["batches"][0] | {"file": None} == {
        "file": None, "batch": "batch-0", "requests": 4, "done": True,
        "state": "done (answers in the journal)",
    }  # fmt: skip


def test_status_of_a_run_left_running_says_the_rerun_polls_it(tmp_path: Path, capsys) -> None:
    journal = tmp_path / "out" / "journal"
    journal.mkdir(parents=True)
    lines = [{"event": "uploaded", "file": "file-0", "keys": ["a", "b", "c"]},
             {"event": "created", "file": "file-0", "batch": "batch-7"},
             {"event": "uploaded", "file": "file-1", "keys": ["d"]}]  # fmt: skip
    (journal / "batches.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["status", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "batch-7" in out and "submitted, not read back" in out and "uploaded, batch not created" in out
    assert "polls the 2 open batch(es) for their 4 requests" in out


def annotate(server: FakeBatchServer, tmp_path: Path) -> tuple[Dataset, list[dict]]:
    generator = DatasetGenerator(OpenAICompatible("fake-model", base_url=server.base_url))
    prompt = BasePrompt("Classify the review as one of: {}.", label_options=["positive", "negative"],
                        generate_data_for_column="label", fewshot_example_columns="text")  # fmt: skip
    dataset = generator.generate(
        prompt, unlabeled_dataset=Dataset.from_dict({"text": ["good", "bad", "fine"]}), max_prompt_calls=30,
        engine="batch", batch_poll_seconds=0, journal_dir=tmp_path / "journal", label_samples=3,
    )  # fmt: skip
    return dataset, generator.last_run.provenance


def test_label_scores_come_from_batch_logprobs_where_the_answers_carry_them(tmp_path: Path) -> None:
    probs = {" positive": 0.8, " negative": 0.2}
    with FakeBatchServer(responder=responder, token_probs=lambda m, b: probs) as server:
        dataset, provenance = annotate(server, tmp_path)
        assert server.stats["received"] == 0
    assert dataset["confidence"] == pytest.approx([0.8, 0.8, 0.8])  # scored: not the text's label
    assert all(p.get("label_scores") for p in provenance)


def test_sampled_votes_decide_where_batch_answers_carry_no_logprobs(tmp_path: Path) -> None:
    with FakeBatchServer(responder=responder, serve_logprobs=False) as server:
        dataset, _ = annotate(server, tmp_path)
        assert server.stats["received"] == 0 and len(server.batch_sizes) >= 2  # the votes: a next batch
    names = dataset.features["label"].names
    assert [names[i] for i in dataset["label"]] == ["positive", "negative", "positive"]
    assert dataset["confidence"] == pytest.approx([1.0, 1.0, 1.0])  # every sampled answer agrees


@pytest.mark.parametrize(("answer", "cancel"), [("y", True), ("", False), ("no", False)])
def test_ctrl_c_asks_at_a_terminal_and_defaults_to_no(answer: str, cancel: bool) -> None:
    asked: list[str] = []
    assert should_cancel(["b-1", "b-2"], False, lambda q: asked.append(q) or answer) is cancel
    assert asked == ["cancel 2 submitted batches? [y/N] "]
    assert should_cancel(["b-1"], True, lambda q: pytest.fail("asked")) is True  # the option: no question


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def ctrl_c_handler() -> Iterator[None]:
    """Python's own Ctrl-C handler for the test, even where the suite runs with SIGINT ignored (a
    shell's background job): the SIGINT the test sends must reach the run."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("answer", ["y", "n"])
def test_ctrl_c_during_a_batch_cancels_it_only_when_the_user_says_yes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, answer: str, ctrl_c_handler: None
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or answer)
    with FakeBatchServer(responder=responder) as server:
        server.hold.set()  # the batch stays in progress: Ctrl-C comes while it is polled

        def press_ctrl_c() -> None:
            deadline = time.monotonic() + 120  # a safety net for a hung run, not a measurement
            while server.retrieved < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        generator = DatasetGenerator(OpenAICompatible("fake-model", base_url=server.base_url))
        prompt = BasePrompt(
            "Write a short {} movie review.",
            label_options=["positive", "negative"],
            generate_data_for_column="text",
        )
        with caplog.at_level("WARNING", logger="fabricator"):
            generator.generate(
                prompt_template=prompt,
                max_prompt_calls=4, num_samples_to_generate=4, engine="batch", batch_poll_seconds=0.01,
                journal_dir=tmp_path / "journal",
            )  # fmt: skip
        status = server.batches["batch-0"]["status"]
    assert generator.last_run.interrupted
    assert asked == ["cancel 1 submitted batches? [y/N] "]
    if answer == "y":
        assert status == "cancelled" and "cancelled batch(es) batch-0" in caplog.text
    else:
        assert status == "in_progress" and "fabricator status RUN_DIR" in caplog.text
