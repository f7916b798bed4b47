"""Load profiles: when each request of a level is sent. Nothing here knows about providers.

- Closed loop (``concurrency = N``): N workers, each sends its next request when its last one
  ends. Warm-up requests run first, as their own phase, so measured requests never overlap
  the cold start.
- Open loop (``rate = λ``): Poisson arrivals, seeded, sent at their due time whether or not
  earlier requests finished. How late each one actually started is recorded, so a saturated
  client (coordinated omission) shows in the data instead of hiding in it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

import anyio

from bench.timing import now_ns


@dataclass(frozen=True, slots=True)
class Slot:
    """One request to send: its index in the level, whether it is warm-up, when it was due."""

    index: int
    warmup: bool
    due_ns: int | None = None
    level_start_ns: int | None = None


Send = Callable[[Slot], Awaitable[None]]


class LoadProfile(Protocol):
    async def drive(self, send: Send) -> None: ...


@dataclass(frozen=True)
class ClosedLoop:
    concurrency: int
    requests: int | None
    warmup: int = 0
    duration_s: float | None = None

    async def drive(self, send: Send) -> None:
        if self.warmup:
            await self._phase(send, range(self.warmup), True, None)
        deadline = now_ns() + int(self.duration_s * 1e9) if self.duration_s else None
        total = self.requests if self.requests is not None else None
        await self._phase(send, range(self.warmup, self.warmup + total) if total is not None else None, False, deadline)

    async def _phase(self, send: Send, indices: range | None, warmup: bool, deadline_ns: int | None) -> None:
        counter = iter(indices) if indices is not None else _count(self.warmup)
        workers = self.concurrency if indices is None else min(self.concurrency, len(indices))

        async def worker() -> None:
            for index in counter:
                if deadline_ns is not None and now_ns() >= deadline_ns:
                    return
                await send(Slot(index, warmup))

        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)


def _count(start: int):  # type: ignore[no-untyped-def]
    index = start
    while True:
        yield index
        index += 1


@dataclass(frozen=True)
class OpenLoop:
    rate: float
    requests: int | None
    warmup: int = 0
    duration_s: float | None = None
    seed: int = 0

    def arrivals_s(self) -> list[float]:
        """Due times in seconds from the level's start: exponential gaps (Poisson process)."""
        rng = random.Random(self.seed)
        times: list[float] = []
        t = 0.0
        limit = self.warmup + self.requests if self.requests is not None else math.inf
        horizon = (self.duration_s or math.inf) + self.warmup / self.rate
        while len(times) < limit:
            t += rng.expovariate(self.rate)
            if t > horizon:
                break
            times.append(t)
        return times

    async def drive(self, send: Send) -> None:
        start = now_ns()
        async with anyio.create_task_group() as tg:
            for index, due_s in enumerate(self.arrivals_s()):
                due = start + int(due_s * 1e9)
                delay = (due - now_ns()) / 1e9
                if delay > 0:
                    await anyio.sleep(delay)
                tg.start_soon(send, Slot(index, index < self.warmup, due, start))


def profile_for(mode: str, level: float, *, requests: int | None, warmup: int, duration_s: float | None, seed: int) -> LoadProfile:
    if mode == "concurrency":
        return ClosedLoop(int(level), requests, warmup, duration_s)
    return OpenLoop(level, requests, warmup, duration_s, seed)


def pool_size(mode: str, level: float, timeout_s: float) -> int:
    """Connections a level can need at once, so no request waits for one after t0."""
    if mode == "concurrency":
        return max(1, int(level))
    # Open loop: Little's law with the timeout as the worst-case latency, within sane bounds.
    return max(8, min(1000, math.ceil(level * min(timeout_s, 60.0))))
