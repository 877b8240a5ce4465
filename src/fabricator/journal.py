"""Append-only results journal: resume after a crash, reuse answers across runs.

Each completed model call is one JSON line ``{"k": key, ...record}``, written with a single
``write`` on an ``O_APPEND`` file, so ``kill -9`` at any moment leaves at most one torn last line;
that line is detected on load, cut off, and its item redone. Keys are content hashes of (model,
generation parameters, messages, sample number): a setting that does not change a request reuses
its answer, one that does (the temperature) reuses none.

``meta.json`` records the signature of the task that wrote the journal; opening it for a
different task is an error that names the choices (reuse, or start fresh).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError

META_FILE = "meta.json"


def content_key(model: str, params: Mapping[str, Any], messages: Sequence[Mapping[str, str]],
                sample: int = 0) -> str:
    """A stable hash of everything that determines one answer."""
    blob = json.dumps([model, dict(params), list(messages), sample], sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class Journal:
    """The done requests of a directory (all shards), and an append handle for this process."""

    def __init__(self, directory: str | os.PathLike[str], *, signature: Mapping[str, Any] | None = None,
                 on_mismatch: str = "error", shard: str = "main") -> None:
        if on_mismatch not in ("error", "reuse", "fresh"):
            raise ConfigError(f"on_mismatch must be 'error', 'reuse' or 'fresh', not {on_mismatch!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_signature(dict(signature or {}), on_mismatch)
        self.records: dict[str, dict[str, Any]] = {}
        self.torn = 0
        for path in sorted(self.directory.glob("journal-*.jsonl")):
            self._load(path)
        self.path = self.directory / f"journal-{shard}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _check_signature(self, signature: dict[str, Any], on_mismatch: str) -> None:
        meta_path = self.directory / META_FILE
        if meta_path.exists():
            old = json.loads(meta_path.read_text(encoding="utf-8")).get("signature", {})
            if old != signature and signature:
                if on_mismatch == "error":
                    changed = sorted(k for k in set(old) | set(signature) if old.get(k) != signature.get(k))
                    raise ConfigError(
                        f"the journal in {self.directory} was written by a different task "
                        f"(differs in: {', '.join(changed)})",
                        hint="pass a new output/journal directory, or choose on_mismatch='fresh' "
                             "(--fresh: move the old journal aside and start anew) or 'reuse' "
                             "(--reuse: keep using its answers where requests match)",
                    )
                if on_mismatch == "fresh":
                    aside = self.directory.with_name(f"{self.directory.name}.old-{int(time.time())}")
                    shutil.move(str(self.directory), aside)
                    self.directory.mkdir(parents=True)
        if signature and (not meta_path.exists() or on_mismatch in ("fresh", "reuse")):
            meta_path = self.directory / META_FILE
            meta_path.write_text(json.dumps({"signature": signature}, indent=2, sort_keys=True),
                                 encoding="utf-8")

    def _load(self, path: Path) -> None:
        with open(path, "rb") as f:
            data = f.read()
        good_end = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn last line: the writer was killed mid-write
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            self.records[record.pop("k")] = record
            good_end += len(line)
        if good_end < len(data):
            self.torn += 1
            with open(path, "r+b") as f:
                f.truncate(good_end)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def append(self, key: str, record: Mapping[str, Any]) -> None:
        line = json.dumps({"k": key, **record}, ensure_ascii=False, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode("utf-8"))
        self.records[key] = dict(record)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
