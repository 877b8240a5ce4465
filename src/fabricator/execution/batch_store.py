"""Where a batch run remembers what it paid for: ``batches.jsonl`` in the journal's directory.

Submitted work is written down before the provider starts on it: the uploaded file and the journal
keys of its requests as soon as it is uploaded, the batch id as soon as it exists, and ``done``
once its answers are in the journal. A killed run's next start polls the batches it left running
(for a file uploaded without a batch id, the provider's batch of that file, created only when
there is none) instead of paying for their requests again. Each line is written with one
``write`` and flushed (a torn last line is skipped on reading).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

BATCHES_FILE = "batches.jsonl"


@dataclass
class Submitted:
    """One batch file of this journal: its requests' keys, and its batch once created."""

    file: str
    keys: tuple[str, ...]
    batch: str | None = None
    done: bool = False


class BatchStore:
    """The submitted batches of one journal directory (``None`` directory: kept in memory only)."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.path = Path(directory) / BATCHES_FILE if directory is not None else None
        self.files: dict[str, Submitted] = {}
        self._by_key: dict[str, Submitted] = {}  # each request's latest batch file
        if self.path is not None and self.path.exists():
            self._load(self.path.read_text(encoding="utf-8").splitlines())

    def _load(self, lines: Iterable[str]) -> None:
        for text in lines:
            try:
                line = json.loads(text)
            except ValueError:
                continue  # a torn last line: that step is redone
            file = line.get("file")
            if line.get("event") == "uploaded":
                self._add(Submitted(file, tuple(line.get("keys", ()))))
            elif file in self.files and line.get("event") == "created":
                self.files[file].batch = line.get("batch")
            elif file in self.files and line.get("event") == "done":
                self.files[file].done = True

    def _write(self, line: dict[str, object]) -> None:
        if self.path is None:
            return
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _add(self, submitted: Submitted) -> None:
        self.files[submitted.file] = submitted
        self._by_key.update(dict.fromkeys(submitted.keys, submitted))

    def uploaded(self, file: str, keys: Iterable[str]) -> Submitted:
        submitted = Submitted(file, tuple(keys))
        self._add(submitted)
        self._write({"event": "uploaded", "file": file, "keys": list(submitted.keys)})
        return submitted

    def created(self, submitted: Submitted, batch: str) -> None:
        submitted.batch = batch
        self._write({"event": "created", "file": submitted.file, "batch": batch})

    def finished(self, submitted: Submitted) -> None:
        submitted.done = True
        self._write({"event": "done", "file": submitted.file, "batch": submitted.batch})

    def open_for(self, key: str) -> Submitted | None:
        """The submitted, unfinished batch file that holds the request ``key``, if any."""
        submitted = self._by_key.get(key)
        return submitted if submitted is not None and not submitted.done else None

    def running(self) -> list[Submitted]:
        """Batch files submitted and not yet read back (what Ctrl-C leaves running)."""
        return [s for s in self.files.values() if not s.done]


__all__ = ["BATCHES_FILE", "BatchStore", "Submitted"]
