"""Client health while a level runs, and the per-run saturation check (issue 7, items 3 and 7).

At Groq speed the measuring client itself can saturate: its event loop falls behind, receive
stamps come late, and the figures describe the client rather than the provider. A
:class:`HealthSampler` runs inside the measuring process's event loop around each load level
and records how that process was doing; :func:`saturation` compares the result with a stated
:class:`Budget` and says in plain words when it was exceeded, what may be off, and what to do.

What is sampled, every ``interval_s`` (default 50 ms):

- **Event-loop lag**, by a ``call_soon`` probe: a timer callback stamps the clock and asks the
  loop to run a second callback "as soon as possible"; the lag is how much later that one
  runs. That is exactly the wait a socket read that became ready at that moment has before
  its callback runs (the rest of the current batch of ready callbacks), which is what makes
  receive stamps late. Chosen over sleep overshoot because a timer's wake-up is quantised:
  asyncio's epoll selector rounds its timeout *up* to whole milliseconds and libuv's timers
  (uvloop) have 1 ms resolution, so an idle loop would already show 0–1 ms of "lag" and a
  2 ms budget could not be told from noise. The probe has no such floor: on an idle loop it
  reads p50 ~0.04 ms, p99 ~0.1 ms. Works on asyncio and uvloop alike (it only uses ``call_later`` and
  ``call_soon``); there is no sampler task, so no task group or cancel scope is involved.
- **Process CPU**: ``time.process_time()`` (this process, all threads, user + system) over the
  level's wall time; 1.0 is one full core. The event loop is one thread, so near 1.0 it has
  no idle time left.
- **Memory**: RSS at start and the highest RSS seen at any sample (the peak is sampled, so a
  spike shorter than the interval can be missed); memory per concurrent stream is
  ``(peak - start) / streams``. MB here is 2**20 bytes, KB 2**10.
- **Open file descriptors** at start, highest seen, and at the end (``psutil.Process.num_fds``;
  not available on Windows, where they read -1), so a leak shows as ``fds_end`` staying above
  ``fds_start`` level after level. Pooled keep-alive connections legitimately stay open.
- **Chunks handled per second**: the per-chunk code calls :func:`count_chunks` (one add to a
  module global: ~50 ns a call measured, ~25 ns more than calling an empty function); the
  sampler reads the counter at start and stop. The counter is per process, so with workers
  each worker reports its own rate, and targets run in the same process share it.

The sampler's own cost is measured while it runs (wall time inside its two callbacks) and
reported as ``sampler_ms``. Measured on a 2-core Linux VM (``python
benchmarks/health_overhead.py``): 50-80 µs a sample in a real loop, 5-7 µs back to back —
after 50 ms of other work the sampler's code and data have left the CPU caches — so
0.10-0.16 % of one core at the default 20 samples/s. RSS is read with one ``pread`` of a
held-open /proc/self/statm on Linux, because psutil's ``memory_info`` (which opens the file
each call) alone took ~150 µs a sample when measured the same way.

Use::

    async with HealthSampler(target="groq/llama", load_mode="concurrency", load_level=16,
                             streams=16, worker=0) as sampler:
        ...  # drive the level
    level = sampler.result  # a LevelHealth

or ``sampler.start()`` … ``level = sampler.stop()`` from inside the running loop.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from types import TracebackType
from typing import Any, Final

import psutil

from bench.fmt import target_name

#: Seconds between samples. 20 samples a second gives a p99 over ~100 samples in a 5 s level
#: and costs 0.1-0.2 % of a core (measured; see above).
DEFAULT_INTERVAL_S: Final = 0.05

#: Open file descriptors are counted every this many samples (every 200 ms by default), and
#: always at start and stop: listing /proc/self/fd costs ~5-30 µs and grows with the count
#: (a few hundred µs at 1,000 streams), while a leak or a peak lasts far longer than 200 ms.
FDS_EVERY: Final = 4

#: At most this many CPU/chunk slices are kept per level (consecutive sampling intervals are
#: merged evenly into them): enough to bootstrap CPU per chunk, few enough for run.json.
MAX_SLICES: Final = 40

_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MB: Final = 2**20
_KB: Final = 2**10

# --- chunk counter -------------------------------------------------------------------------

_chunks = 0


def count_chunks(n: int = 1) -> None:
    """Count ``n`` chunks handled by this process. Call from the per-chunk code (~50 ns a call)."""
    global _chunks
    _chunks += n


def chunks_counted() -> int:
    """Chunks counted by this process so far (monotonic; the sampler reads differences)."""
    return _chunks


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelHealth:
    """The measuring process's health over one load level (one worker's view).

    Lag fields are ``None`` when no probe completed (a level shorter than the loop ever got
    round to); ``kb_per_stream`` is ``None`` when ``streams`` is 0. ``sampler_ms`` is the wall
    time the sampler itself spent in the loop over the level.
    """

    target: str
    load_mode: str
    load_level: float
    worker: int
    wall_s: float
    cpu_util: float
    loop_lag_ms_p50: float | None
    loop_lag_ms_p99: float | None
    loop_lag_ms_max: float | None
    chunks_per_s: float
    rss_start_mb: float
    rss_peak_mb: float
    kb_per_stream: float | None
    fds_start: int
    fds_peak: int
    fds_end: int
    samples: int
    streams: int = 0
    sampler_ms: float = 0.0
    #: The client path that measured ("sdk", "fast"): the advice differs.
    client: str = ""
    #: CPU seconds and chunks counted over consecutive slices of the level (at most
    #: ``MAX_SLICES``, each a whole number of sampling intervals): what an interval of the CPU
    #: per chunk is bootstrapped from (the report's "What the SDK costs").
    cpu_slices_s: tuple[float, ...] = ()
    chunk_slices: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (floats, ints, strings, None)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelHealth:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing defaulted ones filled."""
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**values)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of an already sorted, non-empty list."""
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _slices(marks: list[tuple[float, int]]) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """(CPU seconds, chunks) between consecutive marks, merged evenly into at most MAX_SLICES."""
    if len(marks) < 2:
        return (), ()
    steps = len(marks) - 1
    count = min(steps, MAX_SLICES)
    bounds = [round(i * steps / count) for i in range(count + 1)]
    cpu = tuple(round(marks[b][0] - marks[a][0], 6) for a, b in itertools.pairwise(bounds))
    chunks = tuple(marks[b][1] - marks[a][1] for a, b in itertools.pairwise(bounds))
    return cpu, chunks


# --- sampler ----------------------------------------------------------------------------------


class HealthSampler:
    """Samples this process's health while one load level runs, inside its event loop.

    ``streams`` is the number of concurrent streams this process holds at the level (what
    memory per stream is divided by). Start and stop from inside the running loop (anyio on
    asyncio, with or without uvloop).
    """

    def __init__(
        self,
        *,
        target: str,
        load_mode: str,
        load_level: float,
        streams: int,
        worker: int = 0,
        interval_s: float = DEFAULT_INTERVAL_S,
        client: str = "",
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.target = target
        self.load_mode = load_mode
        self.load_level = float(load_level)
        self.streams = int(streams)
        self.worker = int(worker)
        self.client = client
        self.interval_s = interval_s
        self.result: LevelHealth | None = None
        self._process = psutil.Process()
        self._has_fds = hasattr(self._process, "num_fds")
        self._statm: int | None = None  # Linux: /proc/self/statm, held open while sampling
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._lags_ns: list[int] = []
        self._own_ns = 0
        self._rss_start = self._rss_peak = 0
        self._fds_start = self._fds_peak = -1
        self._cpu_start = 0.0
        self._wall_start_ns = 0
        self._chunks_start = 0
        # (process CPU seconds, chunks counted) at start and at every probe.
        self._marks: list[tuple[float, int]] = []

    @property
    def samples_taken(self) -> int:
        """Lag probes completed so far (RSS is read at each; open fds at every ``FDS_EVERY``-th)."""
        return len(self._lags_ns)

    # -- lifecycle

    def start(self) -> None:
        """Begin sampling (the first probe is sent at once). Must be called in the running loop."""
        if self._loop is not None:
            raise RuntimeError("this HealthSampler was already started; use one per level")
        self._loop = asyncio.get_running_loop()
        try:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self._statm = None  # not Linux: psutil
        self._rss_start = self._rss_peak = self._rss()
        self._fds_start = self._fds_peak = self._fds()
        self._chunks_start = _chunks
        self._cpu_start = time.process_time()
        self._marks.append((self._cpu_start, _chunks))
        self._wall_start_ns = time.perf_counter_ns()
        self._tick()

    def stop(self) -> LevelHealth:
        """Stop sampling and return (and keep in :attr:`result`) the level's health."""
        if self._loop is None:
            raise RuntimeError("HealthSampler.stop() before start()")
        if self.result is not None:
            return self.result
        wall_ns = time.perf_counter_ns() - self._wall_start_ns
        cpu_end = time.process_time()
        cpu_s = cpu_end - self._cpu_start
        chunks = _chunks - self._chunks_start
        self._marks.append((cpu_end, _chunks))
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        rss_end = self._rss()
        fds_end = self._fds()
        if self._statm is not None:
            os.close(self._statm)  # after the last count: every fd figure includes it alike
            self._statm = None
        rss_peak = max(self._rss_peak, rss_end)
        wall_s = wall_ns / 1e9
        lags = sorted(self._lags_ns)
        cpu_slices, chunk_slices = _slices(self._marks)
        lag_ms = [v / 1e6 for v in lags]
        self.result = LevelHealth(
            target=self.target,
            load_mode=self.load_mode,
            load_level=self.load_level,
            worker=self.worker,
            wall_s=round(wall_s, 6),
            cpu_util=round(cpu_s / wall_s, 4) if wall_s > 0 else 0.0,
            loop_lag_ms_p50=round(percentile(lag_ms, 50), 4) if lag_ms else None,
            loop_lag_ms_p99=round(percentile(lag_ms, 99), 4) if lag_ms else None,
            loop_lag_ms_max=round(lag_ms[-1], 4) if lag_ms else None,
            chunks_per_s=round(chunks / wall_s, 2) if wall_s > 0 else 0.0,
            rss_start_mb=round(self._rss_start / _MB, 3),
            rss_peak_mb=round(rss_peak / _MB, 3),
            kb_per_stream=round((rss_peak - self._rss_start) / _KB / self.streams, 3) if self.streams > 0 else None,
            fds_start=self._fds_start,
            fds_peak=max(self._fds_peak, fds_end),
            fds_end=fds_end,
            samples=len(lags),
            streams=self.streams,
            sampler_ms=round(self._own_ns / 1e6, 4),
            client=self.client,
            cpu_slices_s=cpu_slices,
            chunk_slices=chunk_slices,
        )
        return self.result

    async def __aenter__(self) -> HealthSampler:
        self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- sampling

    def _rss(self) -> int:
        """Resident set size in bytes. On Linux one ``pread`` of a held-open /proc/self/statm
        (~1 µs hot, ~5 µs cold); psutil's ``memory_info`` opens the file each time (~14 µs hot,
        ~150 µs after 50 ms of other work, measured), which would be most of a sample's cost."""
        if self._statm is not None:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE
        return int(self._process.memory_info().rss)

    def _fds(self) -> int:
        """Open descriptors, or -1 where they cannot be counted — including when the process has
        none left to open /proc/self/fd with (the very moment the count matters most)."""
        if not self._has_fds:
            return -1
        try:
            return int(self._process.num_fds())
        except (OSError, psutil.Error):
            return -1

    def _tick(self) -> None:
        """Stamp now and ask the loop to run :meth:`_probe` as soon as it can."""
        stamp = time.perf_counter_ns()
        assert self._loop is not None
        self._handle = self._loop.call_soon(self._probe, stamp)
        self._own_ns += time.perf_counter_ns() - stamp

    def _probe(self, stamp: int) -> None:
        """Record the probe's lag, read RSS and fds, schedule the next tick."""
        begin = time.perf_counter_ns()
        self._lags_ns.append(begin - stamp)
        self._marks.append((time.process_time(), _chunks))
        rss = self._rss()
        if rss > self._rss_peak:
            self._rss_peak = rss
        if self._has_fds and len(self._lags_ns) % FDS_EVERY == 0:
            fds = self._fds()
            if fds > self._fds_peak:
                self._fds_peak = fds
        assert self._loop is not None
        self._handle = self._loop.call_later(self.interval_s, self._tick)
        self._own_ns += time.perf_counter_ns() - begin


# --- budget and findings ------------------------------------------------------------------------

# Measured on this project's 2-core Linux VM (shared with other work): the sampler beside N
# closed-loop streams of the openai SDK in one process (AsyncOpenAI, stream=True,
# max_tokens=256, ignore_eos, anyio on asyncio and on uvloop), against the emulator in its own
# process at TTFT 50 ms, one token per chunk, jitter 0, 3-4 s a level, three runs:
#
#   streams x tok/s   CPU (cores)   loop lag p50 / p99 / max (ms)     client TTFT p99   inter-token
#   idle loop         0.005         0.04 / 0.10 / 0.14                 -                 -
#   1 x 800           0.23-0.36     0.03-0.06 / 0.7-1.7 / 0.7-2.5      54-61 ms          +0.0 %
#   2 x 800           0.39-0.49     0.03-0.16 / 0.9-4.9 / 0.9-5.0      55-56 ms          +0.3-0.4 %
#   3 x 800           0.49-0.62     0.6-1.0 / 11-27 / 16-33            59-65 ms          +0.7-3 %
#   4 x 800           0.43-0.80     1.2-15 / 19-123 / 24-143           62-154 ms         +0.9-18 %
#   8 x 800           0.43-0.90     12-95 / 79-350 / 82-353            106-362 ms        +16-51 %
#   16 x 800          0.60-0.95     1-98 / 300-715 / 320-757           360-761 ms        +96-153 %
#   8 x 100           0.32          0.02-0.33 / 5.5-7.2 / 7.2-7.6      78-81 ms          +0.2-0.4 %
#   16 x 100          0.48-0.50     0.03-0.81 / 14-15 / 17-20          102-110 ms        +0.2-0.5 %
#
# The SDK path costs ~0.3-0.4 ms of CPU a chunk here, so one loop tops out near 2,500-5,000
# chunks/s. Lag is the sharper signal: it rises by 10x between 2 and 3 streams, exactly where
# TTFT p99 starts to drift by several ms, while CPU only climbs gradually — and on a shared
# machine CPU can stay low while the loop waits for a core (the emulator and other processes
# take it), so CPU alone would miss saturation there. With jitter 0 the streams run in
# lockstep, so at 8-16 x 100 tokens/s chunks arrive in bursts and the loop lags 5-15 ms at
# p99 though the mean inter-token time is right: TTFT p99 does read 10-35 ms above p50 there.

#: Client CPU, as a share of one core over the level, at or above which the client counts as
#: saturated. The event loop is one thread: near 1.0 it is never idle, and a single server
#: queue at 85 % utilisation already makes arrivals wait several service times. Measured
#: above: 0.78-0.95 at 8-16 x 800 tokens/s, 0.23-0.49 at 1-2 streams. The level's quiet start
#: and end pull the average down, so a sustained 0.9-1.0 shows as ~0.85 or more.
CPU_BUDGET: Final = 0.85
#: Event-loop lag p99 (ms) above which receive stamps are late by more than the accuracy the
#: harness aims for (issue 7: TTFT p99 within 1-2 ms of the truth). Measured above: an idle
#: loop reads p99 ~0.1 ms, 1-2 streams x 800 tokens/s 0.7-2 ms (occasionally up to 5 on a
#: busy machine), 3 streams 11-27 ms, 16 streams 300-700 ms. A probe sees the loop at random
#: moments while chunks arrive exactly when it is busy, so chunks see at least this lag.
LOOP_LAG_P99_BUDGET_MS: Final = 2.0
#: Open-loop start lag p99 (ms): how late requests were sent against their Poisson due time.
#: Above 50 ms the offered load is visibly not the stated rate (at 10 req/s the mean gap is
#: 100 ms), so the level's latencies describe a lighter, smoother load than asked.
START_LAG_P99_BUDGET_MS: Final = 50.0
#: Below this many lag samples (0.5 s at the default interval) the lag p99 is one or two
#: probes — a start-up blip (an SDK's first request) rather than a sustained state — so no
#: lag finding is made.
MIN_LAG_SAMPLES: Final = 10
#: Below this many seconds of wall time, CPU share is dominated by the level's start and end
#: (client creation, first request), so no CPU finding is made.
MIN_CPU_WALL_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Budget:
    """Thresholds for :func:`saturation`; the defaults and why are the module constants above."""

    cpu_util: float = CPU_BUDGET
    loop_lag_p99_ms: float = LOOP_LAG_P99_BUDGET_MS
    start_lag_p99_ms: float = START_LAG_P99_BUDGET_MS
    min_lag_samples: int = MIN_LAG_SAMPLES
    min_cpu_wall_s: float = MIN_CPU_WALL_S


@dataclass(frozen=True, slots=True)
class Exceeded:
    """One budget a level went over: what, the measured value, the budget, its unit."""

    what: str  # "cpu", "loop_lag", "start_lag"
    measured: float
    budget: float

    def describe(self) -> str:
        if self.what == "cpu":
            return f"client CPU {self.measured:.2f} of a core (budget: below {self.budget:g})"
        if self.what == "loop_lag":
            return f"event-loop lag p99 {self.measured:.1f} ms (budget: {self.budget:g} ms)"
        return f"open-loop start lag p99 {self.measured:.1f} ms (budget: {self.budget:g} ms)"


@dataclass(frozen=True, slots=True)
class Finding:
    """A level where the client went over budget, and what it means, in plain words."""

    target: str
    load_mode: str
    load_level: float
    worker: int
    exceeded: tuple[Exceeded, ...]
    may_be_off: str
    advice: str
    #: The client path that measured ("" when the sample does not say).
    client: str = ""

    @property
    def where(self) -> str:
        level = f"{self.load_level:g}"
        what = {"concurrency": f"concurrency {level}", "rate": f"rate {level}/s"}.get(self.load_mode, f"{self.load_mode} {level}")
        return f"{target_name(self.target, self.client)} at {what}, worker {self.worker}"

    @property
    def message(self) -> str:
        over = " and ".join(e.describe() for e in self.exceeded)
        return f"{self.where}: {over}. {self.may_be_off}. {self.advice}."

    def __str__(self) -> str:
        return self.message


def _start_lag_for(start_lag_p99_ms: Mapping[Any, float] | None, level: LevelHealth) -> float | None:
    """Look up a level's start lag p99: by (target, load_level, worker), else (target, load_level)."""
    if not start_lag_p99_ms:
        return None
    for key in ((level.target, level.load_level, level.worker), (level.target, level.load_level)):
        value = start_lag_p99_ms.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return float(value)
    return None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _advice(level: LevelHealth, workers: int, budget: Budget) -> str:
    """What to do. Streams that would fit one process assume CPU grows in proportion to streams
    and aim at 0.7 of a core (at most the budget), leaving the loop idle time to answer in."""
    steps = [] if level.client == "fast" else ["run with --client fast (the lean client path)"]
    cores = os.cpu_count() or 1
    either = "or " if steps else "run with "
    steps.append(f"{either}--workers {workers + 1} or more to spread the streams over processes (this machine has {cores} cores)")
    if level.streams > 1 and level.cpu_util > 0:
        fit = max(1, math.floor(level.streams * min(budget.cpu_util, 0.7) / level.cpu_util))
        if fit < level.streams:
            steps.append(f"or hold fewer streams per process (about {fit} here instead of {level.streams})")
    return "To measure the provider rather than the client, " + ", ".join(steps)


def saturation(
    levels: Iterable[LevelHealth],
    start_lag_p99_ms: Mapping[Any, float] | None = None,
    budget: Budget = Budget(),
) -> list[Finding]:
    """One :class:`Finding` per level (and worker) that went over ``budget``; [] when none did.

    ``start_lag_p99_ms`` maps ``(target, load_level, worker)`` or ``(target, load_level)`` to the
    p99 of the records' ``start_lag_ms`` (open loop); see :func:`start_lag_p99_by_level`. A lag
    budget is only checked with at least ``budget.min_lag_samples`` samples, CPU only over at
    least ``budget.min_cpu_wall_s`` of wall time. Budgets are exceeded strictly: a value equal
    to the budget is within it, except CPU, where reaching the budget counts.
    """
    levels = list(levels)
    workers = len({level.worker for level in levels}) or 1
    findings = []
    for level in levels:
        exceeded: list[Exceeded] = []
        if level.wall_s >= budget.min_cpu_wall_s and level.cpu_util >= budget.cpu_util:
            exceeded.append(Exceeded("cpu", level.cpu_util, budget.cpu_util))
        if (
            level.samples >= budget.min_lag_samples
            and level.loop_lag_ms_p99 is not None
            and level.loop_lag_ms_p99 > budget.loop_lag_p99_ms
        ):
            exceeded.append(Exceeded("loop_lag", level.loop_lag_ms_p99, budget.loop_lag_p99_ms))
        start_lag = _start_lag_for(start_lag_p99_ms, level)
        if start_lag is not None and start_lag > budget.start_lag_p99_ms:
            exceeded.append(Exceeded("start_lag", start_lag, budget.start_lag_p99_ms))
        if not exceeded:
            continue
        off = []
        if any(e.what in ("cpu", "loop_lag") for e in exceeded):
            off.append(
                "receive times may have been stamped late, so the TTFT tail, inter-token times and output speed "
                "may describe this client rather than the provider (latencies read high, speed low)"
            )
        if any(e.what == "loop_lag" for e in exceeded) and level.cpu_util < budget.cpu_util / 2:
            off.append(
                f"this process used only {level.cpu_util:.2f} of a core, so part of the lag may be waiting "
                "for a core that other processes on this machine (an emulator, other runs) were using"
            )
        if any(e.what == "start_lag" for e in exceeded):
            off.append(
                "requests went out later than their due time, so the offered load was below the stated "
                "rate and this level's latencies describe a lighter load than asked"
            )
        findings.append(
            Finding(
                target=level.target,
                load_mode=level.load_mode,
                load_level=level.load_level,
                worker=level.worker,
                exceeded=tuple(exceeded),
                may_be_off=_sentence("; ".join(off)),
                advice=_advice(level, workers, budget),
                client=level.client,
            )
        )
    return findings


def summary_lines(findings: list[Finding], levels: list[LevelHealth] | None = None, budget: Budget = Budget()) -> list[str]:
    """Console lines: ``warning: client saturated: …`` per finding, or one line saying the client
    kept within budget. With ``levels`` given and empty, one line saying nothing was sampled."""
    if findings:
        return [f"warning: client saturated: {finding.message}" for finding in findings]
    if levels is not None and not levels:
        return ["client health: not sampled"]
    distinct = len({(level.target, level.load_mode, level.load_level, level.client) for level in levels or []})
    counted = "" if not levels else (f" at all {distinct} levels" if distinct > 1 else " at its one level")
    return [
        f"client health: within budget{counted} (CPU below {budget.cpu_util:g} of a core, "
        f"event-loop lag p99 at most {budget.loop_lag_p99_ms:g} ms, "
        f"open-loop start lag p99 at most {budget.start_lag_p99_ms:g} ms)"
    ]


def start_lag_p99_by_level(frame: Any) -> dict[tuple[str, float, int] | tuple[str, float], float]:
    """From a results frame: p99 of ``start_lag_ms`` over measured (non-warm-up) records, keyed
    ``(target, load_level, worker)`` when the frame has a ``worker`` column, else
    ``(target, load_level)``. Levels with no start lag (closed loop) are left out."""
    if frame is None or len(frame) == 0 or "start_lag_ms" not in frame.columns:
        return {}
    rows = frame[frame["start_lag_ms"].notna()]
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    keys = ["target", "load_level"] + (["worker"] if "worker" in rows.columns else [])
    out: dict[Any, float] = {}
    for key, group in rows.groupby(keys, sort=True):
        values = sorted(float(v) for v in group["start_lag_ms"])
        if values:
            normalised = (str(key[0]), float(key[1])) + ((int(key[2]),) if len(key) > 2 else ())
            out[normalised] = round(percentile(values, 99), 3)
    return out


__all__ = [
    "Budget",
    "DEFAULT_INTERVAL_S",
    "Exceeded",
    "Finding",
    "HealthSampler",
    "LevelHealth",
    "chunks_counted",
    "count_chunks",
    "saturation",
    "start_lag_p99_by_level",
    "summary_lines",
]
