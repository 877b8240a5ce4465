"""The suite runs outside the checkout, and the experiments' journal restore is all or nothing."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_tests_run_outside_the_checkout():
    # a recipe's default output is out/ under the working directory: a test run from the checkout
    # would meet what the README's quick start left there
    assert REPO not in Path.cwd().resolve().parents and Path.cwd().resolve() != REPO
    assert list(Path.cwd().iterdir()) == []


def load_experiments_common():
    spec = importlib.util.spec_from_file_location("experiments_common", REPO / "experiments" / "common.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failed_journal_restore_leaves_nothing_and_the_next_one_restores(tmp_path, monkeypatch):
    common = load_experiments_common()
    journals = tmp_path / "journals"
    journals.mkdir()
    monkeypatch.setattr(common, "JOURNALS", journals)
    answers = "".join(json.dumps({"key": str(i), "text": f"answer {i}"}) + "\n" for i in range(50))
    (journals / "run.jsonl.gz").write_bytes(gzip.compress(answers.encode())[:-30])  # cut short
    (journals / "run.meta.json").write_text("{}")
    target = tmp_path / "runs" / "journal"
    with pytest.raises(EOFError):
        common.restore_journal(target, "run")
    assert sorted(p.name for p in target.iterdir()) == []  # no partial journal that looks whole

    (journals / "run.jsonl.gz").write_bytes(gzip.compress(answers.encode()))
    assert common.restore_journal(target, "run") is True
    assert (target / "journal-main.jsonl").read_text() == answers
    assert common.restore_journal(target, "run") is False  # restored once, kept
