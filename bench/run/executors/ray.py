"""``--executor ray``: the same levels driven by Ray actors, on one machine or a cluster.

Beyond one load-generator machine the plan is not re-invented here: Ray places the actors,
ships the work and streams results back (a streaming generator per actor and level). Each
actor is a worker in the ``--workers`` sense — its share of the streams or arrivals, its own
client, warm-up and health sample — running ``bench.run.level.run_level`` in the actor's event
loop; with targets interleaved, its share of every target's level, side by side. Records come back to this process as they finish and are written here, one run
directory for the whole run.

Clocks: every latency is a difference of ``perf_counter_ns`` stamps taken on the machine that
sent the request, so latencies are exact wherever an actor runs. Only the shared start of a
level crosses machines: it is sent as a wall-clock instant (``time.time_ns``) and each actor
turns it into its own monotonic clock, so actors on other hosts start together only as well
as their clocks agree (NTP: typically within a few ms). ``started_at_ns`` is wall clock too.

Keys never travel: an actor reads the API key from its own environment by the variable's
name (set it on every node of a cluster); against the emulator no key is needed. Whatever key
an actor's client sends is the key it scrubs from its records (``bench.run.level.run_level``).

Stopping (Ctrl-C, SIGTERM) works as with local workers: each actor is told to stop, records
its requests in flight as ``cancelled`` and streams them back; they are written before the
run ends (docs/executors.md).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread

from bench.errors import BenchError
from bench.results.health import LevelHealth
from bench.results.records import RequestRecord
from bench.run.level import Jobs, LevelJob, jobs_of, run_level, warm_jobs
from bench.scenario.prompts import PromptSet
from bench.timing import now_ns

#: After every actor is ready, how far ahead (wall clock) the shared start is set.
_START_AHEAD_NS = 200_000_000
#: How long stopped actors get to hand in their in-flight records.
_DRAIN_S = 5.0
#: How long ``--address`` gets to accept a connection before Ray is asked to join it.
_REACH_S = 5.0


def _unreachable(address: str) -> str | None:
    """Why ``host:port`` (or ``ray://host:port``) does not accept a TCP connection, or None.

    ``ray.init`` retries an address that does not answer for many minutes (20 attempts of
    ~35 s each in Ray 2.x) before it gives up; this says so in seconds. Other forms ("auto")
    are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_REACH_S):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


class LevelActor:
    """One Ray actor: runs its share of each level it is given (an async actor)."""

    def __init__(self, prompts: PromptSet) -> None:
        self.prompts = prompts
        self._scope: anyio.CancelScope | None = None
        self._stop = False

    async def prepare(self, jobs: tuple[LevelJob, ...]) -> str:
        await warm_jobs(jobs)
        return os.uname().nodename

    async def run(self, jobs: tuple[LevelJob, ...], start_wall_ns: int) -> AsyncIterator[tuple[str, Any]]:
        """Yield ``("record", json)`` as requests finish (also each request in flight when the
        level is stopped, as ``cancelled``), then ``("done", health)``: one health sample for
        the actor's share of every target that runs the level."""
        start_ns = now_ns() + (start_wall_ns - time.time_ns())
        level = tuple(replace(job, start_ns=start_ns) for job in jobs)
        records: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = False

        async def drive() -> None:
            health: LevelHealth | None = None
            with anyio.CancelScope() as self._scope:
                if self._stop:  # stopped before this task got to run
                    self._scope.cancel()
                health = await run_level(level, lambda r: records.put_nowait(("record", r.to_json())), self.prompts)
            self._scope = None
            records.put_nowait(("done", health.to_dict() if health else None))

        task = asyncio.ensure_future(drive())
        try:
            while True:
                item = await records.get()
                yield item
                if item[0] == "done":
                    return
        finally:
            await task

    async def stop(self) -> None:
        """Cancel the level under way: its in-flight requests are recorded as cancelled and
        still streamed back by :meth:`run`."""
        self._stop = True
        if self._scope is not None:
            self._scope.cancel()


class RayExecutor:
    """Ray actors, one per worker, kept for the whole run."""

    def __init__(self, workers: int, address: str | None, prompts: PromptSet, init: dict[str, Any] | None = None) -> None:
        self.workers = workers
        self.address = address
        self.prompts = prompts
        #: Extra ``ray.init`` keywords (``--ray-init KEY=VALUE``): ports, temp dir, namespace …
        self.init = dict(init or {})
        self._ray: Any = None
        self._actors: list[Any] = []
        self._started_ray = False

    async def __aenter__(self) -> RayExecutor:
        try:
            import ray
        except ImportError:
            raise BenchError(
                "--executor ray needs Ray, which is not installed: pip install 'ray>=2.40' (or this package's [ray] extra)"
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False}
            if self.address:
                why = _unreachable(self.address)
                if why is not None:
                    raise BenchError(f"--address {self.address}: no Ray cluster reachable there ({why})")
                kwargs["address"] = self.address
            kwargs.update(self.init)
            # ray.init replaces the SIGTERM handler with one that exits at once (code 15): the
            # command's own handler goes back, so SIGTERM stops a Ray run as it stops a local one.
            sigterm = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
            try:
                ray.init(**kwargs)  # in the main thread (Ray's signal handlers); nothing is measured yet
            except Exception as exc:  # noqa: BLE001 - any failure to reach Ray is one line for the user
                raise BenchError(f"--executor ray: could not start or reach Ray ({type(exc).__name__}: {exc})") from None
            finally:
                if sigterm is not None:
                    signal.signal(signal.SIGTERM, sigterm)
            self._started_ray = True
        actor_class = ray.remote(num_cpus=0)(LevelActor)
        self._actors = [actor_class.options(name=None).remote(self.prompts) for _ in range(self.workers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            ray.kill(actor)
        if self._started_ray:
            await anyio.to_thread.run_sync(ray.shutdown)

    async def run_level(self, jobs: Jobs, emit: Callable[[RequestRecord], None]) -> list[LevelHealth]:
        ray = self._ray
        level = jobs_of(jobs)
        shares = [
            tuple(replace(job, worker=i, workers=self.workers, api_key=job.api_key if job.emulate else None) for job in level)
            for i in range(self.workers)
        ]
        await anyio.to_thread.run_sync(ray.get, [a.prepare.remote(j) for a, j in zip(self._actors, shares, strict=True)])
        start_wall_ns = time.time_ns() + _START_AHEAD_NS
        streams = [
            a.run.options(num_returns="streaming").remote(j, start_wall_ns) for a, j in zip(self._actors, shares, strict=True)
        ]
        # One plain thread per actor moves its streamed results into a queue. They are not tied
        # to this task's cancellation: when the run is stopped, the actors' cancelled records
        # still arrive through them, and are written, before the level gives up.
        inbox: queue.SimpleQueue[tuple[int, tuple[str, Any]]] = queue.SimpleQueue()
        for index, stream in enumerate(streams):
            threading.Thread(target=self._pump, args=(index, stream, inbox), name=f"bench-ray-{index}", daemon=True).start()
        pending = set(range(self.workers))
        health: list[LevelHealth] = []
        try:
            await self._collect(inbox, pending, emit, health, stopping=False)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(_DRAIN_S):
                stops = [a.stop.remote() for a in self._actors]
                await anyio.to_thread.run_sync(lambda: ray.wait(stops, num_returns=len(stops), timeout=_DRAIN_S))
                await self._collect(inbox, pending, emit, health, stopping=True)
            raise
        return health

    async def _collect(
        self,
        inbox: queue.SimpleQueue[tuple[int, tuple[str, Any]]],
        pending: set[int],
        emit: Callable[[RequestRecord], None],
        health: list[LevelHealth],
        *,
        stopping: bool,
    ) -> None:
        """Write records as they come until every actor's stream has ended."""
        while pending:
            for index, (kind, payload) in await anyio.to_thread.run_sync(_take, inbox, 0.1):
                if kind == "record":
                    emit(RequestRecord.from_json(payload))
                elif kind == "done" and payload is not None:
                    health.append(LevelHealth.from_dict(payload))
                elif kind == "failed" and not stopping:
                    raise BenchError(f"Ray worker {index} failed: {payload}")
                elif kind == "end":
                    pending.discard(index)

    def _pump(self, index: int, stream: Any, inbox: queue.SimpleQueue[tuple[int, tuple[str, Any]]]) -> None:
        """Move one actor's streamed results into ``inbox`` (a thread: it blocks on Ray)."""
        try:
            for ref in stream:
                inbox.put((index, self._ray.get(ref)))
        except Exception as exc:  # noqa: BLE001 - an actor's failure ends the run, said plainly
            inbox.put((index, ("failed", f"{type(exc).__name__}: {exc}")))
        finally:
            inbox.put((index, ("end", None)))


def _take(inbox: queue.SimpleQueue[tuple[int, tuple[str, Any]]], timeout_s: float) -> list[tuple[int, tuple[str, Any]]]:
    """Everything in ``inbox``, waiting up to ``timeout_s`` for the first item (a thread's wait)."""
    try:
        items = [inbox.get(timeout=timeout_s)]
    except queue.Empty:
        return []
    while True:
        try:
            items.append(inbox.get_nowait())
        except queue.Empty:
            return items
