"""``fabricator status RUN_DIR``: the batches a run submitted, read from its journal, no call made.

A batch run (``engine: batch``) can be left and collected later; this says what it left: each batch
file written down in ``journal/batches.jsonl`` (its batch id, its requests, done or not) and what
running ``fabricator generate`` again would do with them. It reads the journal only: the provider
is not asked, so a batch still running shows as submitted, not with the provider's counts.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..execution.batch_store import BATCHES_FILE, BatchStore, Submitted
from .safe_files import claim_file

__all__ = ["BatchStatus", "RunStatus", "add_status_parser", "run_status"]


@dataclass(frozen=True)
class BatchStatus:
    """One batch file of the journal as written down."""

    file: str
    batch: str | None  # None: uploaded, the batch never created (the rerun creates it)
    requests: int
    done: bool

    @property
    def state(self) -> str:
        if self.done:
            return "done (answers in the journal)"
        return "submitted, not read back" if self.batch else "uploaded, batch not created"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "batch": self.batch, "requests": self.requests, "done": self.done,
                "state": self.state}  # fmt: skip


@dataclass(frozen=True)
class RunStatus:
    """The batches of one run folder and what a rerun does with them."""

    journal: Path
    batches: tuple[BatchStatus, ...]

    @property
    def open(self) -> list[BatchStatus]:
        return [b for b in self.batches if not b.done]

    @property
    def next_step(self) -> str:
        if not self.batches:
            return "no batch was submitted: `fabricator generate` sends the run's requests as new batches"
        if not self.open:
            return (
                "every batch is read back: `fabricator generate` answers from the journal and sends "
                "only requests never submitted (re-asks, top-ups) as new batches"
            )
        pending = sum(b.requests for b in self.open)
        return (
            f"`fabricator generate` (same recipe, same output folder) polls the {len(self.open)} open "
            f"batch(es) for their {pending} requests without paying for them again, then sends only "
            "requests never submitted"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal),
            "batches": [b.as_dict() for b in self.batches],
            "open": len(self.open),
            "next": self.next_step,
        }

    def lines(self) -> list[str]:
        rows = [f"  {b.batch or '-':<24}{b.requests:>8} requests  {b.state}" for b in self.batches]
        return [f"batches of {self.journal / BATCHES_FILE}:", *rows, f"next: {self.next_step}"]


def _journal_of(run_dir: Path) -> Path:
    """The run folder's journal (``RUN_DIR/journal``), or ``RUN_DIR`` when it is the journal."""
    for folder in (run_dir / "journal", run_dir):
        if (folder / BATCHES_FILE).exists():
            return folder
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a folder", hint="name a run's output folder (generate -o)")
    return run_dir / "journal"


def _status_of(submitted: Submitted) -> BatchStatus:
    return BatchStatus(submitted.file, submitted.batch, len(submitted.keys), submitted.done)


def run_status(run_dir: str | Path) -> RunStatus:
    """What ``run_dir``'s journal says about its batches."""
    journal = _journal_of(Path(run_dir))
    store = BatchStore(journal if journal.is_dir() else None)
    return RunStatus(journal, tuple(_status_of(s) for s in store.files.values()))


def _status_command(args: argparse.Namespace) -> int:
    json_out = claim_file(args.json, force=args.force, what="--json file") if args.json else None
    status = run_status(args.output)
    print("\n".join(status.lines()))
    if json_out is not None:
        json_out.write_text(json.dumps(status.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


def add_status_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fabricator status RUN_DIR [--json OUT]``."""
    status = commands.add_parser("status", help="the batches a run submitted and what a rerun does")
    status.add_argument("output", metavar="RUN_DIR", help="the output folder of a run (or its journal)")
    status.add_argument("--json", metavar="OUT", help="also write the batches as JSON here")
    status.add_argument("--force", action="store_true", help="write over an existing --json file")
    status.set_defaults(handler=_status_command)
