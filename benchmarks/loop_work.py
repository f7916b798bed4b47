"""What runs on the measuring event loop besides stamping chunks, item by item, in a real run.

A read that becomes ready while the loop runs something else is stamped when that something
ends. With N closed-loop streams of equal length the streams stay in step, so their
per-request work (building the record, writing it, the next request) comes in bursts just
when other streams' last chunks arrive — the TTFT and inter-token tail. This script runs one
cell against ``benchmarks/truth_server.c`` (see ``truth_accuracy.py``) with each item wrapped
in a timer, and prints per item: calls, time per call, time per request, and whether it ran
on the loop's thread or off it; garbage-collector pauses (``gc.callbacks``) by generation; and
the cell's TTFT / inter-token error against the server's log.

    python benchmarks/loop_work.py                      # 16 streams × 800 tokens/s, 400 requests, lean client
    python benchmarks/loop_work.py --progress rich      # with the live display (drawn to /dev/null)
    python benchmarks/loop_work.py --client sdk --cell 4x800
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import importlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import truth_accuracy as ta  # noqa: E402

#: (module, attribute path, label): what is timed when it exists in this version of bench.
ITEMS = (
    ("bench.run.measure", "_fill", "record: timings and counts (_fill)"),
    ("bench.results.records", "RequestRecord.to_json", "record: JSON line"),
    ("bench.results.records", "ResultsWriter.write", "results: write + flush (inline)"),
    ("bench.results.records", "BackgroundResultsWriter.write", "results: hand-off to the writer thread"),
    ("bench.results.records", "BackgroundResultsWriter._count_written", "results: count what is on disk"),
    ("bench.scenario.prompts", "PromptSet.for_request", "next request: prompt"),
    ("bench.providers.fast", "FastChatProvider._body", "next request: body (params + JSON)"),
    ("bench.providers.lean_http", "LeanClient._head", "next request: head"),
    ("bench.run.health", "HealthSampler._probe", "health sampler: probe (lag, RSS, fds)"),
    ("bench.run.health", "HealthSampler._tick", "health sampler: tick"),
    ("bench.run.progress", "PlainProgress.advance", "progress: plain line"),
    ("bench.run.progress", "RichProgress.advance", "progress: rich display"),
)

samples: dict[tuple[str, bool], list[int]] = collections.defaultdict(list)
#: Only what happens while a level's requests run counts — from its health sampler's start to
#: its stop — not imports, the warm-up, the heap settled before it, nor Parquet at the end.
in_level = [False]


def _level_window() -> None:
    from bench.run.health import HealthSampler

    start, stop = HealthSampler.start, HealthSampler.stop

    def started(self: HealthSampler) -> None:
        start(self)
        in_level[0] = True

    def stopped(self: HealthSampler) -> Any:
        in_level[0] = False
        return stop(self)

    HealthSampler.start = started  # type: ignore[method-assign]
    HealthSampler.stop = stopped  # type: ignore[method-assign]


def _wrap(module_name: str, path: str, label: str) -> None:
    owner: Any = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent, None)
    if owner is None or not hasattr(owner, name):
        return
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            if in_level[0]:
                samples[(label, threading.current_thread() is threading.main_thread())].append(time.perf_counter_ns() - start)

    setattr(owner, name, timed)


def _gc_timer() -> None:
    started: list[int] = [0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        elif in_level[0]:
            on_loop = threading.current_thread() is threading.main_thread()
            samples[(f"gc: generation {info['generation']}", on_loop)].append(time.perf_counter_ns() - started[0])

    gc.callbacks.append(callback)


def _progress(kind: str) -> None:
    import bench.run.progress
    import bench.run.runner

    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the run
    if kind == "rich":
        from rich.console import Console

        make: Any = lambda quiet: bench.run.progress.RichProgress(Console(file=devnull, force_terminal=True))  # noqa: E731
    elif kind == "plain":
        make = lambda quiet: bench.run.progress.PlainProgress(devnull)  # noqa: E731
    else:
        return
    bench.run.runner.make_progress = make  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", default="16x800")
    parser.add_argument("--client", default="fast")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--progress", choices=["none", "plain", "rich"], default="none")
    args = parser.parse_args(argv)
    for item in ITEMS:
        _wrap(*item)
    _gc_timer()
    _level_window()
    _progress(args.progress)

    from bench.campaigns.calibrate import read_chunk_log, summarize_cell
    from bench.results.records import load_results
    from bench.run.runner import run_scenario
    from bench.scenario.model import load_scenario

    cell = ta.parse_cells(args.cell)[0]
    with tempfile.TemporaryDirectory(prefix="bench-loop-work-") as tmp:
        work = Path(tmp)
        binary = ta.build_server(work)
        log = work / "chunks.jsonl"
        server = ta.Server(binary, log, 50.0, cell.tokens_per_s, None)
        try:
            scenario = work / "scenario.toml"
            text = ta.scenario_text("openai-compatible", server.port, args.client, cell, args.requests, args.tokens)
            scenario.write_text(text, encoding="utf-8")
            samples.clear()
            result = run_scenario(load_scenario(scenario), out=work / "results", quiet=args.progress == "none")
        finally:
            server.stop()
        frame = load_results(result.run_dir)
        row = summarize_cell("truth", args.client, cell.streams, cell.tokens_per_s, frame, read_chunk_log(log))
    requests = len(frame)
    print(
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {requests} requests at {cell.name}, {args.client} client"
    )
    health = result.meta.client_health.levels[0]
    print(
        f"TTFT error p50 {row.ttft_err_p50_ms:.3f} ms, p99 {row.ttft_err_p99_ms:.3f} ms; "
        f"mean inter-token error {row.itl_err_mean_pct:+.3f} %; event-loop lag p99 {health.loop_lag_ms_p99} ms"
    )
    print(f"{'item':42} {'where':8} {'calls':>6} {'µs p50':>8} {'µs p99':>8} {'µs max':>8} {'µs/request':>11}")
    for (label, on_loop), values in sorted(samples.items(), key=lambda kv: (not kv[0][1], -sum(kv[1]))):
        us = np.asarray(values, dtype=np.float64) / 1e3
        p50, p99 = np.percentile(us, [50, 99])
        where = "loop" if on_loop else "thread"
        print(f"{label:42} {where:8} {len(us):6d} {p50:8.1f} {p99:8.1f} {us.max():8.1f} {us.sum() / requests:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
