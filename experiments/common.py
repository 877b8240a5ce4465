"""Shared helpers of the experiment scripts: data paths, the model, result tables."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from datasets import Dataset

from fabricator.llms import LlamaCpp

ROOT = Path(__file__).resolve().parent
#: ../shared/data beside the repository, or ``FABRICATOR_SHARED_DATA`` (as in tests/conftest.py).
DATA = Path(os.environ.get("FABRICATOR_SHARED_DATA") or ROOT.parents[1] / "shared" / "data")
RUNS = ROOT / "runs"  # journals and outputs (git-ignored)
RESULTS = ROOT / "results"  # the tables, committed
#: the teacher's answers of long runs (gzip), committed so that a fresh clone resumes such a run
#: where it stopped, or re-makes its rows without a model
JOURNALS = RESULTS / "journals"
JOURNAL_FILES = ("journal-main.jsonl", "meta.json")


def archive_journal(journal_dir: Path, name: str) -> Path:
    """Pack the journal of run ``name`` into ``JOURNALS`` (the answers so far; safe mid-run)."""
    JOURNALS.mkdir(parents=True, exist_ok=True)
    archive = JOURNALS / f"{name}.jsonl.gz"
    with (
        open(journal_dir / JOURNAL_FILES[0], "rb") as src,
        open(archive, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as dst,  # same answers, same bytes
    ):
        shutil.copyfileobj(src, dst)
    shutil.copy(journal_dir / JOURNAL_FILES[1], JOURNALS / f"{name}.meta.json")
    return archive


def restore_journal(journal_dir: Path, name: str) -> bool:
    """Unpack the committed journal of run ``name`` into ``journal_dir`` if it has none yet.

    Both files are unpacked under temporary names and renamed into place, the journal last: a
    restore that fails half way (a full disk, a corrupt archive, kill) leaves no partial journal
    behind, so the next run restores again instead of skipping a journal that is not whole.
    """
    archive = JOURNALS / f"{name}.jsonl.gz"
    journal, meta = (journal_dir / f for f in JOURNAL_FILES)
    if not archive.exists() or journal.exists():
        return False
    journal_dir.mkdir(parents=True, exist_ok=True)
    parts = {path: path.with_name(path.name + ".restoring") for path in (journal, meta)}
    try:
        with gzip.open(archive, "rb") as src, open(parts[journal], "wb") as dst:
            shutil.copyfileobj(src, dst)
        shutil.copy(JOURNALS / f"{name}.meta.json", parts[meta])
        os.replace(parts[meta], meta)
        os.replace(parts[journal], journal)
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    return True


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise SystemExit(
            f"{path} not found: the experiments read ../shared/data beside the repository "
            "(set FABRICATOR_SHARED_DATA to use another folder)"
        )
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def seeded_sample(rows: list[dict[str, Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    return random.Random(seed).sample(rows, min(n, len(rows)))


def embedded_model(parallel: int = 4) -> LlamaCpp:
    return LlamaCpp(n_parallel=parallel)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def write_table(name: str, title: str, header: list[str], rows: list[list[Any]], notes: list[str]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    lines += [""] + [f"- {n}" for n in notes] + [""]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return path


def usage_of(generator: Any) -> dict[str, Any]:
    """Counts of the last run; ``tokens`` is what the rows cost, journaled answers included."""
    s = generator.last_run.summary()
    new_tokens = s["prompt_tokens"] + s["completion_tokens"]
    return {
        "rows": s["rows"],
        "failures": s["failures"],
        "requests": s["requests"],
        "cached": s["cached"],
        "tokens": new_tokens + s["cached_tokens"],
        "new_tokens": new_tokens,
        "seconds": s["elapsed_s"],
    }


def as_dataset(rows: list[dict[str, Any]], columns: list[str]) -> Dataset:
    return Dataset.from_dict({c: [r[c] for r in rows] for c in columns})
