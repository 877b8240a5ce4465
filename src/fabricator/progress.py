"""A live progress bar with rate, ETA, tokens and cost (rich), or nothing when disabled."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class ProgressReporter:
    """Counts finished work items; shows tokens and cost as they are spent."""

    def __init__(self, *, enabled: bool = True, description: str = "generating",
                 console: Console | None = None) -> None:
        self.enabled = enabled
        self.description = description
        self._progress: Progress | None = None
        self._task: Any = None
        self._console = console

    def start(self, total: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[usage]}"),
                console=self._console or Console(stderr=True), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=total, rate="", usage="")
        else:
            self._progress.update(self._task, total=total)

    def advance(self) -> None:
        if self._progress is not None:
            task = self._progress.tasks[0]
            speed = task.speed
            self._progress.update(self._task, advance=1,
                                  rate=f"{speed:.1f} rows/s" if speed else "")

    def usage(self, tokens: int, cost: float | None) -> None:
        if self._progress is not None:
            text = f"{tokens:,} tok" + (f" ${cost:.4f}" if cost is not None else "")
            self._progress.update(self._task, usage=text)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
