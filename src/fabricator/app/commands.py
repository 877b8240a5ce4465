"""Console glue shared by the ``fabricator evaluate`` commands: JSON files and exit codes.

One home so that ``evaluate annotations`` and ``evaluate student`` print alike, write their
``--json`` file the same way and turn bad input into a message and exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from fabricator.errors import FabricatorError

__all__ = ["Command", "add_command", "command", "write_json"]


class Command(Protocol):
    """A command handler as ``fabricator.app.cli.main`` calls it; the streams default to sys's."""

    def __call__(
        self, args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> int: ...


def command(body: Callable[[argparse.Namespace, TextIO, TextIO], int]) -> Command:
    """Make ``body(args, stdout, stderr)`` a :class:`Command`: a :class:`FabricatorError` (bad
    input) becomes ``error: ...`` on stderr and exit status 2, never a traceback."""

    @functools.wraps(body)
    def run(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
        err = stderr or sys.stderr
        try:
            return body(args, stdout or sys.stdout, err)
        except FabricatorError as exc:
            print(f"error: {exc}", file=err)
            return 2

    return run


def add_command(
    subparsers: Any, name: str, handler: Command, *, help: str, description: str
) -> argparse.ArgumentParser:
    """Register sub-command ``name`` running ``handler``; returns its parser for the arguments.

    ``handler`` is what ``fabricator.app.cli.main`` calls; ``func`` (the same) is the usual argparse idiom.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(handler=handler, func=handler)
    return parser


def write_json(path: str | Path, data: Any, *, stdout: TextIO, stderr: TextIO) -> int:
    """Write ``data`` as indented JSON (folders created) and say so; 0, or 2 when it cannot."""
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {out}: {exc}", file=stderr)
        return 2
    print(f"result written to {out}", file=stdout)
    return 0
