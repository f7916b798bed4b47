"""Live progress while a run goes: rich on a terminal, plain lines otherwise, nothing when quiet.

Rendering competes with chunk stamping for the one event loop (and the GIL), so the rich
display is refreshed from the loop at most once a second, never from a thread: a refresh
takes 1-2 ms on a 2-core box, every read that arrives meanwhile is stamped late, and at four
a second that reached the TTFT p99 at 16 streams. The running median is kept sorted as
records arrive (no sort of the whole level per refresh).
"""

from __future__ import annotations

import bisect
import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.results.records import RequestRecord
from bench.schema import LoadLevel

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console
    from rich.progress import TaskID

_REFRESH_S = 1.0


class ProgressSink(Protocol):
    def start_level(self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None) -> None: ...
    def advance(self, record: RequestRecord) -> None: ...
    def end_level(self) -> None: ...
    def close(self) -> None: ...


class _LevelState:
    """One level's counts, warm-up apart from measured: warm-up requests never enter a
    statistic, so a display that mixed them in would promise more data than there is.

    ``total`` counts every request of the level (warm-up included); ``warmup`` is how many of
    them are warm-up, or None when the caller did not say.
    """

    def __init__(self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None) -> None:
        self.label = f"{target} {LoadLevel.of(mode, level).text}"
        self.total = total
        self.warmup_total = warmup
        self.done = 0
        self.warm_done = 0
        self.warm_errors = 0
        self.errors = 0
        self.ttft: list[float] = []

    @property
    def measured_done(self) -> int:
        return self.done - self.warm_done

    def add(self, record: RequestRecord) -> None:
        self.done += 1
        if record.warmup:
            self.warm_done += 1
            self.warm_errors += record.status != "ok"
        elif record.status != "ok":
            self.errors += 1
        elif record.ttft_ms is not None:
            bisect.insort(self.ttft, record.ttft_ms)

    def counts(self) -> str:
        """'measured 8/50, warm-up 3/3 (1 failed)', or without totals when they are unknown."""
        known = self.total is not None and self.warmup_total is not None
        measured = f"measured {self.measured_done}"
        if self.total is not None and self.warmup_total is not None:
            measured += f"/{self.total - self.warmup_total}"
        warm = ""
        if self.warm_done or self.warmup_total:
            warm = f", warm-up {self.warm_done}" + (f"/{self.warmup_total}" if self.warmup_total is not None else "")
            if self.warm_errors:
                warm += f" ({self.warm_errors} failed)"
        if not known and self.total is not None:
            warm += f" ({self.done}/{self.total} in all)"
        return measured + warm

    def status(self) -> str:
        ttft, n = self.ttft, len(self.ttft)  # sorted
        p50 = f"{(ttft[n // 2] + ttft[(n - 1) // 2]) / 2:.1f} ms" if n else "–"
        return f"{self.errors} errors, TTFT p50 {p50}"

    def line(self) -> str:
        return f"{self.label}: {self.counts()}, {self.status()}"


class NullProgress:
    def start_level(self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None) -> None:
        pass

    def advance(self, record: RequestRecord) -> None:
        pass

    def end_level(self) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """For logs and pipes: a line per quarter of a level (at most) and one when it ends."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.state: _LevelState | None = None
        self._next_report = 0

    def start_level(self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None) -> None:
        self.state = _LevelState(target, mode, level, total, warmup)
        self._step = max(1, -(-(total or 100) // 4))
        self._next_report = self._step

    def advance(self, record: RequestRecord) -> None:
        assert self.state is not None
        self.state.add(record)
        if self.state.done >= self._next_report:
            self._next_report += self._step
            print(self.state.line(), file=self.stream, flush=True)

    def end_level(self) -> None:
        if self.state is not None and self.state.done % self._step:
            print(self.state.line(), file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress:
    def __init__(self, console: Console | None = None) -> None:

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            auto_refresh=False,
            transient=False,
            console=console,
        )
        self._progress.start()
        self.state: _LevelState | None = None
        self._task: TaskID | None = None
        self._last = 0.0

    def start_level(self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None) -> None:
        self.state = _LevelState(target, mode, level, total, warmup)
        self._task = self._progress.add_task(self.state.label, total=total, status="")
        self._progress.refresh()

    def advance(self, record: RequestRecord) -> None:
        assert self.state is not None and self._task is not None
        self.state.add(record)
        now = time.monotonic()
        if now - self._last >= _REFRESH_S:
            self._last = now
            self._update()

    def _update(self) -> None:
        assert self.state is not None and self._task is not None
        self._progress.update(self._task, completed=self.state.done, status=f"{self.state.counts()}  {self.state.status()}")
        self._progress.refresh()

    def end_level(self) -> None:
        if self.state is not None:
            self._update()

    def close(self) -> None:
        self._progress.stop()


def make_progress(quiet: bool) -> ProgressSink:
    if quiet:
        return NullProgress()
    if sys.stdout.isatty():
        return RichProgress()
    return PlainProgress()
