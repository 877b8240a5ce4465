"""Append-only results journal: resume after a crash, reuse answers across runs.

Each completed model call is one JSON line ``{"k": key, ...record}``, written with a single
``write`` on an ``O_APPEND`` file, so ``kill -9`` at any moment leaves at most one torn last line;
that line is detected on load, cut off, and its item redone. Keys are content hashes of (model,
generation parameters, messages, sample number): a setting that does not change a request reuses
its answer, one that does (the temperature) reuses none.

A line that cannot be read in the middle of a file (a hand edit, a disk fault) costs only itself:
every valid line is kept, the bad ones are appended to ``<journal file>.corrupt`` and the journal
is rewritten without them (temp file + ``os.replace``), with a warning in ``Journal.warnings`` and
on the ``fabricator`` logger.

Shards: a process appends to its own ``journal-<shard>.jsonl`` and reads all of them. A Ray actor
claims a free shard with an ``flock`` (``Journal.claim_shard``/``Journal.open_shard``); it reads
the other shards as they are (their writers may be alive) and repairs only its own, in place.

``meta.json`` records the signature of the task that wrote the journal; opening it for a
different task (or with an unreadable ``meta.json``) is an error that names the choices (reuse,
or start fresh).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .journal_files import append_corrupt, io_error, replace_atomically, try_lock, write_all
from .journal_records import record_problem

META_FILE = "meta.json"
_CORRUPT_SUFFIX = ".corrupt"
_SURROGATE = re.compile("[\ud800-\udfff]")  # what UTF-8 cannot encode in a str

log = logging.getLogger("fabricator")


def content_key(
    model: str, params: Mapping[str, Any], messages: Sequence[Mapping[str, str]], sample: int = 0
) -> str:
    """A stable hash of everything that determines one answer."""
    blob = json.dumps(
        [model, dict(params), list(messages), sample],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class Journal:
    """The done requests of a directory (all shards), and an append handle for this process.

    ``claimed=True`` (see ``open_shard``): this process holds the shard's claim, so the other shards
    are read as they are and only a torn tail of our own is cut off. ``warnings`` lists what a user
    should hear about (lines set aside); ``torn`` counts the torn last lines cut off.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        signature: Mapping[str, Any] | None = None,
        on_mismatch: str = "error",
        shard: str = "main",
        claimed: bool = False,
    ) -> None:
        if on_mismatch not in ("error", "reuse", "fresh"):
            raise ConfigError(f"on_mismatch must be 'error', 'reuse' or 'fresh', not {on_mismatch!r}")
        self.directory = Path(directory)
        self._make_directory()
        self.records: dict[str, dict[str, Any]] = {}
        self.torn = 0
        self.repaired = 0  # answers written with invalid Unicode replaced (``append``)
        self.warnings: list[str] = []
        self._fd = -1
        self._lock_fd = -1
        self._check_signature(dict(signature or {}), on_mismatch)
        self.path = self.directory / f"journal-{shard}.jsonl"
        for path in sorted(self.directory.glob("journal-*.jsonl")):
            mode = "repair" if not claimed else "own" if path == self.path else "read"
            self._load(path, mode)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise io_error(self.path, exc, "a file") from exc

    # --- shards -------------------------------------------------------------------------------

    @staticmethod
    def claim_shard(directory: str | os.PathLike[str]) -> tuple[str, int]:
        """The lowest free actor shard of a journal folder, and an fd that holds it.

        An exclusive ``flock`` on ``journal-actor-<i>.jsonl`` marks the shard as taken for as long
        as the fd is open; the kernel drops it when the process ends, however it ends, so a shard
        is never left claimed. (Without ``fcntl``, e.g. on Windows, the process id names it.)
        """
        try:
            import fcntl  # noqa: F401 - only to know whether flock exists
        except ImportError:  # pragma: no cover - not POSIX
            return f"actor-p{os.getpid()}", -1
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        i = 0
        while True:
            path = folder / f"journal-actor-{i}.jsonl"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise io_error(path, exc, "a file") from exc
            if try_lock(fd):
                return f"actor-{i}", fd
            os.close(fd)
            i += 1

    @classmethod
    def open_shard(cls, directory: str | os.PathLike[str], name: str | None = None) -> Journal:
        """An actor's journal: appends to shard ``name`` (claimed here if ``None``, and held
        until ``close``), reads all shards, repairs only its own."""
        lock_fd = -1
        if name is None:
            name, lock_fd = cls.claim_shard(directory)
        try:
            journal = cls(directory, shard=name, claimed=True)
        except BaseException:
            if lock_fd >= 0:
                os.close(lock_fd)
            raise
        journal._lock_fd = lock_fd
        return journal

    # --- opening ------------------------------------------------------------------------------

    def _make_directory(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError(
                f"the journal folder {self.directory} is a file",
                hint="pass another output/journal folder, or move that file aside",
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the journal folder {self.directory}: {exc.strerror or exc}",
                hint="pass an output/journal folder in a writable place",
            ) from exc

    def _read_signature(self, meta_path: Path) -> tuple[dict[str, Any] | None, str]:
        """The signature recorded in ``meta.json``, or ``None`` and why it cannot be read."""
        if meta_path.is_dir():
            return None, "is a folder"
        try:
            meta = json.loads(meta_path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            return None, "is not UTF-8"
        except (ValueError, RecursionError):
            return None, "is not valid JSON"
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror or exc})"
        if not isinstance(meta, dict) or not isinstance(meta.get("signature", {}), dict):
            return None, "is not an object with a signature"
        return meta.get("signature", {}), ""

    def _check_signature(self, signature: dict[str, Any], on_mismatch: str) -> None:
        meta_path = self.directory / META_FILE
        if not signature:  # a shard of a run whose driver checked it already
            return
        if meta_path.exists() or meta_path.is_symlink():
            old, why = self._read_signature(meta_path)
            if old != signature:
                if on_mismatch == "error":
                    self._mismatch(meta_path, old, why, signature)
                if on_mismatch == "fresh":
                    aside = self.directory.with_name(f"{self.directory.name}.old-{int(time.time())}")
                    shutil.move(str(self.directory), aside)
                    self.directory.mkdir(parents=True)
        if not meta_path.exists() or on_mismatch in ("fresh", "reuse"):
            try:
                meta_path.write_text(
                    json.dumps({"signature": signature}, indent=2, sort_keys=True), encoding="utf-8"
                )
            except OSError as exc:
                raise io_error(meta_path, exc, "the file meta.json") from exc

    def _mismatch(
        self, meta_path: Path, old: dict[str, Any] | None, why: str, signature: dict[str, Any]
    ) -> None:
        choices = (
            "choose on_mismatch='fresh' (--fresh: move the old journal aside and start anew) "
            "or 'reuse' (--reuse: keep using its answers where requests match)"
        )
        if old is None:
            raise ConfigError(
                f"the journal's {meta_path} {why}, so its task is unknown",
                hint=f"move {meta_path} aside, pass a new output/journal directory, or {choices}",
            )
        changed = sorted(k for k in set(old) | set(signature) if old.get(k) != signature.get(k))
        raise ConfigError(
            f"the journal in {self.directory} was written by a different task "
            f"(differs in: {', '.join(changed)})",
            hint=f"pass a new output/journal directory, or {choices}",
        )

    # --- loading and repair -------------------------------------------------------------------

    def _load(self, path: Path, mode: str) -> None:
        """Read one shard. ``repair``: set bad lines aside and cut a torn tail; ``own``: cut a torn
        tail in place only (the file is claimed); ``read``: change nothing (a writer may be live)."""
        try:
            fd = os.open(path, os.O_RDWR if mode != "read" else os.O_RDONLY)
        except OSError as exc:
            raise io_error(path, exc, "a journal file") from exc
        try:
            if mode == "repair" and not try_lock(fd):
                mode = "read"  # a live actor holds this shard: leave it to its owner
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
            self._parse(path, fd, data, mode)
        finally:
            os.close(fd)

    def _parse(self, path: Path, fd: int, data: bytes, mode: str) -> None:
        pieces = data.split(b"\n")
        tail = pieces.pop()  # b"" when the file ends with a newline
        kept: list[bytes] = []
        bad: list[tuple[int, str, bytes]] = []
        for number, line in enumerate(pieces, 1):
            if not line.strip():
                continue
            why, record = record_problem(line)
            if why is not None:
                bad.append((number, why, line))
                continue
            self.records[record.pop("k")] = record
            kept.append(line)
        tail_ok = False
        if tail.strip():
            why, record = record_problem(tail)
            if why is None:  # complete but unterminated (a hand edit): keep it, and end it
                self.records[record.pop("k")] = record
                kept.append(tail)
                tail_ok = True
            else:
                self.torn += 1
                log.info(
                    "%s: cut off a torn last line (the writer was stopped mid-write); "
                    "its request will be made again",
                    path.name,
                )
        rewritten = bool(bad) and self._set_aside(path, bad, kept, rewrite=mode == "repair")
        if not rewritten and mode != "read" and tail:
            if tail_ok:
                os.lseek(fd, 0, os.SEEK_END)
                os.write(fd, b"\n")
            else:
                os.ftruncate(fd, len(data) - len(tail))

    def _set_aside(
        self, path: Path, bad: list[tuple[int, str, bytes]], kept: list[bytes], rewrite: bool
    ) -> bool:
        """Append the bad lines to ``<path>.corrupt`` and rewrite ``path`` without them, atomically.

        Returns whether it did (else the bad lines are only skipped, and warned about)."""
        first = "; ".join(f"line {n}: {why}" for n, why, _ in bad[:3]) + ("; ..." if len(bad) > 3 else "")
        corrupt = path.with_name(path.name + _CORRUPT_SUFFIX)
        done, rewritten = "skipped but left in place (its writer may be running)", False
        if rewrite:
            try:
                append_corrupt(corrupt, bad)
                replace_atomically(path, b"".join(line + b"\n" for line in kept))
                done, rewritten = f"set aside in {corrupt.name}", True
            except OSError as exc:
                done = f"skipped but left in place (could not set them aside: {exc.strerror or exc})"
        message = (
            f"journal {path}: {len(bad)} unreadable line{'s' if len(bad) != 1 else ''} {done} "
            f"({first}); their requests will be made again"
        )
        self.warnings.append(message)
        log.warning("%s", message)
        return rewritten

    # --- use ----------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def append(self, key: str, record: Mapping[str, Any]) -> None:
        """Write one answer as one line. Never fails on what the answer holds: text that cannot be
        UTF-8 (a lone surrogate) is written with U+FFFD in its place, as it is kept in memory, and
        counted in ``repaired`` (a crash here would crash every rerun at the same answer)."""
        line = json.dumps({"k": key, **record}, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            line = _SURROGATE.sub("\ufffd", line)  # in a JSON line they can only be inside strings
            data = line.encode("utf-8")
            record = {k: v for k, v in json.loads(line).items() if k != "k"}
            self.repaired += 1
            if self.repaired == 1:
                log.warning("journal %s: an answer held invalid Unicode; written with U+FFFD", self.path)
        write_all(self._fd, data)
        self.records[key] = dict(record)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def close(self) -> None:
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name, -1)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
