"""The output folder of a run: checked, marked and locked before any model call.

A run writes only into a folder that is new, empty, or one Fabricator made (it holds the marker
file ``.fabricator-output``), so a careless ``output: .`` cannot overwrite a recipe, an input
file or other files of the user. An OS lock (``flock`` on ``.fabricator.lock``) held for the whole
run refuses a second run on the same folder at once, instead of both paying for every request.
Files are written to a temporary name and moved into place, so a crash never leaves half a file,
their modes follow the umask like any other file's, and only what Fabricator wrote is ever removed.
Single-file targets of any command (``--json``, ``--plot``, review exports) go through
:func:`claim_file`: an existing file is refused unless it is ours or ``--force`` is given.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..errors import ConfigError
from .card import CARD, is_card
from .safe_files import atomic_write, claim_file, expand_path, temp_folder

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK",
    "MARKER",
    "OUTPUT_NAMES",
    "OutputFolder",
    "atomic_write",
    "claim_file",
    "claim_output",
    "expand_path",
]

log = logging.getLogger(__name__)

MARKER = ".fabricator-output"
LOCK = ".fabricator.lock"
#: what a run writes into its folder (files, and the folders ``dataset`` and ``journal``)
OUTPUT_NAMES = (
    "dataset",
    "data.jsonl",
    "provenance.jsonl",
    "failures.jsonl",
    "recipe.yaml",
    "metadata.json",
    "log.jsonl",
    CARD,  # README.md, the dataset card (fabricator.app.card): written over only when it is ours
    "report.html",  # the run's report page (fabricator.app.view)
    "student_loop.png",  # the student loop's accuracy per round (fabricator.app.card_student)
    "journal",
)
_FOLDERS = ("dataset", "journal")
# what ``Dataset.save_to_disk`` writes: the only files ever removed from an old ``dataset/``
_SAVED_DATASET = re.compile(r"(state\.json|dataset_info\.json|data-\d+-of-\d+\.arrow)")
_PICK_ANOTHER = "pick a new or empty folder for the output (-o PATH or the recipe's 'output')"


def _ours(name: str) -> bool:
    """Whether a name in an output folder is one a run writes (outputs, journals set aside, temp)."""
    return (
        name in OUTPUT_NAMES
        or name in (MARKER, LOCK)
        or name.startswith("journal.old-")
        or name.startswith(".fabricator-tmp-")
    )


def _legacy(folder: Path, names: list[str]) -> bool:
    """An output folder of a Fabricator from before the marker: only our names, our metadata.json."""
    if "metadata.json" not in names or not all(_ours(n) for n in names):
        return False
    try:
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "summary" in meta and "versions" in meta


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _claimable(names: list[str]) -> bool:
    """Only a lock and temporary files: a run is claiming the folder right now (or crashed doing it)."""
    return all(n == LOCK or n.startswith(".fabricator-tmp-") for n in names)


class OutputFolder:
    """A checked output folder; ``claim`` marks and locks it, ``release`` unlocks it."""

    def __init__(
        self, path: str | Path, *, inputs: Iterable[str | Path] = (), recipe: str | Path | None = None
    ) -> None:
        self.path = expand_path(path, "output")
        self._inputs = [expand_path(p, "input") for p in inputs]
        self._recipe = expand_path(recipe, "recipe").resolve() if recipe is not None else None
        self._lock: IO[str] | None = None

    # --- checks ---------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``ConfigError`` unless a run may write here; changes nothing on disk."""
        path = self.path
        try:
            if path.exists() and not path.is_dir():
                raise ConfigError(f"output {path} is a file, not a folder", hint=_PICK_ANOTHER)
            existing = next((p for p in (path, *path.parents) if p.exists()), Path.cwd())
            if not existing.is_dir():
                raise ConfigError(f"output {path} cannot be made: {existing} is a file", hint=_PICK_ANOTHER)
            if not os.access(existing, os.W_OK | os.X_OK):
                raise ConfigError(
                    f"output {path} is not writable: no write permission on {existing}",
                    hint="pick an output folder you can write to",
                )
            if existing == path:
                self._check_contents()
        except OSError as exc:
            raise ConfigError(
                f"output {path} cannot be used: {exc.strerror or exc}", hint=_PICK_ANOTHER
            ) from None
        self._check_inputs()

    def _check_contents(self) -> None:
        names = sorted(os.listdir(self.path))
        if not (MARKER in names or _claimable(names) or _legacy(self.path, names)):
            others = [n for n in names if n not in (MARKER, LOCK)]
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise ConfigError(
                f"output folder {self.path} already holds files Fabricator did not write ({shown}); "
                "refusing to write there",
                hint=_PICK_ANOTHER + ", e.g. -o runs/first",
            )
        for name in OUTPUT_NAMES:
            target = self.path / name
            if not (target.exists() or target.is_symlink()):
                continue
            if name in _FOLDERS and (not target.is_dir() or (name == "dataset" and target.is_symlink())):
                raise ConfigError(
                    f"{target} is not a folder Fabricator made",
                    hint=f"move {target} away, or {_PICK_ANOTHER}",
                )
            if name not in _FOLDERS and (target.is_dir() or target.is_symlink()):
                raise ConfigError(
                    f"{target} is a folder or link where Fabricator writes a file",
                    hint=f"move {target} away, or {_PICK_ANOTHER}",
                )
            if name == CARD and not is_card(target):  # a README of the user's, not our dataset card
                raise ConfigError(
                    f"{target} is not a dataset card Fabricator wrote; refusing to write over it",
                    hint=f"move {target} away, or {_PICK_ANOTHER}",
                )
        dataset = self.path / "dataset"
        if dataset.is_dir():
            foreign = [n for n in sorted(os.listdir(dataset)) if not _SAVED_DATASET.fullmatch(n)]
            if foreign:
                raise ConfigError(
                    f"{dataset} holds files Fabricator did not write ({', '.join(foreign[:5])})",
                    hint=f"move them away, or {_PICK_ANOTHER}",
                )

    def _check_inputs(self) -> None:
        """No input of the run may be an output of it (overwritten, or read back as data)."""
        folder = self.path.resolve()
        for given in self._inputs:
            source = given.resolve()
            clash = next((n for n in OUTPUT_NAMES if _within(source, folder / n)), None)
            if source == folder or clash is not None:
                what = "the output folder" if clash is None else f"the '{clash}' output"
                raise ConfigError(
                    f"input {given} is {what} of this run: it would be overwritten or read back as data",
                    hint="move the input out of the output folder, or pick another output folder",
                )

    # --- claim and release ----------------------------------------------------------------------

    def _refuse_if_in_use(self) -> None:
        """Say "in use" when another run holds the folder: what it writes meanwhile is not foreign."""
        if fcntl is None or not (self.path / LOCK).is_file():
            return
        try:
            with open(self.path / LOCK, encoding="utf-8") as probe:
                try:
                    fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    self._in_use(probe.read().strip())
        except OSError:
            return

    def _in_use(self, holder: str) -> None:
        who = f" (process {holder})" if holder.isdigit() else ""
        raise ConfigError(
            f"output folder {self.path} is in use by another Fabricator run{who}",
            hint="wait for that run to finish, or pick another output folder",
        )

    def claim(self) -> OutputFolder:
        """Check, create, lock and mark the folder; a second run on it is refused at once."""
        try:
            self.check()
        except ConfigError:
            self._refuse_if_in_use()  # another run's files mid-write are no reason to blame the user
            raise
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = open(self.path / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
        except OSError as exc:
            raise ConfigError(
                f"cannot create output folder {self.path}: {exc.strerror or exc}",
                hint="pick an output folder you can write to",
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.seek(0)
                holder = lock.read().strip()
                lock.close()
                self._in_use(holder)
        self._lock = lock
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
            self._check_contents()  # again, under the lock: another run may have written meanwhile
            if not (self.path / MARKER).exists():
                self.write_text(
                    MARKER,
                    json.dumps({"written_by": "fabricator", "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
                    + "\n",
                )
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # closing the file drops the flock

    def __enter__(self) -> OutputFolder:
        return self.claim()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # --- writing --------------------------------------------------------------------------------

    def is_input(self, name: str) -> bool:
        """Whether ``name`` in this folder is the recipe the run reads (never written over)."""
        return self._recipe is not None and (self.path / name).resolve() == self._recipe

    def start_log(self, name: str = "log.jsonl") -> Path:
        """Start the run's call log afresh: it holds what this run did, not every run's answers."""
        path = self.path / name
        if path.is_file():
            path.unlink()
        return path

    def write_file(self, name: str, writer: Callable[[Path], Any]) -> None:
        """``writer(tmp)`` writes a temporary file, which then replaces ``name`` in one step."""
        if self.is_input(name):
            log.info("not writing %s: it is the recipe of this run", self.path / name)
            return
        atomic_write(self.path / name, writer)

    def write_text(self, name: str, text: str) -> None:
        self.write_file(name, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def write_dataset(self, dataset: Any, name: str = "dataset") -> None:
        """``save_to_disk`` into a temporary folder, then swap it in; old files removed are ours."""
        tmp = temp_folder(self.path)
        target = self.path / name
        try:
            dataset.save_to_disk(str(tmp))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        if target.is_dir():
            old = temp_folder(self.path)
            os.replace(target, old)  # onto an empty folder: allowed by rename(2)
        os.replace(tmp, target)
        if old is not None:
            _remove_saved_dataset(old)


def _remove_saved_dataset(folder: Path) -> None:
    """Remove the files ``save_to_disk`` wrote, then the folder if nothing else is left in it."""
    for entry in folder.iterdir():
        if _SAVED_DATASET.fullmatch(entry.name) and entry.is_file():
            entry.unlink()
    try:
        folder.rmdir()
    except OSError:
        log.warning("left %s in place: it holds files Fabricator did not write", folder)


@contextmanager
def claim_output(
    path: str | Path, *, inputs: Iterable[str | Path] = (), recipe: str | Path | None = None
) -> Iterator[OutputFolder]:
    """``with claim_output(out, inputs=[...]) as folder:`` the folder is checked and locked inside."""
    folder = OutputFolder(path, inputs=inputs, recipe=recipe)
    with folder:
        yield folder
