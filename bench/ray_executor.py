"""``--executor ray``: the same levels driven by Ray actors, on one machine or a cluster.

Beyond one load-generator machine the plan is not re-invented here: Ray places the actors,
ships the work and streams results back (a streaming generator per actor and level). Each
actor is a worker in the ``--workers`` sense — its share of the streams or arrivals, its own
client, warm-up and health sample — running ``bench.level.run_level`` in the actor's event
loop. Records come back to this process as they finish and are written here, one run
directory for the whole run.

Clocks: every latency is a difference of ``perf_counter_ns`` stamps taken on the machine that
sent the request, so latencies are exact wherever an actor runs. Only the shared start of a
level crosses machines: it is sent as a wall-clock instant (``time.time_ns``) and each actor
turns it into its own monotonic clock, so actors on other hosts start together only as well
as their clocks agree (NTP: typically within a few ms). ``started_at_ns`` is wall clock too.

Keys never travel: an actor reads the API key from its own environment by the variable's
name (set it on every node of a cluster); against the emulator no key is needed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

from bench.errors import BenchError
from bench.health import LevelHealth
from bench.level import LevelJob, run_level
from bench.prompts import PromptSet
from bench.providers.warm import warm_client_path
from bench.records import RequestRecord
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

    async def prepare(self, job: LevelJob) -> str:
        await warm_client_path(job.target.provider, job.target.client)
        return os.uname().nodename

    async def run(self, job: LevelJob, start_wall_ns: int) -> AsyncIterator[tuple[str, Any]]:
        """Yield ``("record", json)`` as requests finish, then ``("done", health)``."""
        start_ns = now_ns() + (start_wall_ns - time.time_ns())
        job = replace(job, start_ns=start_ns)
        records: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def drive() -> None:
            health: LevelHealth | None = None
            with anyio.CancelScope() as self._scope:
                health = await run_level(job, lambda r: records.put_nowait(("record", r.to_json())), self.prompts)
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
        if self._scope is not None:
            self._scope.cancel()


class RayExecutor:
    """Ray actors, one per worker, kept for the whole run."""

    def __init__(self, workers: int, address: str | None, prompts: PromptSet) -> None:
        self.workers = workers
        self.address = address
        self.prompts = prompts
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
            try:
                ray.init(**kwargs)  # in the main thread (Ray's signal handlers); nothing is measured yet
            except Exception as exc:  # noqa: BLE001 - any failure to reach Ray is one line for the user
                raise BenchError(f"--executor ray: could not start or reach Ray ({type(exc).__name__}: {exc})") from None
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

    async def run_level(self, job: LevelJob, emit: Callable[[RequestRecord], None]) -> list[LevelHealth]:
        ray = self._ray
        jobs = [
            replace(job, worker=i, workers=self.workers, api_key=job.api_key if job.emulate else None)
            for i in range(self.workers)
        ]
        await anyio.to_thread.run_sync(ray.get, [a.prepare.remote(j) for a, j in zip(self._actors, jobs, strict=True)])
        start_wall_ns = time.time_ns() + _START_AHEAD_NS
        streams = [
            a.run.options(num_returns="streaming").remote(j, start_wall_ns) for a, j in zip(self._actors, jobs, strict=True)
        ]
        send, receive = anyio.create_memory_object_stream[tuple[int, tuple[str, Any]]](max_buffer_size=10_000)
        health: list[LevelHealth] = []
        try:
            async with anyio.create_task_group() as tg:
                for index, stream in enumerate(streams):
                    tg.start_soon(self._pump, index, stream, send.clone())
                send.close()
                async with receive:
                    async for _worker, (kind, payload) in receive:
                        if kind == "record":
                            emit(RequestRecord.from_json(payload))
                        elif kind == "done" and payload is not None:
                            health.append(LevelHealth.from_dict(payload))
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(_DRAIN_S):
                await anyio.to_thread.run_sync(ray.get, [a.stop.remote() for a in self._actors])
            raise
        return health

    async def _pump(self, index: int, stream: Any, send: Any) -> None:
        """Move one actor's streamed results into the shared channel (a thread blocks on Ray)."""
        ray = self._ray

        def next_item() -> Any:
            try:
                return ray.get(next(stream))
            except StopIteration:
                return None

        async with send:
            while True:
                try:
                    item = await anyio.to_thread.run_sync(next_item, abandon_on_cancel=True)
                except Exception as exc:  # noqa: BLE001 - an actor's failure ends the run, said plainly
                    raise BenchError(f"Ray worker {index} failed: {type(exc).__name__}: {exc}") from None
                if item is None:
                    return
                await send.send((index, item))
