"""SIGINT and SIGTERM for a whole ``bench run`` command: the first stops the run, the rest wait.

A run must end the same way however many signals arrive — 130, a final run.json, the summary
and the report. Handlers that come and go with the event loop (asyncio's and anyio's signal
receivers reset SIGINT to Python's default on the way out) leave windows where a second
Ctrl-C raises KeyboardInterrupt half-way through the results. So the command installs these
plain Python handlers once, for its whole life: while a run is attached, the first signal
cancels it (thread-safely, through its loop); before that, it interrupts as usual; every later
signal only says the run is already stopping.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

Warn = Callable[[str], None]


class StopSignals:
    def __init__(self, warn: Warn) -> None:
        self._warn = warn
        self._cancel: Callable[[], None] | None = None
        self.received = 0

    def install(self) -> StopSignals:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def attach(self, loop: Any, cancel: Callable[[], None]) -> None:
        """While a run is under way, the first signal calls ``cancel`` in ``loop``."""
        self._cancel = lambda: loop.call_soon_threadsafe(cancel)

    def detach(self) -> None:
        self._cancel = None

    def _handle(self, signum: int, frame: object) -> None:
        self.received += 1
        name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        if self.received == 1 and self._cancel is not None:
            self._warn(f"interrupted ({name}): cancelling requests in flight; everything finished is on disk")
            self._cancel()
        elif self.received == 1:
            raise KeyboardInterrupt  # no run yet: stop at once, as any command would
        else:
            self._warn("already stopping: writing the results, summary and report of what finished")
