"""Progress displays for long work: a Rich bar on a terminal, plain log lines otherwise
(so logs from cron or CI stay readable)."""

from __future__ import annotations

import logging
import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger("gis")


class RichProgress:
    def __init__(self, console: Console, unit: str = "features") -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: int | None = None

    def start(self, description: str, total: int | None) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            if task.total is None:
                self._progress.update(self._task, total=task.completed)  # type: ignore[arg-type]
        self._progress.stop()


class LogProgress:
    """One line at the start, one every few seconds, one at the end."""

    def __init__(self, every_seconds: float = 5.0, unit: str = "features") -> None:
        self.every = every_seconds
        self.unit = unit
        self.done = 0
        self.total: int | None = None
        self.description = ""
        self._last = 0.0

    def start(self, description: str, total: int | None) -> None:
        self.description, self.total, self.done = description, total, 0
        self._last = time.monotonic()
        log.info("%s: started (%s %s)", description, total if total is not None else "?", self.unit)

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s: %d/%s %s", self.description, self.done, self.total or "?", self.unit)

    def stop(self) -> None:
        if self.description:
            log.info("%s: done, %d %s", self.description, self.done, self.unit)


def make_progress(
    console: Console, every_seconds: float = 5.0, unit: str = "features"
) -> RichProgress | LogProgress:
    """A Rich bar on a terminal, else log lines every ``every_seconds``; ``unit`` names
    what is counted (features, tiles)."""
    if console.is_terminal and sys.stderr.isatty():
        return RichProgress(console, unit)
    return LogProgress(every_seconds, unit)
