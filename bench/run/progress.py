"""Live progress while a run goes: rich on a terminal, plain lines otherwise, nothing when quiet.

Every target running a level has its own line (or bar): one at a time in a sequential run,
all of them at once when targets are interleaved (docs/scenarios.md, "Order").

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

from bench.fmt import target_name
from bench.results.records import RequestRecord
from bench.schema import LoadLevel

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console
    from rich.progress import TaskID

_REFRESH_S = 1.0


class ProgressSink(Protocol):
    def start_level(
        self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None, shape: str = ""
    ) -> None: ...
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
        self.target = target
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
    def start_level(
        self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None, shape: str = ""
    ) -> None:
        pass

    def advance(self, record: RequestRecord) -> None:
        pass

    def end_level(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Running:
    """The levels under way: one per target, several at once when targets are interleaved.

    ``start_level`` is called once per target that runs the level (its name as the report
    names it: ``target_name``); a record goes to its own target's level, and ``end_level``
    ends them all, since an interleaved level ends when every target's part has ended.
    """

    def __init__(self) -> None:
        self.levels: dict[str, _LevelState] = {}

    def start(self, target: str, mode: str, level: float, total: int | None, warmup: int | None, shape: str) -> _LevelState:
        # Keyed by the target alone: one request shape of a target runs at a time.
        state = _LevelState(f"{target} [{shape}]" if shape else target, mode, level, total, warmup)
        self.levels[target] = state
        return state

    def of(self, record: RequestRecord) -> _LevelState:
        state = self.levels.get(target_name(record.target, record.client))
        if state is None and len(self.levels) == 1:  # a caller that names its one level otherwise
            state = next(iter(self.levels.values()))
        if state is None:
            raise KeyError(f"no level under way for {target_name(record.target, record.client)!r}")
        return state


class PlainProgress:
    """For logs and pipes: a line per quarter of each target's level (at most) and one when it ends."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._running = _Running()
        #: Per level under way (by target): requests between lines, and the count of the next line.
        self._every: dict[str, list[int]] = {}

    def start_level(
        self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None, shape: str = ""
    ) -> None:
        state = self._running.start(target, mode, level, total, warmup, shape)
        step = max(1, -(-(total or 100) // 4))
        self._every[state.target] = [step, step]

    def advance(self, record: RequestRecord) -> None:
        state = self._running.of(record)
        state.add(record)
        every = self._every[state.target]
        if state.done >= every[1]:
            every[1] += every[0]
            print(state.line(), file=self.stream, flush=True)

    def end_level(self) -> None:
        for state in self._running.levels.values():
            if state.done % self._every[state.target][0]:
                print(state.line(), file=self.stream, flush=True)
        self._running = _Running()
        self._every.clear()

    def close(self) -> None:
        pass


class RichProgress:
    """A bar per target's level; an interleaved level shows a bar for every target running it."""

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
        self._running = _Running()
        self._tasks: dict[str, TaskID] = {}
        self._last = 0.0

    def start_level(
        self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None, shape: str = ""
    ) -> None:
        state = self._running.start(target, mode, level, total, warmup, shape)
        self._tasks[target] = self._progress.add_task(state.label, total=total, status="")
        self._progress.refresh()

    def advance(self, record: RequestRecord) -> None:
        self._running.of(record).add(record)
        now = time.monotonic()
        if now - self._last >= _REFRESH_S:
            self._last = now
            self._update()

    def _update(self) -> None:
        for target, state in self._running.levels.items():
            self._progress.update(self._tasks[target], completed=state.done, status=f"{state.counts()}  {state.status()}")
        self._progress.refresh()

    def end_level(self) -> None:
        self._update()
        self._running = _Running()
        self._tasks.clear()

    def close(self) -> None:
        self._progress.stop()


def make_progress(quiet: bool) -> ProgressSink:
    if quiet:
        return NullProgress()
    if sys.stdout.isatty():
        return RichProgress()
    return PlainProgress()
