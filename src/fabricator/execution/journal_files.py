"""The journal's file operations: locks, whole writes, atomic rewrites, and the errors they raise.

Apart from ``journal.py`` so the journal's class reads as what it keeps, not how bytes reach disk.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from ..errors import ConfigError

__all__ = ["append_corrupt", "io_error", "replace_atomically", "try_lock", "write_all"]


def try_lock(fd: int) -> bool:
    """Whether no other writer holds this file (an actor's claim); always true without ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def io_error(path: Path, exc: OSError, what: str) -> ConfigError:
    if path.is_dir():
        return ConfigError(
            f"{path} is a folder, where the journal needs {what}",
            hint=f"move {path} out of {path.parent}, or pass a new output folder",
        )
    return ConfigError(
        f"cannot use the journal file {path}: {exc.strerror or exc}",
        hint=f"check that {path.parent} is a writable folder, or pass a new output folder",
    )


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (``os.write`` may write less, e.g. on a signal or a full pipe)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append_corrupt(corrupt: Path, bad: list[tuple[int, str, bytes]]) -> None:
    """Keep the bad lines for a person to look at: where, why, when, and the bytes as text."""
    when = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(corrupt, "a", encoding="utf-8") as f:
        for n, why, line in bad:
            raw = line.decode("utf-8", "backslashreplace")
            row = {"line": n, "error": why, "set_aside_at": when, "raw": raw}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def replace_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically: a reader sees the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
