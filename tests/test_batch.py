"""``engine="batch"``: a run through the provider's batch API (files + batches) against a fake one.

The same fake answers (a function of the request) online and in batches give the same dataset; a
batch over the cap is split; an expired batch asks again only what it did not run; refused requests
are failures with the provider's words; the cost is the batch price; a run killed (SIGKILL, a real
second process) while its batch runs is resumed by polling that batch, paying for nothing twice.
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

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.llms import OpenAICompatible
from fabricator.testing import FakeBatchServer


def responder(messages: list, body: dict) -> str:
    """The same text for the same request (messages and seed), another for every other request."""
    digest = hashlib.sha256(json.dumps([messages, body.get("seed")], sort_keys=True).encode()).hexdigest()
    user = next(m["content"] for m in messages if m["role"] == "user")
    mood = "loved" if "positive" in user else "hated"
    return f"I {mood} this film ({digest[:8]})."


PROMPT = dict(
    task_description="Write a short {} movie review.",
    label_options=["positive", "negative"],
    generate_data_for_column="text",
)


def run(server: FakeBatchServer, tmp_path: Path, rows: int = 8, **options) -> tuple:
    generator = DatasetGenerator(OpenAICompatible("fake-model", base_url=server.base_url))
    options.setdefault("journal_dir", tmp_path / "journal")
    dataset = generator.generate(
        prompt_template=BasePrompt(**PROMPT),
        max_prompt_calls=rows,
        num_samples_to_generate=rows,
        seed=3,
        batch_poll_seconds=0,
        **options,
    )
    return dataset, generator.last_run


def test_a_batch_run_gives_the_online_dataset(tmp_path: Path) -> None:
    with FakeBatchServer(responder=responder) as server:
        online, _ = run(server, tmp_path, journal_dir=tmp_path / "online")
        asked_online = server.stats["received"]
        batch, report = run(server, tmp_path, engine="batch")
        assert server.stats["received"] == asked_online  # no chat request: all went in batches
    assert batch.to_dict() == online.to_dict()
    assert server.batch_sizes == [8]
    assert set(server.billed.values()) == {1}
    assert report.stats.requests == 8


def test_a_batch_over_the_cap_is_split(tmp_path: Path) -> None:
    with FakeBatchServer(responder=responder, max_batch_requests=3) as server:
        dataset, _ = run(server, tmp_path, engine="batch", batch_max_requests=3)
    assert len(dataset) == 8
    assert server.batch_sizes == [3, 3, 2]


def test_an_expired_batch_asks_again_only_what_it_did_not_run(tmp_path: Path) -> None:
    with FakeBatchServer(responder=responder, outcomes={0: "expired"}, expire_after=5) as server:
        dataset, _ = run(server, tmp_path, engine="batch")
    assert len(dataset) == 8
    assert server.batch_sizes == [8, 3]
    assert set(server.billed.values()) == {1}


def test_refused_requests_are_failures_with_the_providers_message(tmp_path: Path) -> None:
    refused = set()

    def request_error(custom_id: str, body: dict) -> str | None:
        if len(refused) < 2 or custom_id in refused:
            refused.add(custom_id)
            return "You exceeded your current quota, please check your billing details."
        return None

    with FakeBatchServer(responder=responder, request_error=request_error) as server:
        dataset, report = run(server, tmp_path, engine="batch")
    assert len(dataset) == 6
    assert len(report.failures) == 2
    assert all("exceeded your current quota" in f.error for f in report.failures)


def test_a_failed_batch_fails_its_rows_with_the_reason(tmp_path: Path) -> None:
    with FakeBatchServer(responder=responder, outcomes={0: "failed"}) as server:
        dataset, report = run(server, tmp_path, rows=4, engine="batch")
    assert len(dataset) == 0
    assert {f.error for f in report.failures} == {
        "batch batch-0 failed: insufficient credit to run this batch"
    }


def test_the_cost_is_the_batch_price(tmp_path: Path) -> None:
    with FakeBatchServer(responder=responder) as server:
        _, online = run(server, tmp_path, journal_dir=None, prices=[2.0, 4.0], batch_prices=[1.0, 2.0])
        _, batch = run(server, tmp_path, journal_dir=None, prices=[2.0, 4.0], batch_prices=[1.0, 2.0],
                       engine="batch")  # fmt: skip
    assert online.stats.cost_usd > 0
    assert batch.stats.cost_usd == pytest.approx(online.stats.cost_usd / 2)


def test_a_backend_without_a_batch_api_is_refused_with_the_fix(tmp_path: Path) -> None:
    generator = DatasetGenerator(None)
    with pytest.raises(ConfigError, match="no batch API") as caught:
        generator.generate(
            prompt_template=BasePrompt(**PROMPT), max_prompt_calls=2, num_samples_to_generate=2,
            dummy_response="I loved it.", engine="batch",
        )  # fmt: skip
    assert "engine='local'" in (caught.value.hint or "")


CHILD = """
import sys
from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import OpenAICompatible
generator = DatasetGenerator(OpenAICompatible("fake-model", base_url=sys.argv[1]))
generator.generate(
    prompt_template=BasePrompt(task_description="Write a short {} movie review.",
        label_options=["positive", "negative"], generate_data_for_column="text"),
    max_prompt_calls=8, num_samples_to_generate=8, seed=3, engine="batch",
    journal_dir=sys.argv[2], batch_poll_seconds=0.02)
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_kill_9_while_polling_then_rerun_pays_nothing_twice(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    with FakeBatchServer(responder=responder) as server:
        server.hold.set()  # the batch stays in progress while the first run polls it
        child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(journal)])
        try:
            deadline = time.monotonic() + 120  # a safety net for a hung run, not a measurement
            while server.retrieved < 3:  # submitted, and polled: written down before this
                assert child.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait()
        server.hold.clear()
        dataset, report = run(server, tmp_path, journal_dir=journal, engine="batch")
    assert len(dataset) == 8
    assert server.batch_sizes == [8]  # the rerun polled the first run's batch, created none
    assert set(server.billed.values()) == {1}
    assert report.stats.requests == 8


#: the child dies (as SIGKILL would) right after the provider created its batch, before the id is written
DIES_AFTER_CREATE = (
    """
import os
from fabricator.execution.batch_store import BatchStore
BatchStore.created = lambda self, submitted, batch: os._exit(9)
"""
    + CHILD
)


@pytest.mark.timeout(120)
def test_killed_between_create_and_writing_the_id_rerun_adopts_the_batch(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    with FakeBatchServer(responder=responder) as server:
        server.hold.set()  # the batch is still running when the rerun looks for it
        died = subprocess.run([sys.executable, "-c", DIES_AFTER_CREATE, server.base_url, str(journal)])
        assert died.returncode == 9
        assert server.batch_sizes == [8]  # created at the provider, its id never written down
        assert '"created"' not in (journal / "batches.jsonl").read_text()
        server.hold.clear()
        dataset, report = run(server, tmp_path, journal_dir=journal, engine="batch")
    assert len(dataset) == 8
    assert server.batch_sizes == [8]  # the rerun found the first run's batch in the list, created none
    assert set(server.billed.values()) == {1}
    assert report.stats.requests == 8
