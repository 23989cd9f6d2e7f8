"""Progress for people (a rich bar on a terminal) and for log pipelines (JSON lines in a pod)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

LOG_EVERY_S = 5.0


def rate(nbytes: int, seconds: float) -> float:
    """MB/s (10^6 bytes per second), the unit every report uses."""
    return round(nbytes / 1e6 / max(seconds, 1e-9), 1)


class Reporter:
    """`start` once, `advance` per chunk, `event` for milestones.

    A bar on stderr when stderr is a terminal; otherwise JSON lines on stdout, which leaves stderr
    to the one-line error a failed command prints.
    """

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.stream = stream or (sys.stderr if self.tty else sys.stdout)
        self._bar = None
        self._task = None
        self._done = 0
        self._t0 = self._last = time.monotonic()

    def start(self, action: str, total_bytes: int, files: int) -> None:
        self._t0 = self._last = time.monotonic()
        self._done = 0
        if self.tty:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn(f"{action} {files} files"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=_console(self.stream),
            )
            self._bar.start()
            self._task = self._bar.add_task(action, total=total_bytes)
        else:
            self.event(f"{action}.start", totalBytes=total_bytes, files=files)

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
        if self._bar is not None:
            self._bar.update(self._task, advance=nbytes)
            return
        now = time.monotonic()
        if now - self._last >= LOG_EVERY_S:
            self._last = now
            self.event(
                "progress", bytes=self._done, seconds=round(now - self._t0, 2), MBps=rate(self._done, now - self._t0)
            )

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def event(self, name: str, **fields: Any) -> None:
        if self.tty:
            if self._bar is None:
                print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in fields.items()), file=self.stream)
            return
        print(json.dumps({"event": name, **fields}), file=self.stream, flush=True)


def _console(stream: TextIO):
    from rich.console import Console

    return Console(file=stream)
