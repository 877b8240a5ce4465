"""engine="ray": the same rows as the local engine, limits split across actors, resume across shards.

Needs the optional extra (``pip install -e ".[ray]"``); skipped as a whole without it. One local
Ray cluster (2 CPUs) serves the module; the fake OpenAI server runs on a thread in this process.
"""

import asyncio
import hashlib
import ipaddress
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from datasets import Dataset

ray = pytest.importorskip("ray")

from conftest import annotate, conditioned  # noqa: E402

from fabricator import BasePrompt, DatasetGenerator  # noqa: E402
from fabricator.app.cli import main  # noqa: E402
from fabricator.errors import AuthenticationError  # noqa: E402
from fabricator.execution import build_executor  # noqa: E402
from fabricator.execution.engine import Engine  # noqa: E402
from fabricator.execution.journal import Journal  # noqa: E402
from fabricator.execution.ray import split_limit, start_local_ray  # noqa: E402
from fabricator.llms import Fake  # noqa: E402
from fabricator.llms.base import Request  # noqa: E402
from fabricator.llms.openai import OpenAICompatible  # noqa: E402
from fabricator.llms.ray_vllm import RayVLLM  # noqa: E402
from fabricator.progress import ProgressReporter  # noqa: E402
from fabricator.testing import FakeOpenAIServer  # noqa: E402

pytestmark = pytest.mark.timeout(300)
LABELS = ["positive", "negative"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    started = not ray.is_initialized()
    if started:
        start_local_ray(num_cpus=2, log_to_driver=False)  # listening on 127.0.0.1 only
    yield
    if started:
        ray.shutdown()


def responder(messages: list, body: dict) -> str:
    """Deterministic answers: a review that depends on the whole prompt and the seed, or a label.

    Annotation rows say how to answer: ROW-POS and ROW-NEG get a label (in two spellings),
    ROW-HUH gets one only when re-asked, ROW-BAD never does (a failure with its raw answer).
    """
    users = [m["content"] for m in messages if m["role"] == "user"]
    first = users[0]
    if "Classify" not in first:
        return f"A film review {hashlib.md5(first.encode()).hexdigest()[:10]}, take {body.get('seed')}."
    row = first.rsplit("ROW-", 1)[-1][:3]
    if row == "POS":
        return "Positive."
    if row == "NEG":
        return "negative"
    if row == "HUH":
        return "negative" if len(users) > 1 else "no idea"
    return "banana"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(latency=0.01, responder=responder) as srv:
        yield srv


def llm(srv, concurrency=4):
    return OpenAICompatible("fake-model", base_url=srv.base_url, max_concurrency=concurrency)


def unlabeled(n: int) -> Dataset:
    kinds = ["POS", "NEG", "HUH", "POS", "NEG", "BAD"]
    return Dataset.from_dict(
        {"text": [f"review {i} ROW-{kinds[i % len(kinds)]}" for i in range(n)], "id": list(range(n))}
    )


def both(run):
    """``run(engine=...)`` with the local engine and with Ray (2 actors): (local, ray)."""
    return run(engine="local"), run(engine="ray", ray_actors=2)


def test_label_conditioned_generation_same_rows_and_features(server, sentiment_fewshot):
    def run(**kw):
        g = DatasetGenerator(llm(server))
        ds = g.generate(
            conditioned(),
            sentiment_fewshot,
            "uniform",
            1,
            "label",
            max_prompt_calls=60,
            num_samples_to_generate=60,
            seed=7,
            **kw,
        )
        return ds, g.last_run

    (local, local_run), (remote, remote_run) = both(run)
    assert len(remote) == 60
    assert remote.features == local.features
    assert remote.to_list() == local.to_list()
    assert len(set(remote["text"])) > 10  # rows differ, so order is really compared
    assert remote_run.summary()["requests"] == local_run.summary()["requests"] == 60
    assert remote_run.summary()["prompt_tokens"] == local_run.summary()["prompt_tokens"]


def test_annotation_same_rows_failures_and_log(server, sentiment_fewshot, tmp_path):
    data = unlabeled(36)

    def run(engine, **kw):
        g = DatasetGenerator(llm(server))
        ds, original = g.generate(
            annotate(),
            sentiment_fewshot,
            "stratified",
            1,
            "label",
            unlabeled_dataset=data,
            max_prompt_calls=100,
            seed=3,
            return_unlabeled_dataset=True,
            log_path=tmp_path / f"{engine}.jsonl",
            engine=engine,
            label_scoring="off",  # the answer text parsed and re-asked (scored labels: the next test)
            **kw,
        )
        return ds, original, g.last_run

    (ds_l, orig_l, run_l), (ds_r, orig_r, run_r) = both(run)
    assert ds_r.features == ds_l.features and ds_r.features["label"].names == LABELS
    assert ds_r.to_list() == ds_l.to_list()
    assert orig_r.to_list() == orig_l.to_list()
    assert len(ds_r) == 30  # the six ROW-BAD rows failed, after a re-ask
    assert [f.as_dict() for f in run_r.failures] == [f.as_dict() for f in run_l.failures]
    assert {f.raw for f in run_r.failures} == {"banana"}
    # POS/NEG once, HUH twice (re-asked), BAD three times (max_tries)
    assert run_r.summary()["requests"] == run_l.summary()["requests"] == 24 + 6 * 2 + 6 * 3

    def log(engine):
        lines = (tmp_path / f"{engine}.jsonl").read_text().splitlines()
        return sorted(lines)

    assert log("ray") == log("local") and len(log("ray")) == 54


def test_scored_annotation_is_the_same_on_ray(server, sentiment_fewshot):
    def run(engine, **kw):
        g = DatasetGenerator(llm(server))
        ds = g.generate(
            annotate(), unlabeled_dataset=unlabeled(12), max_prompt_calls=100, engine=engine, **kw
        )
        return ds, g.last_run

    (local, local_run), (remote, remote_run) = both(run)
    assert remote.to_list() == local.to_list() and len(remote) == 8  # POS and NEG rows, scored
    assert remote["confidence"] == [1.0] * 8  # the fake server is certain of what it writes
    assert [f.as_dict() for f in remote_run.failures] == [f.as_dict() for f in local_run.failures]
    assert {p["scoring"] for p in remote_run.provenance} == {"logprobs"}
    # one scoring step per labelled row; HUH and BAD rows vote with 5 samples each, in vain
    assert remote_run.summary()["requests"] == local_run.summary()["requests"] == 8 + 4 * 5


def test_budget_stop_then_resume_across_actor_shards(sentiment_fewshot, tmp_path):
    with FakeOpenAIServer(latency=0.02, responder=responder) as srv:

        def generate(g, **kw):
            return g.generate(
                conditioned(),
                sentiment_fewshot,
                "uniform",
                1,
                "label",
                max_prompt_calls=40,
                num_samples_to_generate=40,
                seed=1,
                **kw,
            )

        def run(**kw):
            g = DatasetGenerator(llm(srv, concurrency=2))
            ds = generate(g, journal_dir=tmp_path / "journal", **kw)
            return ds, g.last_run

        part, first = run(engine="ray", ray_actors=2, budget_tokens=400)
        assert first.stats.stopped == "budget" and 0 < len(part) < 40
        shards = sorted(p.name for p in (tmp_path / "journal").glob("journal-actor-*.jsonl"))
        # one shard per actor that answered before the stop: both, unless a busy machine started
        # the second actor after the first had spent the budget (the count is the machine's load)
        assert shards and set(shards) <= {"journal-actor-0.jsonl", "journal-actor-1.jsonl"}
        done = srv.stats["received"]
        assert _journal_keys(tmp_path / "journal") == done  # every answer is journaled, once

        full, second = run(engine="ray", ray_actors=2)
        assert len(full) == 40 and second.stats.cached == done
        assert second.stats.cached_tokens == first.stats.total_tokens  # the first run's spend, kept
        assert srv.stats["received"] == 40  # nothing asked twice, nothing lost
        assert _journal_keys(tmp_path / "journal") == 40
        srv.reset_stats()
        local = generate(DatasetGenerator(llm(srv)))
        assert full.to_list() == local.to_list()


def test_killed_actor_loses_nothing(sentiment_fewshot, tmp_path):
    """kill -9 of an actor mid-run: Ray restarts it and retries its block, whose journaled
    answers are reused; only the requests in flight at the kill are asked again."""
    killed: list[int] = []
    with FakeOpenAIServer(latency=0.05, responder=responder) as srv:

        def killer() -> None:
            deadline = time.monotonic() + 60
            while srv.stats["received"] < 30 and time.monotonic() < deadline:
                time.sleep(0.005)
            pids = _actor_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()

        def run() -> Dataset:
            return DatasetGenerator(llm(srv, concurrency=4)).generate(
                conditioned(),
                sentiment_fewshot,
                "uniform",
                1,
                "label",
                max_prompt_calls=120,
                num_samples_to_generate=120,
                seed=2,
                journal_dir=tmp_path / "journal",
                engine="ray",
                ray_actors=2,
            )

        ds = run()
        thread.join(5)
        if not killed:
            pytest.skip("no Ray actor process found to kill")
        assert len(ds) == 120
        assert _journal_keys(tmp_path / "journal") == 120
        assert 120 <= srv.stats["received"] <= 120 + 4  # at most the killed actor's in-flight requests
        again = run()
        assert again.to_list() == ds.to_list()
        assert srv.stats["received"] <= 124  # the re-run asked nothing


def test_fatal_error_in_an_actor_stops_the_run():
    with FakeOpenAIServer(faults={5: "401"}) as srv, pytest.raises(AuthenticationError, match="401"):
        DatasetGenerator(llm(srv)).generate(
            BasePrompt(task_description="Write a review."),
            max_prompt_calls=40,
            num_samples_to_generate=40,
            engine="ray",
            ray_actors=2,
        )


def test_rate_limits_and_budgets_are_split_evenly():
    engine = Engine(Fake(), concurrency=8, budget_tokens=900, budget_usd=3.0)
    executor = ray_executor(Fake(), engine, requests_per_minute=600, tokens_per_minute=90_000)
    s = executor.actor_settings(3)
    assert (s.requests_per_minute, s.tokens_per_minute) == (200, 30_000)
    assert (s.budget_tokens, s.budget_usd, s.concurrency) == (300, 1.0, 8)
    assert split_limit(None, 3) is None


def ray_executor(llm, engine, journal=None, **kw):
    """The Ray executor as the generator builds it (the row maker is what the generator made)."""
    return build_executor(
        "ray",
        llm=llm,
        maker=kw.pop("maker", None),
        engine=engine,
        logger=None,
        progress=ProgressReporter(enabled=False),
        journal=journal,
        **kw,
    )


class BatchOnly(RayVLLM):
    """``RayVLLM`` whose batch processor is a plain Ray Data map (no vLLM): "echo: <prompt>"."""

    processors = 0

    def processor(self):
        BatchOnly.processors += 1

        def answer(row):
            text = "echo: " + row["messages"][-1]["content"]
            return {"i": row["i"], "generated_text": text, "num_input_tokens": 3, "num_generated_tokens": 2}

        return lambda ds: ds.map(answer)


class EchoMaker:
    """The part of ``RowMaker`` the vLLM path uses: the first request of an item, and its parse."""

    def request(self, item, messages, attempt):
        return Request(messages=tuple(messages), temperature=0.0, max_tokens=8, seed=item.index)

    def parse(self, item, text):
        if text.endswith("3"):
            from fabricator.errors import ParseError

            raise ParseError("no label in the answer")
        return {"text": text}


def test_ray_vllm_batch_path_journals_through_the_engine_and_resumes(tmp_path):
    """``engine="ray"`` with ``RayVLLM``: one pass through the batch processor; answers journaled by
    the driver engine, so a second run asks nothing and counts every answer as cached."""
    from fabricator.execution.work import Failure, WorkItem

    work = [WorkItem(i, ({"role": "user", "content": f"row {i}"},), f"row {i}") for i in range(8)]

    def run():
        kept = {}
        with Journal(tmp_path / "j") as journal:
            engine = Engine(Fake(), journal=journal)
            executor = ray_executor(BatchOnly("m"), engine, journal, maker=EchoMaker())
            asyncio.run(executor.map(work, lambda item, result: kept.__setitem__(item.index, result)))
        return kept, engine.stats

    BatchOnly.processors = 0
    first, stats = run()
    assert first[0] == {"text": "echo: row 0"} and sorted(first) == list(range(8))
    assert isinstance(first[3], Failure) and first[3].raw == "echo: row 3"  # no re-ask on this path
    assert (stats.requests, stats.succeeded, stats.prompt_tokens, stats.completion_tokens) == (8, 8, 24, 16)
    again, stats = run()
    assert again.keys() == first.keys() and again[5] == first[5]
    assert (BatchOnly.processors, stats.requests, stats.cached, stats.cached_tokens) == (1, 0, 8, 40)


FAKE_VLLM = """
class SamplingParams:
    def __init__(self, **params):
        self.params = params

class _Out:
    def __init__(self, text, n):
        self.text, self.finish_reason, self.token_ids = text, "stop", [0] * n

class _Result:
    def __init__(self, prompt, out):
        self.prompt_token_ids, self.outputs = [0] * len(prompt), [out]

class LLM:
    def __init__(self, model, **kwargs):
        self.model = model

    def chat(self, messages, params, use_tqdm=True):
        text = self.model + " says " + messages[-1]["content"]
        return [_Result(messages[-1]["content"], _Out(text, params.params["max_tokens"]))]
"""


def test_ray_vllm_complete_asks_one_actor_that_holds_the_model(tmp_path, monkeypatch):
    """``RayVLLM.complete`` honours the LLM protocol: one model, loaded once in a Ray actor."""
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text(FAKE_VLLM)
    monkeypatch.syspath_prepend(str(tmp_path))
    llm = RayVLLM(
        "m", actor_options={"num_cpus": 0, "runtime_env": {"env_vars": {"PYTHONPATH": str(tmp_path)}}}
    )

    async def two() -> list:
        try:
            return [
                await llm.complete(Request(messages=({"role": "user", "content": w},), max_tokens=4))
                for w in ("hello", "again")
            ]
        finally:
            await llm.aclose()

    first, second = asyncio.run(two())
    assert (first.text, first.usage.prompt_tokens, first.usage.completion_tokens) == ("m says hello", 5, 4)
    assert second.text == "m says again" and first.model == "m"


def test_default_is_one_actor_per_node_and_fake_backend_works():
    g = DatasetGenerator()
    ds = g.generate(
        BasePrompt(task_description="Write a review."),
        max_prompt_calls=5,
        num_samples_to_generate=5,
        dummy_response="A fine film.",
        engine="ray",
    )
    assert ds["text"] == ["A fine film."] * 5
    assert g.last_run.stats.requests == 5


def test_cli_engine_ray(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "prompt": {
                    "task_description": "Write a short movie review.",
                    "generate_data_for_column": "text",
                },
                "model": {"backend": "fake", "responses": ["A fine film.", "Dull and long."]},
                "generation": {
                    "max_prompt_calls": 12,
                    "num_samples_to_generate": 12,
                    "engine": "local",
                    "dedup": False,
                },
            }
        )
    )
    out = tmp_path / "out"
    assert (
        main(["generate", str(recipe), "-o", str(out), "--quiet", "--engine", "ray", "--ray-actors", "2"])
        == 0
    )
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["text"] for r in rows} <= {"A fine film.", "Dull and long."}
    assert sorted(p.name for p in (out / "journal").glob("journal-actor-*.jsonl"))
    assert json.loads((out / "metadata.json").read_text())["versions"]["ray"] == ray.__version__


def test_call_cap_holds_on_ray_as_locally(sentiment_fewshot):
    """Rows that never get a label: re-asks stop at the cap, on the actors as in one process."""
    data = Dataset.from_dict({"text": [f"review {i} ROW-BAD" for i in range(12)]})
    with FakeOpenAIServer(responder=responder) as srv:

        def run(**kw):
            g = DatasetGenerator(llm(srv))
            g.generate(annotate(), unlabeled_dataset=data, max_prompt_calls=14, **kw)
            received = srv.stats["received"]
            srv.reset_stats()
            return received, g.last_run

        (local, run_l), (remote, run_r) = both(run)
    assert local == remote == 14  # 12 first asks and the 2 spare calls, never more
    assert run_r.summary()["calls"] == run_l.summary()["calls"] == 14
    assert run_r.summary()["call_cap"] == 14 and len(run_r.failures) == 12


LISTENER = """
import json, os
from fabricator import BasePrompt, DatasetGenerator
DatasetGenerator().generate(BasePrompt(task_description="Write a review."), max_prompt_calls=2,
                            num_samples_to_generate=2, dummy_response="A fine film.", engine="ray")
print(json.dumps(LISTENING()))
"""


def test_engine_ray_starts_a_cluster_that_listens_on_loopback_only(tmp_path):
    """The cluster ``engine="ray"`` starts by itself (in a fresh process) is not on the network."""
    import inspect
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        inspect.getsource(_listening)
        + inspect.getsource(_ancestors)
        + "import ipaddress\nfrom pathlib import Path\n"
        + "def LISTENING():\n    return _listening(os.getpid())\n"
        + LISTENER
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    addresses = json.loads(done.stdout.strip().splitlines()[-1])
    assert addresses, "no listening socket found for the Ray processes"
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses


def _journal_keys(directory: Path) -> int:
    keys = set()
    for path in directory.glob("journal-*.jsonl"):
        for line in path.read_text().splitlines():
            keys.add(json.loads(line)["k"])
    return len(keys)


def _actor_pids() -> list[int]:
    """This cluster's Ray Data map actors (Linux): their title names the operator, and this
    process started the raylet whose children they are (other Ray clusters are left alone)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ours = os.getpid() in _ancestors(int(entry.name))
        if b"MapWorker(MapBatches(GenerationActor))" in cmdline and ours:
            pids.append(int(entry.name))
    return sorted(pids)


def _ancestors(pid: int) -> list[int]:
    found = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state is the parent
        found.append(pid)
    return found


def _listening(root: int) -> list[str]:
    """The addresses that ``root`` and its descendants listen on (TCP, Linux ``/proc``)."""
    inodes = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid != root and root not in _ancestors(pid):
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(packed)
            mapped = getattr(address, "ipv4_mapped", None)
            found.append(str(mapped or address))
    return found


def test_votes_get_their_calls_on_ray_as_locally(server, sentiment_fewshot):
    """A budget short of every row's prompts: the same rows, each with all its votes, on both."""
    data = Dataset.from_dict({"text": [f"review {i} ROW-{['POS', 'NEG'][i % 2]}" for i in range(6)]})

    def run(engine, **kw):
        g = DatasetGenerator(llm(server))
        ds = g.generate(
            annotate(),
            unlabeled_dataset=data,
            max_prompt_calls=13,
            task_rephrasings=["Classify this review: {}?", "Classify it as one of {}."],
            engine=engine,
            **kw,
        )
        return ds, g.last_run

    (local, local_run), (remote, remote_run) = both(run)
    assert remote.to_list() == local.to_list() and len(remote) == 4  # 13 calls: 4 rows x 3 prompts
    assert (
        [p["votes"] for p in remote_run.provenance] == [p["votes"] for p in local_run.provenance] == [3] * 4
    )
    assert remote_run.summary()["calls"] == local_run.summary()["calls"] == 12
