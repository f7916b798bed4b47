"""Drive a scenario: targets × load levels × requests, each finished request on disk at once.

The runner joins the pieces and owns none of their logic: the load profile says when, the
provider says how, ``measure`` times it, ``ResultsWriter`` keeps it, ``order`` says which
targets run each level together. Levels run in the order written; with several targets each
level is run by all of them side by side unless the scenario asks for them one after another
(docs/scenarios.md, "Order"). Each level gets a fresh client per target whose connection pool
fits the level, so no request waits for a connection after t0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from pydantic import ValidationError

from bench.analysis.loaded import LoadedRun
from bench.analysis.saturation import saturation
from bench.emulator.handle import start_emulator
from bench.errors import BenchError, WriteError, cannot_write, is_write_error
from bench.event_loop import event_loop_name, loop_options
from bench.fmt import target_name
from bench.providers.network import Network, api_url
from bench.results import provenance
from bench.results.calibration import calibration_note, latest_calibration
from bench.results.health import Budget, LevelHealth
from bench.results.records import (
    PARQUET_FILE,
    REQUESTS_FILE,
    BackgroundResultsWriter,
    RequestRecord,
    claim_run_dir,
    write_parquet,
)
from bench.results.run_file import RUN_FILE, Calibration, ClientHealth, RunMeta, write_run_meta
from bench.run.executors.ray import RayExecutor
from bench.run.executors.workers import ProcessExecutor
from bench.run.level import Jobs, LevelJob, run_level, scenario_prompts
from bench.run.load import pool_size
from bench.run.order import Step, steps, targets_at_once
from bench.run.preflight import model_warnings, preflight
from bench.run.progress import ProgressSink, make_progress
from bench.run.stop_signals import StopSignals
from bench.scenario.load import Order
from bench.scenario.model import CLIENTS, Scenario, Target, load_scenario
from bench.scenario.prompts import PROMPT_NOTE, SHARED_NOTE, PromptSet

EMULATOR_KEY = "bench-emulator-no-key"  # sent to the emulator, which ignores it; not a secret

Warn = Callable[[str], None]


@dataclass
class RunOptions:
    out: Path = Path("results")
    emulate: bool = False
    targets: list[str] | None = None
    requests: int | None = None
    concurrency: list[int] | None = None
    rate: list[float] | None = None
    quiet: bool = True
    #: Client path for every target: "fast", "sdk", or several comma-separated ("fast,sdk": each
    #: level runs once per client); None keeps each target's own.
    client: str | None = None
    #: Processes sharing each level's load; None keeps the scenario's ``[load] workers``.
    workers: int | None = None
    #: "interleaved" or "sequential" for every run of several targets; None keeps ``[load] order``.
    order: Order | None = None
    #: Where the load runs: "local" (this machine's processes) or "ray" (Ray actors).
    executor: str = "local"
    #: Ray cluster address for executor "ray" (None starts a local Ray instance).
    address: str | None = None
    #: Extra keywords for ``ray.init`` with executor "ray" (e.g. ``dashboard_port``, ``_temp_dir``).
    ray_init: dict[str, Any] = field(default_factory=dict)
    #: The command's own SIGINT/SIGTERM handlers, installed for its whole life (``bench run``):
    #: the run attaches to them instead of watching signals itself, so later signals never
    #: find Python's default handler while results, summary and report are written.
    stop_signals: StopSignals | None = None
    #: With emulate: where the emulator logs each chunk's write time (ground truth for accuracy checks).
    emulator_chunk_log: Path | None = None
    #: With emulate: profile keys for every target, over their [target.emulator] (checked
    #: with ``bench.emulator.profiles.parse_settings``), and a salt for the emulator's draws.
    #: Neither is part of the scenario, so neither changes its fingerprint.
    emulator_set: dict[str, Any] = field(default_factory=dict)
    emulator_seed: int | None = None
    warn: Warn = field(default=lambda message: print(f"bench: warning: {message}", file=sys.stderr))


@dataclass
class RunResult(LoadedRun):
    """The run just made: its directory and run.json, its frame loaded on first use."""

    interrupted: bool = False


def apply_overrides(scenario: Scenario, options: RunOptions) -> Scenario:
    """The scenario as it will run: CLI target picks and load overrides applied, re-validated."""
    data = scenario.model_dump()
    if options.targets:
        labels = [t.name for t in scenario.target]
        unknown = [label for label in options.targets if label not in labels]
        if unknown:
            raise BenchError(f"--target {unknown[0]!r}: no such target in {scenario.source_path}; targets: {', '.join(labels)}")
        data["target"] = [t for t in data["target"] if Target(**t).name in options.targets]
    if options.client:
        clients = parse_clients(options.client, "--client")
        for target in data["target"]:
            target["client"] = clients[0] if len(clients) == 1 else clients
    load = data["load"]
    if options.workers is not None:
        load["workers"] = options.workers
    if options.order is not None:
        load["order"] = options.order
    if options.requests is not None:
        load["requests"], load["duration_s"] = options.requests, None
    if options.concurrency:
        load["concurrency"], load["rate"] = options.concurrency, None
    elif options.rate:
        load["rate"], load["concurrency"] = options.rate, None
    try:
        effective = Scenario.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise BenchError(f"command-line override: {where}: {error['msg'].removeprefix('Value error, ')}") from None
    return effective


def parse_clients(value: str, option: str) -> list[str]:
    """``fast``, ``sdk`` or ``fast,sdk`` (the order the clients run in within each level)."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in CLIENTS]
    if not names or unknown:
        raise BenchError(f"{option} {value!r}: expected {', '.join(CLIENTS)} or both, comma-separated (e.g. fast,sdk)")
    if len(set(names)) != len(names):
        raise BenchError(f"{option} {value!r}: a client appears twice")
    return names


def resolve_keys(scenario: Scenario, emulate: bool) -> dict[str, str | None]:
    """Each target's key from its environment variable; a missing one is bad input."""
    keys: dict[str, str | None] = {}
    missing: list[str] = []
    for target in scenario.target:
        if emulate:
            keys[target.name] = EMULATOR_KEY
            continue
        env = target.key_env
        value = os.environ.get(env) if env else None
        if env and not value and env not in missing:
            missing.append(env)
        keys[target.name] = value
    if missing:
        names = " and ".join(missing) if len(missing) <= 2 else ", ".join(missing[:-1]) + " and " + missing[-1]
        verb = "is" if len(missing) == 1 else "are"
        raise BenchError(
            f"{scenario.source_path or 'scenario'}: environment variable {names} {verb} not set (the API key"
            f"{'' if len(missing) == 1 else 's'} for its targets). Set {'it' if len(missing) == 1 else 'them'}, "
            "or add --emulate to run offline against the built-in emulator (no key needed)."
        )
    return keys


#: Descriptors a process needs beyond one socket per stream: stdio, results, pipes, the loop.
_FD_HEADROOM = 256


def raise_open_file_limit(scenario: Scenario, warn: Warn) -> None:
    """Lift the soft limit on open files towards the hard one, so 1,000 streams do not fail
    as "connection errors" at the default 1,024; say so when even the hard limit is too low."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        return
    load = scenario.load
    per_target = int(max(load.levels)) if load.mode == "concurrency" else pool_size(load.mode, max(load.levels), load.timeout_s)
    streams = per_target * targets_at_once(scenario)  # interleaved: every target's streams at once
    needed = streams + _FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < needed:
        warn(
            f"open-file limit {target} is below the {needed} this run may need ({streams} streams); requests past it "
            "fail as client_resources errors — raise it with `ulimit -n` (the hard limit is "
            f"{'unlimited' if hard == resource.RLIM_INFINITY else hard})"
        )


def _bench_error_in(exc: BaseException) -> BenchError | None:
    """The BenchError inside ``exc`` (task groups wrap what their tasks raise), if any: bad
    input or an executor that could not start is one line for the user, not a traceback."""
    if isinstance(exc, BenchError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _bench_error_in(inner)
            if found is not None:
                return found
    return None


def _write_error_in(exc: BaseException) -> WriteError | None:
    """A write that failed where the run had no handler for it, as one line naming the path."""
    if is_write_error(exc):
        return cannot_write(exc)  # type: ignore[arg-type]  # is_write_error checked it is an OSError
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _write_error_in(inner)
            if found is not None:
                return found
    return None


def calibration_meta(results_root: Path) -> Calibration | None:
    """The newest ``bench calibrate --save`` verdict under the results root, as a note for the
    report: how accurate this machine's client paths measured themselves to be, and when."""
    result = latest_calibration(results_root)
    if result is None:
        return None
    return Calibration(date=result.date, note=calibration_note(result, provenance.host()))


def health_meta(levels: list[LevelHealth]) -> ClientHealth:
    """run.json's ``client_health``: each level's (and worker's) sample, the budget, the verdict."""
    findings = saturation(levels)
    return ClientHealth(
        levels=list(levels), budget=Budget(), saturated=bool(findings), findings=[finding.message for finding in findings]
    )


class Executor(Protocol):
    """Where a level's load runs: this process, worker processes, or Ray actors. A level is one
    target's job or several targets' jobs run side by side (interleaved); either way every
    process that runs it returns one health sample."""

    async def __aenter__(self) -> Executor: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def run_level(self, jobs: Jobs, emit: Callable[[RequestRecord], None]) -> list[LevelHealth]: ...


class InProcessExecutor:
    """No workers: the level runs in this process, in this event loop."""

    def __init__(self, prompts: PromptSet) -> None:
        self.prompts = prompts

    async def __aenter__(self) -> InProcessExecutor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def run_level(self, jobs: Jobs, emit: Callable[[RequestRecord], None]) -> list[LevelHealth]:
        return [await run_level(jobs, emit, self.prompts)]


class Runner:
    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.emulate = options.emulate or scenario.scenario.emulate
        self.keys = resolve_keys(scenario, self.emulate)
        self.secrets = tuple(v for v in self.keys.values() if v and v != EMULATOR_KEY)
        self.run_id = provenance.new_run_id(scenario.name)
        self.run_dir = options.out / self.run_id
        self.prompts = scenario_prompts(scenario)
        self.interrupted = False
        #: The first results write that failed (a full disk): the run stops and says so.
        self._lost: WriteError | None = None
        self._work_scope: anyio.CancelScope | None = None  # made when the run starts, in its event loop
        self.meta = RunMeta(run_id=self.run_id)
        self.health: list[LevelHealth] = []

    # ------------------------------------------------------------------ metadata

    def _meta(
        self, started_at: str, *, finished: bool, ended_at: str | None, emulator_url: str | None, error: str | None = None
    ) -> RunMeta:
        s = self.scenario
        # A warm shared prefix or a trace's shared blocks reach the provider's cache on purpose.
        shared = (s.prompts.shared_prefix_tokens > 0 and "warm" in s.prompts.caches) or s.load.trace is not None
        extra: dict[str, Any] = {}
        if self.emulate and self.options.emulator_set:
            extra["emulator_set"] = self.options.emulator_set
        if self.emulate and self.options.emulator_seed is not None:
            extra["emulator_seed"] = self.options.emulator_seed
        return RunMeta(
            **extra,
            run_id=self.run_id,
            scenario_name=s.name,
            scenario_description=s.scenario.description,
            scenario_path=s.source_path,
            scenario=s.resolved(),
            fingerprint=s.fingerprint(),
            emulated=self.emulate,
            emulator_url=emulator_url,
            started_at=started_at,
            ended_at=ended_at,
            finished=finished,
            interrupted=self.interrupted,
            versions=provenance.versions(),
            host=provenance.host(),
            git_revision=provenance.git_revision(Path(s.source_path).parent if s.source_path else None),
            client=",".join(s.clients),
            proxies=self._proxies(),
            event_loop=event_loop_name(),
            prompts_unique=not shared,
            prompt_note=PROMPT_NOTE if not shared else SHARED_NOTE,
            workers=s.load.workers,
            executor=self.options.executor,
            order=s.order,
            client_health=health_meta(self.health),
            calibration=calibration_meta(self.options.out),
            error=error,
        )

    def _proxies(self) -> dict[str, str | None]:
        """Which proxy each target's requests go through: the environment as its SDK's HTTP
        library reads it (both client paths go the same way). The emulator: never one."""
        if self.emulate:
            return {t.name: None for t in self.scenario.target}
        return {t.name: Network.for_provider(t.provider).proxy_url(api_url(t.provider, t.base_url)) for t in self.scenario.target}

    # ------------------------------------------------------------------ running

    async def run(self) -> RunResult:
        raise_open_file_limit(self.scenario, self.options.warn)
        try:
            self.run_id, self.run_dir = claim_run_dir(self.options.out, self.scenario.name, self.run_id)
            writer = BackgroundResultsWriter(self.run_dir)
            started_at = provenance.utc_now()
            self.meta = self._meta(started_at, finished=False, ended_at=None, emulator_url=None)
            write_run_meta(self.run_dir, self.meta)
        except OSError as exc:
            raise BenchError(f"--out {self.options.out}: cannot write results there ({cannot_write(exc).problem})") from None
        progress = make_progress(self.options.quiet)
        writer.on_written = progress.advance  # counted once on disk
        self._emulator_url: str | None = None
        work = self._work_scope = anyio.CancelScope()
        # Signals are watched from the first moment to the last write: Ctrl-C while the emulator
        # starts, mid-request or while results are being finalised ends the same way — the
        # first cancels the work, later ones are absorbed until run.json is final.
        failure: BaseException | None = None
        async with anyio.create_task_group() as guard:
            if self.options.stop_signals is not None:  # the command's own handlers, for its whole life
                self.options.stop_signals.attach(asyncio.get_running_loop(), work.cancel)
            else:
                guard.start_soon(self._watch_signals, work)
            try:
                with work:
                    await self._work(started_at, writer, progress)
                if self._lost is not None:
                    failure = self._lost
                elif work.cancelled_caught:
                    self.interrupted = True
            except Exception as exc:  # noqa: BLE001 - re-raised below, outside the task group
                failure = self._lost or _bench_error_in(exc) or _write_error_in(exc) or exc
            except BaseException:
                self.interrupted = True
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        failure = self._finalise(writer, started_at, failure)  # every finished request on disk, and counted
                    finally:
                        progress.close()
                if self.options.stop_signals is not None:
                    self.options.stop_signals.detach()
                guard.cancel_scope.cancel()
        if failure is not None:
            raise failure  # as itself, not wrapped in the task group's ExceptionGroup
        return RunResult(self.run_dir, self.meta, interrupted=self.interrupted)

    def _finalise(self, writer: BackgroundResultsWriter, started_at: str, failure: BaseException | None) -> BaseException | None:
        """Close the results, write the Parquet copy and the final run.json — each as far as the
        disk lets it. What is on disk stays; a write that fails becomes the run's one-line error
        (recorded in run.json's ``error`` when run.json itself can still be written)."""
        try:
            writer.close()
        except OSError as exc:
            self._lose(cannot_write(exc, self.run_dir / REQUESTS_FILE))
        failure = self._lost or failure
        if self._lost is None:  # after a failed write the JSONL is the whole record; nothing more to fill a disk with
            try:
                write_parquet(self.run_dir)
            except OSError as exc:
                failure = failure or cannot_write(exc, self.run_dir / PARQUET_FILE)
        error = str(failure) if failure is not None else None
        self.meta = self._meta(
            started_at,
            finished=failure is None and not self.interrupted,
            ended_at=provenance.utc_now(),
            emulator_url=self._emulator_url,
            error=error,
        )
        unfinalised: WriteError | None = None
        try:
            write_run_meta(self.run_dir, self.meta)
        except OSError as exc:
            unfinalised = cannot_write(exc, self.run_dir / RUN_FILE)
        failure = failure or unfinalised
        kept = f"{writer.count} request{'' if writer.count == 1 else 's'} kept in {self.run_dir}"
        if failure is unfinalised and unfinalised is not None:
            return WriteError(unfinalised.path, unfinalised.problem, f"{kept}, but {RUN_FILE} says the run did not finish")
        if isinstance(failure, WriteError):
            also = f"; {RUN_FILE} could not be finalised either" if unfinalised is not None else ""
            return WriteError(failure.path, failure.problem, f"the run stopped: {kept}{also}")
        return failure

    def _lose(self, error: WriteError) -> None:
        """A results write failed: remember the first failure and stop the run (nothing more can be kept)."""
        if self._lost is None:
            self._lost = error
        if self._work_scope is not None:
            self._work_scope.cancel()

    async def _work(self, started_at: str, writer: BackgroundResultsWriter, progress: ProgressSink) -> None:
        for warning in model_warnings(self.scenario):
            self.options.warn(warning)

        async with AsyncExitStack() as stack:
            base_urls = {t.name: t.base_url for t in self.scenario.target}
            if self.emulate:
                handle = await anyio.to_thread.run_sync(
                    lambda: start_emulator(
                        seed=self.scenario.load.seed,
                        chunk_log=self.options.emulator_chunk_log,
                        settings=self.options.emulator_set,
                        seed_salt=self.options.emulator_seed,
                    )
                )
                stack.callback(handle.stop)
                self._emulator_url = handle.base_url
                base_urls = {t.name: handle.provider_base_url(t.provider) for t in self.scenario.target}
                self.meta = self._meta(started_at, finished=False, ended_at=None, emulator_url=self._emulator_url)
                write_run_meta(self.run_dir, self.meta)
            if not self.emulate:
                await preflight(self.scenario, base_urls, self.keys, self.secrets, self.options.warn)
            await self._run_targets(base_urls, writer, progress)

    async def _watch_signals(self, scope: anyio.CancelScope) -> None:
        if sys.platform == "win32":  # pragma: no cover
            return
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if not scope.cancel_called:
                    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
                    self.options.warn(f"interrupted ({name}): cancelling requests in flight; everything finished is on disk")
                    scope.cancel()
                else:  # more signals while stopping: the records and run.json are still written
                    self.options.warn("already stopping: writing what finished")

    async def _run_targets(
        self, base_urls: dict[str, str | None], writer: BackgroundResultsWriter, progress: ProgressSink
    ) -> None:
        load = self.scenario.load

        def emit(record: RequestRecord) -> None:
            if self._lost is not None:
                return  # the results file cannot be written: the run is stopping
            try:
                writer.write(record)  # off the loop; counted (progress) once it is on disk
            except OSError as exc:
                self._lose(cannot_write(exc, writer.path))

        async with self._executor() as executor:
            turns = self.scenario.prompts.turns  # a conversation records one request per turn
            for step in steps(self.scenario):
                jobs = [self._job(t_index, step, base_urls) for t_index in step.t_indices]
                total = (load.per_level + load.warmup) * turns if load.per_level is not None else None
                for job in jobs:  # one line (or bar) per target running the level
                    name = target_name(job.target.name, step.client)
                    progress.start_level(name, load.mode, step.level, total, warmup=load.warmup * turns, shape=step.shape.label)
                try:
                    self.health.extend(await executor.run_level(jobs, emit))
                finally:
                    with anyio.CancelScope(shield=True):
                        await writer.drain()  # the level's records counted in the level's display
                    progress.end_level()

    def _job(self, t_index: int, step: Step, base_urls: dict[str, str | None]) -> LevelJob:
        """One target's part of a step: its own index, key and URL, so its request indices,
        seeds and prompts are what they would be if it ran alone."""
        target = self.scenario.target[t_index]
        return LevelJob(
            run_id=self.run_id,
            scenario=self.scenario.at(step.shape),
            t_index=t_index,
            level=step.level,
            base_url=base_urls[target.name],
            api_key=self.keys[target.name],
            emulate=self.emulate,
            client=step.client,
            shape=step.shape,
        )

    def _executor(self) -> Executor:
        workers = self.scenario.load.workers
        if self.options.executor == "ray":
            return RayExecutor(workers, self.options.address, self.prompts, self.options.ray_init)
        if workers > 1:
            return ProcessExecutor(workers, self.prompts)
        return InProcessExecutor(self.prompts)


def run_scenario(
    scenario: Scenario | str | Path,
    options: RunOptions | None = None,
    *,
    out: Path | str | None = None,
    warn: Warn | None = None,
    **overrides: Any,
) -> RunResult:
    """Run a scenario (object or path) and return where its results went.

    ``options`` says how; for convenience any :class:`RunOptions` field may instead be given
    as a keyword (``run_scenario(path, emulate=True, requests=5)``), over ``options``' own.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    options = replace(options or RunOptions(), **overrides)
    if out is not None:
        options.out = Path(out)
    if warn is not None:
        options.warn = warn
    runner = Runner(apply_overrides(scenario, options), options)
    return anyio.run(runner.run, backend_options=loop_options())
