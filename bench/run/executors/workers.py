"""``--workers N``: worker processes share each level's load; the main process keeps the books.

One event loop on one core tops out near 13,000 chunks/s on the SDK path and several times
that on the lean path; past that, receive stamps lag and the figures describe the client. So
the load is spread over N processes (``multiprocessing``, spawned: no forked threads):

- closed loop: the level's streams are split as evenly as possible (16 over 3: 6, 5, 5) and
  its requests and warm-up in proportion; open loop: one seeded Poisson process is dealt out
  arrival by arrival, so together the workers offer exactly the single-process load. When
  targets are interleaved, every worker gets its share of each target's level and runs them
  side by side (one job per target, one health sample per worker);
- every worker prepares (imports, client warm-up) and says so; then all start at one shared
  instant. ``perf_counter_ns`` is CLOCK_MONOTONIC on Linux — one clock for every process on
  the host — so due times and latencies are comparable across workers (and with the
  emulator's chunk log); ``started_at_ns`` is wall clock, only for joining logs;
- each finished record goes to the main process over a pipe (serialised and sent by a sender
  thread, so neither the encoding nor a slow reader holds up a worker's event loop) and is
  written there, on disk before it is counted; the ``worker`` column says which process
  measured it.

Ctrl-C reaches every process of the group: workers ignore SIGINT and the main process tells
them to stop (SIGTERM), then collects their in-flight requests, recorded as cancelled.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any

import anyio
import anyio.to_thread

from bench.errors import BenchError
from bench.event_loop import loop_options
from bench.results.health import LevelHealth
from bench.results.records import RequestRecord
from bench.run.level import Jobs, LevelJob, jobs_of, run_level, settle_heap, warm_jobs
from bench.scenario.prompts import PromptSet
from bench.timing import now_ns

#: After every worker is ready, how far ahead the shared start is set.
_START_AHEAD_NS = 50_000_000
#: How long cancelled workers get to hand in their in-flight records.
_DRAIN_S = 5.0
#: How long a worker may take to start and warm up before the run gives up on it.
_READY_S = 120.0


class ProcessExecutor:
    """N spawned worker processes, kept for the whole run (imports and warm-up paid once)."""

    def __init__(self, workers: int, prompts: PromptSet) -> None:
        self.workers = workers
        self.prompts = prompts
        self._procs: list[Any] = []
        self._conns: list[Connection] = []

    async def __aenter__(self) -> ProcessExecutor:
        ctx = multiprocessing.get_context("spawn")
        for index in range(self.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, index, self.prompts), name=f"bench-worker-{index}", daemon=True)
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self._conns:
            try:
                conn.send(("exit", None))
            except OSError:
                pass
        for proc in self._procs:
            await anyio.to_thread.run_sync(proc.join, 5.0)
            if proc.is_alive():
                proc.kill()
                await anyio.to_thread.run_sync(proc.join, 5.0)
        for conn in self._conns:
            conn.close()

    async def run_level(self, jobs: Jobs, emit: Callable[[RequestRecord], None]) -> list[LevelHealth]:
        level = jobs_of(jobs)
        for index, conn in enumerate(self._conns):
            conn.send(("level", tuple(replace(job, worker=index, workers=self.workers) for job in level)))
        await self._collect(emit, until="ready", timeout_s=_READY_S)
        start_ns = now_ns() + _START_AHEAD_NS
        for conn in self._conns:
            conn.send(("go", start_ns))
        try:
            return await self._collect(emit, until="done", timeout_s=None)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                for proc in self._procs:
                    if proc.is_alive():
                        os.kill(proc.pid, signal.SIGTERM)
                with anyio.move_on_after(_DRAIN_S):
                    await self._collect(emit, until="done", timeout_s=None)
            raise

    async def _collect(self, emit: Callable[[RequestRecord], None], *, until: str, timeout_s: float | None) -> list[LevelHealth]:
        """Write records as they come until every worker has said ``until``."""
        pending = dict(enumerate(self._conns))
        health: list[LevelHealth] = []
        waited = 0.0
        while pending:
            messages = await anyio.to_thread.run_sync(_receive, list(pending.items()), 0.1)
            waited += 0.1
            if timeout_s is not None and waited > timeout_s and not messages:
                raise BenchError(f"workers {sorted(pending)} did not get ready within {timeout_s:g} s")
            for index, (kind, payload) in messages:
                if kind == "record":
                    emit(RequestRecord.from_json(payload))
                elif kind == "error":
                    raise BenchError(f"worker {index} failed: {payload}")
                elif kind == "lost":
                    raise BenchError(f"worker {index} exited unexpectedly (exit code {self._procs[index].exitcode})")
                elif kind == until:
                    if payload is not None:
                        health.append(LevelHealth.from_dict(payload))
                    pending.pop(index, None)
        return health


def _receive(conns: list[tuple[int, Connection]], timeout_s: float) -> list[tuple[int, tuple[str, Any]]]:
    """Every message ready on any worker's pipe within ``timeout_s`` (a thread's blocking wait)."""
    by_id = {id(conn): (index, conn) for index, conn in conns}
    out: list[tuple[int, tuple[str, Any]]] = []
    for ready in wait([c for _, c in conns], timeout_s):
        index, conn = by_id[id(ready)]
        while True:
            try:
                out.append((index, conn.recv()))
            except (EOFError, OSError):
                out.append((index, ("lost", None)))
                break
            if not conn.poll():
                break
    return out


# ---------------------------------------------------------------------------------- worker side


def _worker_main(conn: Connection, index: int, prompts: PromptSet) -> None:
    """A worker process: run each level it is sent until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    outbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
    sender = threading.Thread(target=_send_loop, args=(conn, outbox), daemon=True)
    sender.start()
    try:
        while True:
            kind, payload = conn.recv()
            if kind == "exit":
                break
            if kind != "level":
                continue
            try:
                anyio.run(_level, payload, conn, outbox, prompts, backend_options=loop_options())
            except Exception:  # noqa: BLE001 - a worker's own bug is reported, not swallowed
                outbox.put(("error", traceback.format_exc(limit=8)))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        outbox.put(None)
        sender.join(5.0)


def _send_loop(conn: Connection, outbox: queue.SimpleQueue[tuple[str, Any] | None]) -> None:
    while (message := outbox.get()) is not None:
        kind, payload = message
        if kind == "record":
            payload = payload.to_json()  # here, not on the worker's measuring loop
        try:
            conn.send((kind, payload))
        except OSError:
            return


async def _level(
    jobs: tuple[LevelJob, ...], conn: Connection, outbox: queue.SimpleQueue[tuple[str, Any] | None], prompts: PromptSet
) -> None:
    await warm_jobs(jobs)
    settle_heap()  # the long collection before "ready": the level's own call then has little left to walk
    outbox.put(("ready", None))
    kind, start_ns = await anyio.to_thread.run_sync(conn.recv)
    if kind != "go":
        return

    def emit(record: RequestRecord) -> None:
        outbox.put(("record", record))  # serialised and sent by the sender thread

    health: LevelHealth | None = None
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def stop_on_sigterm() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for _ in signals:
                        scope.cancel()
                        return

            tg.start_soon(stop_on_sigterm)
            try:
                health = await run_level(tuple(replace(job, start_ns=start_ns) for job in jobs), emit, prompts)
            finally:
                tg.cancel_scope.cancel()
    outbox.put(("done", health.to_dict() if health is not None else None))
