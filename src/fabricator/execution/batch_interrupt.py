"""Ctrl-C during a batch run: cancel the submitted batches (paid work) only when the user says so.

Submitted batches run on at the provider whether or not this process waits for them, and a rerun
collects their answers without paying again; so the default is to leave them running. At a
terminal the user is asked (``cancel N submitted batches? [y/N]``, default no);
``batch_cancel_on_interrupt`` cancels without asking; with no terminal (a pipe, CI) nothing is asked
and they are left running.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

#: asks a yes/no question and returns the answer typed (``input`` at a terminal)
Ask = Callable[[str], str]


def should_cancel(batches: Sequence[str], cancel_on_interrupt: bool, ask: Ask | None = None) -> bool:
    """Whether to cancel ``batches`` after Ctrl-C (see module); ``ask``: injected by tests."""
    if cancel_on_interrupt:
        return True
    if ask is None:
        if not sys.stdin.isatty():
            return False
        ask = input
    try:
        answer = ask(f"cancel {len(batches)} submitted batches? [y/N] ")
    except (EOFError, KeyboardInterrupt):  # a second Ctrl-C or a closed stdin: the default, no
        return False
    return answer.strip().lower() in ("y", "yes")


__all__ = ["Ask", "should_cancel"]
