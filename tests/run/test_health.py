"""Client health sampler and the saturation check (bench.run.health).

Saturation is provoked for real: a coroutine blocks the event loop the sampler runs in. No
assertion depends on how fast this machine is, except where a blocking call guarantees a
lower bound (``time.sleep(0.005)`` blocks at least 5 ms, so every probe behind it waits that
long) or a budget is set far below what a spinning thread gets from an overloaded 2-core box.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pytest

from bench.analysis.saturation import Finding, saturation, start_lag_p99_by_level, summary_lines
from bench.results.health import Budget, LevelHealth, percentile
from bench.run import health
from bench.run.health import FDS_EVERY, HealthSampler, chunks_counted, count_chunks

HAS_FDS = hasattr(__import__("psutil").Process(), "num_fds")

LOOPS = [pytest.param({}, id="asyncio")]
if sys.platform != "win32":
    LOOPS.append(pytest.param({"use_uvloop": True}, id="uvloop"))


def run(go: Callable[[], Awaitable[Any]], options: dict[str, Any] | None = None) -> Any:
    return anyio.run(go, backend="asyncio", backend_options=options or {})


def sampler(streams: int = 4, interval_s: float = 0.01, **kwargs: Any) -> HealthSampler:
    return HealthSampler(
        target=kwargs.pop("target", "groq/llama"),
        load_mode=kwargs.pop("load_mode", "concurrency"),
        load_level=kwargs.pop("load_level", 16),
        streams=streams,
        interval_s=interval_s,
        **kwargs,
    )


async def until_samples(s: HealthSampler, n: int) -> None:
    """Let the loop idle until the sampler has taken ``n`` more samples (not a fixed time)."""
    target = s.samples_taken + n
    while s.samples_taken < target:
        await anyio.sleep(s.interval_s)


def level(**overrides: Any) -> LevelHealth:
    """A healthy level; override the figure under test."""
    values: dict[str, Any] = dict(
        target="groq/llama", load_mode="concurrency", load_level=16.0, worker=0, wall_s=10.0,
        cpu_util=0.5, loop_lag_ms_p50=0.05, loop_lag_ms_p99=0.5, loop_lag_ms_max=1.0,
        chunks_per_s=12_800.0, rss_start_mb=60.0, rss_peak_mb=61.0, kb_per_stream=64.0,
        fds_start=10, fds_peak=26, fds_end=26, samples=200, streams=16, sampler_ms=4.0,
    )  # fmt: skip
    values.update(overrides)
    return LevelHealth(**values)


# --- the sampler in a real event loop -----------------------------------------------------------


@pytest.mark.parametrize("options", LOOPS)
def test_idle_loop_is_within_budget(options: dict[str, Any]) -> None:
    async def go() -> LevelHealth:
        async with sampler(interval_s=0.01) as s:
            await until_samples(s, 40)
        assert s.result is not None
        return s.result

    result = run(go, options)
    assert result.samples >= 40
    assert result.loop_lag_ms_p50 is not None and result.loop_lag_ms_p99 is not None and result.loop_lag_ms_max is not None
    assert 0 <= result.loop_lag_ms_p50 <= result.loop_lag_ms_p99 <= result.loop_lag_ms_max
    assert result.cpu_util < 0.5  # the loop sleeps; the sampler costs well under 1 %
    assert result.sampler_ms > 0
    findings = saturation([result])
    assert findings == []
    (line,) = summary_lines(findings, [result])
    assert line.startswith("client health: within budget")


@pytest.mark.parametrize("options", LOOPS)
def test_blocked_loop_is_flagged_as_saturated(options: dict[str, Any]) -> None:
    """A coroutine that blocks the loop 5 ms per step: every probe waits behind one such step."""

    async def hog(stop: anyio.Event) -> None:
        while not stop.is_set():
            time.sleep(0.005)  # blocking on purpose: this is the saturated client
            await anyio.sleep(0)

    async def go() -> LevelHealth:
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            async with sampler(interval_s=0.02, target="groq/busy") as s:
                tg.start_soon(hog, stop)
                await until_samples(s, 15)
            stop.set()
        assert s.result is not None
        return s.result

    result = run(go, options)
    assert result.samples >= 15
    assert result.loop_lag_ms_p50 is not None and result.loop_lag_ms_p50 >= 5.0
    (finding,) = saturation([result])
    assert [e.what for e in finding.exceeded] == ["loop_lag"]
    assert finding.exceeded[0].measured >= 5.0 and finding.exceeded[0].budget == 2.0
    (line,) = summary_lines([finding], [result])
    assert line.startswith("warning: client saturated: groq/busy at concurrency 16, worker 0: event-loop lag p99 ")
    assert "TTFT tail" in line and "--client fast" in line and "--workers" in line


def test_cpu_bound_loop_is_flagged_for_cpu() -> None:
    """Spinning in the loop thread uses a core; a budget of 0.25 core is far below what a spinning
    thread gets even on a busy 2-core machine (the default, 0.85, is tested with exact values)."""

    async def spin(stop: anyio.Event) -> None:
        while not stop.is_set():
            end = time.perf_counter() + 0.005
            while time.perf_counter() < end:
                pass
            await anyio.sleep(0)

    async def go() -> LevelHealth:
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            async with sampler(interval_s=0.02) as s:
                tg.start_soon(spin, stop)
                start = time.perf_counter()
                while time.perf_counter() - start < 1.1 or s.samples_taken < 15:
                    await anyio.sleep(0.05)
            stop.set()
        assert s.result is not None
        return s.result

    result = run(go)
    assert result.wall_s >= 1.1
    (finding,) = saturation([result], budget=Budget(cpu_util=0.25))
    assert [e.what for e in finding.exceeded] == ["cpu", "loop_lag"]
    assert "of a core (budget: below 0.25)" in finding.message


def test_chunk_counter_becomes_a_rate() -> None:
    async def go() -> LevelHealth:
        async with sampler() as s:
            before = chunks_counted()
            for _ in range(100):
                count_chunks(10)
            count_chunks()
            assert chunks_counted() == before + 1001
            await until_samples(s, 2)
        assert s.result is not None
        return s.result

    result = run(go)
    assert result.chunks_per_s * result.wall_s == pytest.approx(1001, rel=1e-4)


def test_memory_per_stream() -> None:
    # A fresh anonymous mapping, each page written: new resident memory however much the
    # allocator already holds from earlier tests (a bytes object can reuse freed heap that is
    # resident already, so RSS need not grow at all).
    held: list[mmap.mmap] = []

    async def go() -> LevelHealth:
        async with sampler(streams=4) as s:
            block = mmap.mmap(-1, 32 * 2**20)
            for page in range(0, len(block), mmap.PAGESIZE):
                block[page] = 1
            held.append(block)
            await until_samples(s, 2)
        assert s.result is not None
        return s.result

    result = run(go)
    grown_mb = result.rss_peak_mb - result.rss_start_mb
    assert grown_mb >= 30
    assert result.kb_per_stream is not None
    assert result.kb_per_stream == pytest.approx(grown_mb * 1024 / 4, rel=1e-3)
    assert result.streams == 4
    for block in held:
        block.close()


def test_no_streams_no_memory_per_stream() -> None:
    async def go() -> LevelHealth:
        async with sampler(streams=0) as s:
            pass
        assert s.result is not None
        return s.result

    result = run(go)
    assert result.kb_per_stream is None


@pytest.mark.skipif(not HAS_FDS, reason="open file descriptors are counted on POSIX only")
def test_open_file_descriptors_start_peak_end(tmp_path: Any) -> None:
    async def go() -> LevelHealth:
        async with sampler() as s:
            opened: list[Any] = []
            for i in range(5):
                opened.extend(socket.socketpair())
                opened.append(open(tmp_path / f"f{i}", "w"))  # noqa: SIM115 - held open across samples, closed below
            await until_samples(s, 2 * FDS_EVERY)  # at least one fd count while they are open
            for thing in opened:
                thing.close()
        assert s.result is not None
        return s.result

    result = run(go)
    assert result.fds_start > 0
    assert result.fds_peak >= result.fds_start + 15
    assert result.fds_end == result.fds_start


@pytest.mark.skipif(not HAS_FDS, reason="open file descriptors are counted on POSIX only")
def test_a_leak_shows_at_the_end() -> None:
    leaked: list[socket.socket] = []

    async def go() -> LevelHealth:
        async with sampler() as s:
            leaked.extend(socket.socketpair())
        assert s.result is not None
        return s.result

    result = run(go)
    try:
        assert result.fds_end == result.fds_start + 2 == result.fds_peak
    finally:
        for sock in leaked:
            sock.close()


def test_start_stop_without_context_manager() -> None:
    async def go() -> None:
        s = sampler()
        with pytest.raises(RuntimeError, match="before start"):
            s.stop()
        s.start()
        with pytest.raises(RuntimeError, match="already started"):
            s.start()
        await until_samples(s, 3)
        first = s.stop()
        assert s.stop() is first is s.result  # twice: the same result
        assert first.samples >= 3
        taken = s.samples_taken
        await anyio.sleep(0.05)
        assert s.samples_taken == taken  # stopped means stopped: no more probes

    run(go)


def test_a_stop_straight_after_start_has_no_lag_figures() -> None:
    async def go() -> LevelHealth:
        s = sampler()
        s.start()
        return s.stop()  # the first probe never ran

    result = run(go)
    assert result.samples == 0
    assert result.loop_lag_ms_p50 is result.loop_lag_ms_p99 is result.loop_lag_ms_max is None
    assert saturation([result]) == []


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        sampler(interval_s=0)


def test_worker_and_level_are_recorded() -> None:
    async def go() -> LevelHealth:
        async with sampler(worker=3, load_mode="rate", load_level=2.5) as s:
            pass
        assert s.result is not None
        return s.result

    result = run(go)
    assert (result.worker, result.load_mode, result.load_level, result.target) == (3, "rate", 2.5, "groq/llama")


# --- JSON ---------------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip_through_json() -> None:
    original = level(loop_lag_ms_p99=None, kb_per_stream=None)
    data = json.loads(json.dumps(original.to_dict()))
    assert LevelHealth.from_dict(data) == original
    assert set(data) >= {
        "target", "load_mode", "load_level", "worker", "wall_s", "cpu_util", "loop_lag_ms_p50",
        "loop_lag_ms_p99", "loop_lag_ms_max", "chunks_per_s", "rss_start_mb", "rss_peak_mb",
        "kb_per_stream", "fds_start", "fds_peak", "fds_end", "samples",
    }  # fmt: skip


def test_from_dict_ignores_unknown_keys_and_fills_defaults() -> None:
    data = level().to_dict()
    del data["streams"], data["sampler_ms"]
    data["from_the_future"] = 1
    restored = LevelHealth.from_dict(data)
    assert restored.streams == 0 and restored.sampler_ms == 0.0


def test_a_real_result_is_json_friendly() -> None:
    async def go() -> LevelHealth:
        async with sampler() as s:
            await until_samples(s, 2)
        assert s.result is not None
        return s.result

    result = run(go)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert LevelHealth.from_dict(json.loads(text)) == result


# --- the budget -----------------------------------------------------------------------------------


def test_default_budget_values() -> None:
    budget = Budget()
    assert (budget.cpu_util, budget.loop_lag_p99_ms, budget.start_lag_p99_ms) == (0.85, 2.0, 50.0)
    assert (budget.min_lag_samples, budget.min_cpu_wall_s) == (10, 1.0)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        ({"cpu_util": 0.8499}, []),
        ({"cpu_util": 0.85}, ["cpu"]),
        ({"cpu_util": 1.7}, ["cpu"]),  # several threads
        ({"cpu_util": 1.0, "wall_s": 0.999}, []),  # too short to call sustained
        ({"cpu_util": 1.0, "wall_s": 1.0}, ["cpu"]),
        ({"loop_lag_ms_p99": 2.0}, []),
        ({"loop_lag_ms_p99": 2.0001}, ["loop_lag"]),
        ({"loop_lag_ms_p99": 500.0, "samples": 9}, []),  # one start-up blip, not a state
        ({"loop_lag_ms_p99": 500.0, "samples": 10}, ["loop_lag"]),
        ({"loop_lag_ms_p99": None, "samples": 0}, []),
        ({"cpu_util": 0.97, "loop_lag_ms_p99": 40.0}, ["cpu", "loop_lag"]),
    ],
)
def test_budget_thresholds(overrides: dict[str, Any], expected: list[str]) -> None:
    findings = saturation([level(**overrides)])
    assert [e.what for f in findings for e in f.exceeded] == expected


def test_start_lag_budget_and_keys() -> None:
    open_loop = level(load_mode="rate", load_level=20.0, worker=1)
    assert saturation([open_loop], {("groq/llama", 20.0): 50.0}) == []
    (finding,) = saturation([open_loop], {("groq/llama", 20.0): 50.1})
    assert [(e.what, e.measured, e.budget) for e in finding.exceeded] == [("start_lag", 50.1, 50.0)]
    assert "20 req/s, worker 1" in finding.message
    assert "offered load was below the stated rate" in finding.message
    # the worker's own figure wins over the level's
    assert saturation([open_loop], {("groq/llama", 20.0, 1): 10.0, ("groq/llama", 20.0): 90.0}) == []
    # other levels, other targets, and NaN do not apply
    assert saturation([open_loop], {("groq/llama", 10.0): 90.0, ("other", 20.0): 90.0}) == []
    assert saturation([open_loop], {("groq/llama", 20.0): math.nan}) == []
    assert saturation([open_loop], {}) == saturation([open_loop], None) == []


def test_custom_budget() -> None:
    assert saturation([level(loop_lag_ms_p99=3.0)], budget=Budget(loop_lag_p99_ms=5.0)) == []
    assert saturation([level(cpu_util=0.5)], budget=Budget(cpu_util=0.5))


def test_finding_says_what_where_and_what_to_do() -> None:
    (finding,) = saturation([level(cpu_util=0.97, loop_lag_ms_p99=41.23, streams=16)])
    assert isinstance(finding, Finding)
    assert (finding.target, finding.load_mode, finding.load_level, finding.worker) == ("groq/llama", "concurrency", 16.0, 0)
    text = str(finding)
    assert text.startswith("groq/llama at concurrency 16, worker 0: ")
    assert "client CPU 0.97 of a core (budget: below 0.85)" in text
    assert "event-loop lag p99 41.2 ms (budget: 2 ms)" in text
    assert "TTFT tail, inter-token times and output speed" in text
    assert "--client fast" in text and "--workers 2" in text
    # 16 streams at 0.97 of a core: about 16 * 0.7 / 0.97 = 11 fit in one process
    assert "about 11 here instead of 16" in text
    assert "waiting for a core" not in text


def test_lag_with_little_cpu_points_at_other_processes() -> None:
    (finding,) = saturation([level(cpu_util=0.3, loop_lag_ms_p99=80.0)])
    assert "used only 0.30 of a core" in finding.message
    assert "instead of" not in finding.message  # CPU is not what to cut here


def test_workers_advice_counts_the_workers_seen() -> None:
    levels = [level(worker=w, loop_lag_ms_p99=9.0) for w in range(3)]
    findings = saturation(levels)
    assert [f.worker for f in findings] == [0, 1, 2]
    assert all("--workers 4" in f.message for f in findings)


def test_summary_lines() -> None:
    healthy, busy = level(), level(target="openai/gpt", loop_lag_ms_p99=7.0)
    findings = saturation([healthy, busy])
    lines = summary_lines(findings, [healthy, busy])
    assert len(lines) == 1
    assert lines[0].startswith("warning: client saturated: openai/gpt at concurrency 16, worker 0:")
    (ok,) = summary_lines([], [healthy, busy])
    assert ok.startswith("client health: within budget at all 2 levels (CPU below 0.85 of a core, ")
    assert summary_lines([]) == [
        "client health: within budget (CPU below 0.85 of a core, event-loop lag p99 at most 2 ms, "
        "open-loop start lag p99 at most 50 ms)"
    ]
    assert summary_lines([], []) == ["client health: not sampled"]


# --- helpers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(map(float, range(101)))])
@pytest.mark.parametrize("q", [0, 1, 50, 99, 100])
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(sorted(values), q) == pytest.approx(float(np.percentile(values, q)))


def test_start_lag_p99_from_a_results_frame() -> None:
    frame = pd.DataFrame(
        {
            "target": ["a"] * 4 + ["b"] * 2,
            "load_level": [5.0] * 4 + [5.0, 5.0],
            "warmup": [True, False, False, False, False, False],
            "start_lag_ms": [900.0, 1.0, 2.0, 3.0, math.nan, math.nan],
        }
    )
    assert start_lag_p99_by_level(frame) == {("a", 5.0): pytest.approx(2.98)}
    frame["worker"] = [0, 0, 0, 1, 0, 0]
    assert start_lag_p99_by_level(frame) == {("a", 5.0, 0): pytest.approx(1.99), ("a", 5.0, 1): 3.0}
    assert start_lag_p99_by_level(frame.iloc[0:0]) == {}
    assert start_lag_p99_by_level(None) == {}
    assert start_lag_p99_by_level(frame.drop(columns=["start_lag_ms"])) == {}


def test_count_chunks_is_a_module_global_add() -> None:
    before = health._chunks
    count_chunks(3)
    assert health._chunks == before + 3 == chunks_counted()


def test_sampler_reads_rss_without_psutil_on_linux() -> None:
    """The held-open /proc/self/statm read agrees with psutil (and is closed at stop)."""
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("Linux only")
    import psutil

    async def go() -> None:
        s = sampler()
        s.start()
        try:
            ours, theirs = s._rss(), psutil.Process().memory_info().rss
            assert abs(ours - theirs) < 8 * 2**20  # read microseconds apart
        finally:
            s.stop()
        assert s._statm is None

    run(go)


# --- interleaved levels: one sample for several targets ------------------------------------------

INTERLEAVED = ("groq/llama", "openai/gpt", "anthropic/claude")


def test_a_sampler_over_several_targets_names_them_all() -> None:
    async def go() -> LevelHealth:
        s = sampler(streams=12, target=" + ".join(INTERLEAVED), targets=INTERLEAVED)
        s.start()
        await until_samples(s, 2)
        return s.stop()

    result = run(go)
    assert result.targets == INTERLEAVED and result.target == "groq/llama + openai/gpt + anthropic/claude"
    assert LevelHealth.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert sampler().targets == ()


def test_an_interleaved_level_over_budget_says_the_client_could_not_hold_all_targets() -> None:
    busy = level(target=" + ".join(INTERLEAVED), targets=INTERLEAVED, cpu_util=0.97, loop_lag_ms_p99=30.0, streams=48)
    (finding,) = saturation([busy])
    text = finding.message
    assert text.startswith("groq/llama + openai/gpt + anthropic/claude at concurrency 16, worker 0: ")
    assert "the client could not hold all 3 targets at once" in text.lower()
    assert 'order = "sequential"' in text and "--order sequential" in text and "--workers 2" in text
    assert "measure the providers rather than the client" in text
    assert finding.targets == INTERLEAVED
    # One target alone: no word of targets.
    (alone,) = saturation([level(cpu_util=0.97, loop_lag_ms_p99=30.0)])
    assert "targets" not in alone.message and "sequential" not in alone.message


def test_an_interleaved_levels_start_lag_is_its_worst_targets() -> None:
    open_loop = level(target="a + b", targets=("a", "b"), load_mode="rate", load_level=20.0)
    assert saturation([open_loop], {("a", 20.0): 10.0, ("b", 20.0): 40.0}) == []
    (finding,) = saturation([open_loop], {("a", 20.0): 10.0, ("b", 20.0): 70.0})
    assert [(e.what, e.measured) for e in finding.exceeded] == [("start_lag", 70.0)]
