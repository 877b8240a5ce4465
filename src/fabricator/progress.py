"""A live progress bar with rate, ETA, tokens and cost (rich), or nothing when disabled."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.file_proxy import FileProxy
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressReporter:
    """Counts finished work items; shows tokens and cost as they are spent."""

    def __init__(
        self, *, enabled: bool = True, description: str = "generating", console: Console | None = None
    ) -> None:
        self.enabled = enabled
        self.description = description
        self._progress: Progress | None = None
        self._task: Any = None
        self._console = console
        self._rerouted: list[tuple[logging.StreamHandler[Any], TextIO]] = []
        self._level = ""  # "in flight 12/64" while adaptive concurrency holds the run below its ceiling
        self._batches = ""  # engine="batch": "batch-1 in_progress 40/100" for each batch watched

    def start(self, total: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[usage]}"),
                TextColumn("{task.fields[level]}"),
                TextColumn("{task.fields[batches]}"),
                console=self._console or Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._reroute_logging()
            self._task = self._progress.add_task(
                self.description, total=total, rate="", usage="", level=self._level, batches=self._batches
            )
        else:
            self._progress.update(self._task, total=total)

    def advance(self) -> None:
        if self._progress is not None:
            task = self._progress.tasks[0]
            speed = task.speed
            self._progress.update(self._task, advance=1, rate=f"{speed:.1f} rows/s" if speed else "")

    def usage(self, tokens: int, cost: float | None) -> None:
        if self._progress is not None:
            text = f"{tokens:,} tok" + (f" ${cost:.4f}" if cost is not None else "")
            self._progress.update(self._task, usage=text)

    def concurrency(self, level: int, ceiling: int) -> None:
        """Show how many requests may be in flight now, while that is fewer than configured."""
        self._level = f"in flight {level}/{ceiling}" if level < ceiling else ""
        if self._progress is not None:
            self._progress.update(self._task, level=self._level)

    def batches(self, text: str) -> None:
        """Show the batches being watched and their counts (``engine="batch"``: rows come per batch)."""
        self._batches = text
        if self._progress is not None:
            self._progress.update(self._task, batches=text)

    def stop(self) -> None:
        if self._progress is not None:
            for handler, stream in self._rerouted:
                handler.setStream(stream)
            self._rerouted.clear()
            self._progress.stop()
            self._progress = None

    def _reroute_logging(self) -> None:
        """Send stderr log lines (e.g. "waiting 42 s") above the live bar, not under its next redraw.

        rich redirects ``sys.stderr`` while the bar is live, but a logging handler made earlier
        still holds the real stream; point such handlers at the redirect until the bar stops.
        """
        proxy = sys.stderr
        if not isinstance(proxy, FileProxy):
            return
        real = proxy.rich_proxied_file
        for logger in (logging.getLogger(), logging.getLogger("fabricator")):
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is real:
                    self._rerouted.append((handler, handler.setStream(proxy) or real))
