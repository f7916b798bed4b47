"""Client health while a level runs, and the per-run saturation check.

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
  each worker reports its own rate, and targets run side by side in the same process
  (interleaved) are counted together — as their one sample is.

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
import os
import time
from types import TracebackType
from typing import Final

import psutil

from bench.results.health import (
    LevelHealth,
    percentile,
)

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
    asyncio, with or without uvloop). ``targets`` names the targets when several run the level
    side by side in this process (interleaved): one sample covers them all, because they share
    the one loop and its CPU, and a sampler per target would each see the others' load.
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
        targets: tuple[str, ...] = (),
        shape: str = "",
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.target = target
        self.load_mode = load_mode
        self.load_level = float(load_level)
        self.streams = int(streams)
        self.worker = int(worker)
        self.client = client
        self.targets = tuple(targets)
        self.shape = shape
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
            shape=self.shape,
            targets=self.targets,
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


__all__ = ["DEFAULT_INTERVAL_S", "HealthSampler", "chunks_counted", "count_chunks"]
