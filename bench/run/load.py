"""Load profiles: when each request of a level is sent. Nothing here knows about providers.

- Closed loop (``concurrency = N``): N workers, each sends its next request when its last one
  ends. Warm-up requests run first, as their own phase, so measured requests never overlap
  the cold start.
- Open loop (``rate = λ``): Poisson arrivals, seeded, sent at their due time whether or not
  earlier requests finished. How late each one actually started is recorded, so a saturated
  client (coordinated omission) shows in the data instead of hiding in it. ``burstiness``
  makes the gaps gamma-distributed (vLLM's rule) and ``ramp_up_s`` raises the rate linearly
  from 0 over the level's first seconds (docs/scenarios.md).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from bench.timing import now_ns


@dataclass(frozen=True, slots=True)
class Slot:
    """One request to send: its index in the level, whether it is warm-up, when it was due."""

    index: int
    warmup: bool
    due_ns: int | None = None
    level_start_ns: int | None = None


Send = Callable[[Slot], Coroutine[Any, Any, None]]


class LoadProfile(Protocol):
    async def drive(self, send: Send) -> None: ...


@dataclass(frozen=True)
class ClosedLoop:
    """``concurrency`` streams; with workers, this process's share of the level's streams,
    requests and warm-up. Its warm-up takes the level's indices from ``warmup_first`` and its
    measured requests those from ``request_first`` (default: right after its warm-up), each a
    consecutive block, so together the workers use exactly the one process's indices (warm-up
    first); a level bounded by time only counts up from ``request_first`` by ``workers``."""

    concurrency: int
    requests: int | None
    warmup: int = 0
    duration_s: float | None = None
    worker: int = 0
    workers: int = 1
    start_ns: int | None = None
    warmup_first: int = 0
    request_first: int | None = None

    async def drive(self, send: Send) -> None:
        if self.concurrency < 1:
            return
        await _wait_until(self.start_ns)
        if self.warmup:
            await self._phase(send, iter(range(self.warmup_first, self.warmup_first + self.warmup)), self.warmup, True, None)
        deadline = now_ns() + int(self.duration_s * 1e9) if self.duration_s else None
        first = self.warmup_first + self.warmup if self.request_first is None else self.request_first
        if self.requests is not None:
            await self._phase(send, iter(range(first, first + self.requests)), self.requests, False, deadline)
        else:
            await self._phase(send, itertools.count(first, self.workers), None, False, deadline)

    async def _phase(self, send: Send, counter: Iterator[int], count: int | None, warmup: bool, deadline_ns: int | None) -> None:
        workers = self.concurrency if count is None else min(self.concurrency, count)

        async def stream() -> None:
            for index in counter:
                if deadline_ns is not None and now_ns() >= deadline_ns:
                    return
                await send(Slot(index, warmup))

        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(stream)


async def _wait_until(start_ns: int | None) -> None:
    """Workers start a level together: each sleeps until the shared moment (same clock)."""
    if start_ns is not None:
        delay = (start_ns - now_ns()) / 1e9
        if delay > 0:
            await anyio.sleep(delay)


def ramped(t: float, ramp_up_s: float) -> float:
    """When an arrival due at ``t`` on a steady clock is due once the rate ramps up linearly
    from 0 over ``ramp_up_s``: the time at which the ramped process has offered as many
    arrivals as the steady one by ``t`` (equal integrated rate). The first ``ramp_up_s / 2``
    steady seconds fill the ramp (``t' = sqrt(2·ramp·t)``), every later one is shifted by half
    the ramp, so after it the level runs at its full rate."""
    if t < ramp_up_s / 2:
        return math.sqrt(2 * ramp_up_s * t)
    return t + ramp_up_s / 2


@dataclass(frozen=True)
class OpenLoop:
    """Arrivals at ``rate`` (Poisson, or gamma gaps of shape ``burstiness``, optionally ramped);
    with workers, every ``workers``-th arrival of the one seeded process from ``worker`` on, so
    together they offer exactly the single-process load."""

    rate: float
    requests: int | None
    warmup: int = 0
    duration_s: float | None = None
    seed: int = 0
    worker: int = 0
    workers: int = 1
    start_ns: int | None = None
    burstiness: float = 1.0
    ramp_up_s: float = 0.0
    #: Due times given outright (a replayed trace's), instead of drawn.
    times: tuple[float, ...] | None = None
    #: How long before its due time each arrival's task starts (0: at the due time). Only for a
    #: sender that builds its request first and then awaits :func:`wait_due`: the building
    #: (a long prompt, its encoding) is then done before the due time instead of after it,
    #: where it was start lag (docs/scale.md, "Trace replay start lag").
    lead_s: float = 0.0

    def arrivals_s(self) -> list[float]:
        """Due times in seconds from the level's start.

        Gaps are exponential (a Poisson process) at burstiness 1 — drawn as before, so a seed
        gives the same schedule it always gave — else gamma with shape ``burstiness`` and
        scale ``1 / (rate · burstiness)``: the same mean gap, a coefficient of variation of
        ``1 / sqrt(burstiness)`` (vLLM's ``--burstiness``). A ramp moves each due time by
        :func:`ramped`; ``duration_s`` bounds the ramped times.
        """
        if self.times is not None:
            return list(self.times[: self.warmup + self.requests] if self.requests is not None else self.times)
        rng = random.Random(self.seed)
        times: list[float] = []
        t = 0.0
        limit = self.warmup + self.requests if self.requests is not None else math.inf
        horizon = (self.duration_s or math.inf) + self.warmup / self.rate
        poisson = self.burstiness == 1.0
        scale = 1.0 / (self.rate * self.burstiness)
        while len(times) < limit:
            t += rng.expovariate(self.rate) if poisson else rng.gammavariate(self.burstiness, scale)
            due = ramped(t, self.ramp_up_s) if self.ramp_up_s else t
            if due > horizon:
                break
            times.append(due)
        return times

    async def drive(self, send: Send) -> None:
        await _wait_until(self.start_ns)
        start = self.start_ns or now_ns()
        lead = int(self.lead_s * 1e9)
        async with anyio.create_task_group() as tg:
            for index, due_s in enumerate(self.arrivals_s()):
                if index % self.workers != self.worker:
                    continue
                due = start + int(due_s * 1e9)
                if lead:
                    await _wait_until(due - lead)  # a timer tick late is fine: the task waits for ``due``
                else:
                    await _until(due)
                tg.start_soon(send, Slot(index, index < self.warmup, due, start))


#: How early a timer is asked to fire before an arrival is due: uvloop's (libuv's) timers
#: count whole milliseconds, so a sleep to the due time wakes up to ~1 ms late — every
#: open-loop request left ~1 ms after it was due (median start lag 1 ms). The rest of the way
#: is yielded to the loop one pass at a time (other requests' reads go on meanwhile).
_TIMER_SLACK_S = 0.0015
#: Linux lets an epoll wait of t seconds end up to t/1000 late (the timer slack of a task that
#: is not real-time): a long wait is asked to end this share of itself early as well.
_KERNEL_SLACK_SHARE = 0.002


#: How early an open-loop sender that waits for its own due time (:func:`wait_due`) is started:
#: room to build a long prompt and its request (a replayed trace's 100,000-token prompt is
#: ~200 blocks, 10-20 ms when none is cached yet). Only the arrivals due within it hold their
#: built requests early, so it costs little memory.
PREPARE_LEAD_S = 0.05


async def _until(due_ns: int) -> None:
    """Return at ``due_ns`` (same clock as ``now_ns``), not a timer tick after it — nor, after a
    wait of seconds, the kernel's slack of a millisecond or more after it."""
    for _ in range(2):  # the wait, then what its slack share left: a short wait, slack-free
        ask = (due_ns - now_ns()) / 1e9 - _TIMER_SLACK_S
        if ask <= 0:
            break
        await anyio.sleep(ask * (1.0 - _KERNEL_SLACK_SHARE))
    while now_ns() < due_ns:
        await anyio.sleep(0)


async def wait_due(slot: Slot) -> None:
    """Return when ``slot`` is due — at once when it has no due time (closed loop) or it has
    passed. A sender whose profile starts it ``lead_s`` early calls this between building its
    request and sending it."""
    if slot.due_ns is not None:
        await _until(slot.due_ns)


def shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder): whole requests per worker."""
    weight = sum(weights)
    if weight == 0:
        return [0] * len(weights)
    exact = [total * w / weight for w in weights]
    out = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (out[i] - exact[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def profile_for(
    mode: str,
    level: float,
    *,
    requests: int | None,
    warmup: int,
    duration_s: float | None,
    seed: int,
    worker: int = 0,
    workers: int = 1,
    start_ns: int | None = None,
    burstiness: float = 1.0,
    ramp_up_s: float = 0.0,
    times: tuple[float, ...] | None = None,
    lead_s: float = 0.0,
) -> LoadProfile:
    """The level's load profile, or ``worker``'s share of it when ``workers`` processes share it."""
    if mode == "concurrency":
        streams = shares(int(level), [1] * workers)
        split = shares(requests, streams) if requests is not None else None
        warm = shares(warmup, streams)
        return ClosedLoop(
            streams[worker],
            split[worker] if split is not None else None,
            warm[worker],
            duration_s,
            worker,
            workers,
            start_ns,
            warmup_first=sum(warm[:worker]),
            request_first=warmup + (sum(split[:worker]) if split is not None else worker),
        )
    return OpenLoop(level, requests, warmup, duration_s, seed, worker, workers, start_ns, burstiness, ramp_up_s, times, lead_s)


def streams_of(mode: str, level: float, worker: int = 0, workers: int = 1) -> int:
    """Concurrent streams one process holds at a closed-loop level (open loop: unknown, 0)."""
    return shares(int(level), [1] * workers)[worker] if mode == "concurrency" else 0


def pool_size(mode: str, level: float, timeout_s: float) -> int:
    """Connections a level can need at once, so no request waits for one after t0."""
    if mode == "concurrency":
        return max(1, int(level))
    # Open loop: Little's law with the timeout as the worst-case latency, within sane bounds.
    return max(8, min(1000, math.ceil(level * min(timeout_s, 60.0))))
