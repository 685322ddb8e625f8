"""What a running scan shows on stderr, and the per-clip JSON Lines stream (``--jsonl``).

In a terminal: a Rich progress bar that fits the terminal's width (the clip name is shortened first). Without a
terminal (a log file, CI, ``nohup``): a plain line every ``PROVENANCE_PROGRESS_SECONDS`` seconds (default 10)
with the clips done, the rate and the time left, so that a log shows the scan moving. Rates and the time left
are shown only once enough work is done to measure them (:data:`MEASURE_SECONDS` of scanning and a clip done).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column

if TYPE_CHECKING:
    from pathlib import Path

    from provenance.audit import ClipDone

__all__ = ["MEASURE_SECONDS", "ClipStream", "ScanProgress", "clock"]

#: Seconds of scanning before a rate or a time left is shown (the first clips say little about the rest).
MEASURE_SECONDS = 3.0


def clock(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class _Rates:
    """Clips done, video seconds and bytes over the time since the first clip was handed to the workers."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.done = 0
        self.total = 0
        self.video_s = 0.0
        self.bytes = 0
        self.total_bytes = 0
        self.reused = 0

    def start(self, now: float) -> None:
        if self.started is None:
            self.started = now

    def add(self, event: ClipDone, now: float) -> None:
        self.start(now)
        self.done, self.total, self.total_bytes = event.done, event.total, event.total_bytes
        self.reused += bool(event.cached)
        self.video_s += float(event.clip.get("duration_s") or 0.0)
        self.bytes += event.size

    def text(self, now: float) -> str:
        """``1.25 clips/s, 3.1x realtime, ETA 2:40`` once measurable, else ``measuring rate``."""
        elapsed = now - (self.started if self.started is not None else now)
        if elapsed < MEASURE_SECONDS or self.done - self.reused < 1:
            return "measuring rate"
        rate = self.done / elapsed
        if self.total_bytes and self.bytes:  # by bytes: long and short clips mixed
            left = (self.total_bytes - self.bytes) / (self.bytes / elapsed)
        else:
            left = (self.total - self.done) / rate
        return f"{rate:.2f} clips/s, {self.video_s / elapsed:.1f}x realtime, ETA {clock(left)}"


class ScanProgress:
    """The scan's progress on ``console`` (stderr): a bar in a terminal, periodic lines otherwise.

    ``message`` is the scan's progress callback (reference fingerprinting), ``clip`` its ``on_clip``.
    """

    def __init__(self, console: Console, interval: float | None = None) -> None:
        self.console = console
        self.rates = _Rates()
        self.terminal = console.is_terminal
        if interval is None:
            interval = float(os.environ.get("PROVENANCE_PROGRESS_SECONDS", "10") or 10)
        self.interval = max(0.0, interval)
        self.last_line = float("-inf")
        self.phase = ""
        self.bar: Progress | None = None
        if self.terminal:
            self.bar = Progress(
                TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                BarColumn(bar_width=16),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rates]}", table_column=Column(no_wrap=True)),
                console=console,
                transient=True,
                expand=True,
            )
            self.task = self.bar.add_task("starting", total=None, rates="")

    @property
    def reused(self) -> int:
        return self.rates.reused

    def __enter__(self) -> ScanProgress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def message(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(self.task, description=what, completed=done, total=total)
            return
        phase = what.split(" ", 1)[0]
        if phase != self.phase or now - self.last_line >= self.interval:
            self.phase, self.last_line = phase, now
            self._line(f"{what} ({done}/{total})" if total and what != "done" else what)

    def clip(self, event: ClipDone) -> None:
        now = time.monotonic()
        self.rates.add(event, now)
        rates = self.rates.text(now)
        if self.bar is not None:
            self.bar.update(
                self.task, description=event.clip["path"], completed=event.done, total=event.total, rates=rates
            )
            return
        if now - self.last_line >= self.interval or event.done == event.total:
            self.last_line = now
            pct = 100 * event.done / event.total if event.total else 100.0
            self._line(f"{event.done}/{event.total} clips ({pct:.0f}%), {rates}")

    def _line(self, text: str) -> None:
        self.console.print(f"scan: {text}", highlight=False, markup=False)


class ClipStream:
    """``--jsonl``: each clip's report object on one line as it finishes (``-``: standard output), flushed."""

    def __init__(self, target: Path) -> None:
        self.name = str(target)
        self.stdout = self.name == "-"
        self.fh: IO[str] = sys.stdout if self.stdout else open(target, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, clip: dict[str, Any]) -> None:
        self.fh.write(json.dumps(clip, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.fh.flush()

    def close(self) -> None:
        if not self.stdout:
            self.fh.close()
