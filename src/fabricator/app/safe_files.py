"""Files a command writes, safely: paths checked, a temporary name then one rename, no file of the
user's replaced (``claim_file``: an existing file only if it is ours or ``--force`` is given).

Modes follow the umask like any other file's; a crash never leaves half a file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["atomic_write", "claim_file", "expand_path", "temp_file", "temp_folder"]


def expand_path(path: str | Path, what: str = "path") -> Path:
    """``~`` expanded; a ``ConfigError`` (not a ``RuntimeError``) for ``~nosuchuser/x``."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise ConfigError(
            f"{what} {path} cannot be used: its home folder is not known", hint="give the path in full"
        ) from None


def temp_file(folder: Path) -> Path:
    """A new empty file in ``folder`` whose mode follows the umask (``mkstemp`` gives 0600)."""
    while True:
        tmp = folder / f".fabricator-tmp-{secrets.token_hex(8)}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        return tmp


def temp_folder(folder: Path) -> Path:
    """A new empty folder in ``folder`` whose mode follows the umask (``mkdtemp`` gives 0700)."""
    while True:
        tmp = folder / f".fabricator-tmp-{secrets.token_hex(8)}"
        try:
            tmp.mkdir(0o777)
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        return tmp


def atomic_write(target: Path, writer: Callable[[Path], Any]) -> None:
    """``writer(tmp)`` writes a temporary file beside ``target``, which then replaces it in one step.

    A crash never leaves half a file, and the file's mode follows the umask like any other.
    """
    tmp = temp_file(target.parent)
    try:
        writer(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _first_existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), Path.cwd())


def claim_file(
    path: str | Path,
    *,
    force: bool = False,
    ours: Callable[[Path], bool] | None = None,
    what: str = "output file",
) -> Path:
    """Check that a command may write the file ``path``; its parent folders are created.

    An existing file is refused unless ``ours(path)`` says Fabricator wrote it or ``force`` is
    given, so no command writes over a file the user keeps. A path that is a folder, or lies under
    a regular file, is a ``ConfigError`` naming it (exit status 2 from the CLI), never a traceback.
    """
    target = expand_path(path, what)
    pick = f"give another path for the {what}"
    if target.is_dir():
        raise ConfigError(f"{what} {target} is a folder, not a file", hint=f"{pick}, e.g. {target / 'out'}")
    existing = _first_existing(target.parent)
    if not existing.is_dir():
        raise ConfigError(f"{what} {target} cannot be made: {existing} is a file", hint=pick)
    if (target.exists() or target.is_symlink()) and not force and not (ours is not None and ours(target)):
        raise ConfigError(
            f"{what} {target} already exists; refusing to write over it",
            hint=f"pass --force to replace it, or {pick}",
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder of {what} {target}: {exc.strerror or exc}", hint=pick
        ) from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{what} {target} is not writable: no write permission on {target.parent}", hint=pick
        )
    return target
