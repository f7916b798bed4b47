"""Run one load level — or one worker's share of it — and hand each record on.

The same code runs in the main process (no workers), in each worker process (``--workers``)
and in each Ray actor (``--executor ray``): what differs is only where records go (``emit``).
A level here is: warm the client path once per process, open a client whose pool fits this
process's streams, drive the load profile, time each request, sample this process's health.

A level is one target's, or — when targets are interleaved (docs/scenarios.md, "Order") —
several targets' side by side: each keeps its own client, streams or arrivals, warm-up,
request indices and seeds exactly as it would alone, and one health sample covers them all,
since they share this process's event loop and CPU.
"""

from __future__ import annotations

import gc
import json
import os
import zlib
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

import anyio

from bench.providers import Provider, make_provider
from bench.providers.base import ClientSettings, ProviderRequest
from bench.results.health import LevelHealth
from bench.results.records import RequestRecord
from bench.run.health import HealthSampler
from bench.run.load import PREPARE_LEAD_S, Slot, pool_size, profile_for, streams_of, wait_due
from bench.run.measure import measure_request
from bench.run.warm import warm_client_path
from bench.scenario.lengths import length_for
from bench.scenario.model import Scenario
from bench.scenario.prompts import PromptSet, prompt_set
from bench.scenario.request import RequestSettings
from bench.scenario.shapes import Shape
from bench.timing import now_ns

EMULATOR_HEADER = "x-bench-emulator"

Emit = Callable[[RequestRecord], None]


def request_seed(*parts: Any) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


@dataclass(frozen=True)
class LevelJob:
    """Everything a process needs to run its share of one level (picklable, for workers).

    The API key travels only in memory (a pipe to a local worker); Ray actors are given no key
    and read their own environment by the target's variable name (:meth:`key`). There is no
    list of secrets here: whatever key a process ends up using is the one it redacts.
    """

    run_id: str
    scenario: Scenario
    t_index: int
    level: float
    base_url: str | None
    api_key: str | None
    emulate: bool
    worker: int = 0
    workers: int = 1
    #: perf_counter_ns at which every worker starts (same clock in every process on one host).
    start_ns: int | None = None
    #: The client path this run of the level measures with (a target may name several, which
    #: run one after the other); "" means the target's first.
    client: str = ""
    #: The request shape this level sends; ``scenario`` is already the scenario at it
    #: (:meth:`bench.scenario.model.Scenario.at`).
    shape: Shape = Shape()

    @property
    def client_path(self) -> str:
        return self.client or self.target.clients[0]

    @property
    def target(self) -> Any:
        return self.scenario.target[self.t_index]

    @property
    def request(self) -> RequestSettings:
        """What this target sends: ``[request]`` with its ``[target.request]`` over it."""
        return self.scenario.request_for(self.target)

    def key(self) -> str | None:
        """The API key this process sends: the job's, else this process's own environment
        variable named by the target (a Ray actor on another host reads its host's)."""
        if self.api_key is not None or self.emulate:
            return self.api_key
        env = self.target.key_env
        return os.environ.get(env) if env else None

    def prompts(self) -> PromptSet:
        return scenario_prompts(self.scenario)

    @property
    def place(self) -> tuple[Any, ...]:
        """What seeds and prompt keys of this level are drawn from: the target's index and the
        level, and the shape when there is one (so each rung and cache state has prompts of
        its own, and a plain scenario's seeds are what they always were)."""
        return (self.t_index, self.level) + ((self.shape.label,) if self.shape.label else ())


def scenario_prompts(scenario: Scenario) -> PromptSet:
    """The prompts a scenario's ``[prompts]`` describes (every process builds the same set); with
    ladders or both cache states, its first shape's (each level builds its shape's own)."""
    p = scenario.at(scenario.shapes()[0]).prompts
    return prompt_set(
        p.source, p.length, p.seed, scenario.prompt_file(), shared_prefix_tokens=p.shared_prefix_tokens, cache=p.caches[0]
    )


def settle_heap() -> None:
    """Collect garbage now and freeze what is left, before a level's first request.

    A measuring process holds a few hundred thousand long-lived objects (pandas, pydantic, the
    SDKs, their types); a full collection walks them all and took 70-150 ms on a 2-core box —
    a pause no read is stamped through, inside whichever requests it hits. Frozen objects are
    skipped by every later collection, so one during the level walks only what the level made.
    Paid here, off the record; :func:`run_level` unfreezes at the level's end, so garbage among
    them is still collected later.
    """
    gc.collect()
    gc.freeze()


#: What a process runs for one level: one target's job, or several targets' side by side.
Jobs = LevelJob | Sequence[LevelJob]


def jobs_of(jobs: Jobs) -> tuple[LevelJob, ...]:
    """The jobs of one level as a tuple, however they were handed over."""
    return (jobs,) if isinstance(jobs, LevelJob) else tuple(jobs)


async def warm_jobs(jobs: Jobs) -> None:
    """Warm every client path the level's targets use, once each, before anything is timed."""
    for path in dict.fromkeys((job.target.provider, job.client_path) for job in jobs_of(jobs)):
        await warm_client_path(*path)


async def run_level(jobs: Jobs, emit: Emit, prompts: PromptSet | None = None) -> LevelHealth:
    """Drive this process's share of the level — of each target's when several run it side by
    side — and ``emit`` each record as it finishes (also when cancelled: in-flight requests are
    emitted as ``cancelled``). Returns this process's health over the whole level: one sample,
    whatever the number of targets. The level ends when every target's share has ended."""
    level = jobs_of(jobs)
    if not level:
        raise ValueError("run_level: a level needs at least one job")
    first, load = level[0], level[0].scenario.load
    if prompts is None or first.shape.changes_prompts:  # a rung's length or cache state: its own prompts
        prompts = first.prompts()
    await warm_jobs(level)
    streams = [streams_of(load.mode, job.level, job.worker, job.workers) for job in level]
    names = tuple(job.target.name for job in level)
    sampler = HealthSampler(
        target=" + ".join(names),
        load_mode=load.mode,
        load_level=first.level,
        streams=sum(streams),
        worker=first.worker,
        client=first.client_path,
        targets=names if len(level) > 1 else (),
        shape=first.shape.label,
    )
    async with AsyncExitStack() as clients:
        # Each client is built before sampling starts: an SDK client loads its TLS certificates
        # (10–20 ms, blocking) when it is made, which is no lag any request waits through.
        providers = []
        for job, share in zip(level, streams, strict=True):
            provider = _client_for(job, share)
            clients.push_async_callback(_close, provider)
            providers.append(provider)
            if prompts.warm:
                await prime_cache(job, provider, prompts)
        settle_heap()
        sampler.start()
        try:
            if len(level) == 1:
                await _drive(level[0], providers[0], prompts, emit)
            else:
                async with anyio.create_task_group() as side_by_side:
                    for job, provider in zip(level, providers, strict=True):
                        side_by_side.start_soon(_drive, job, provider, prompts, emit)
        finally:
            health = sampler.stop()
            gc.unfreeze()
    return health


def _client_for(job: LevelJob, streams: int) -> Provider:
    """The job's client, its pool fitted to the streams (or arrivals) it holds in this process."""
    load = job.scenario.load
    settings = ClientSettings(
        base_url=job.base_url,
        api_key=job.key(),
        pool_size=streams or pool_size(load.mode, job.level, load.timeout_s),
        timeout_s=load.timeout_s,
        max_retries=job.request.max_retries,
        direct=job.emulate,  # the emulator is on this machine's loopback: never through a proxy
    )
    return make_provider(job.target.provider, settings, job.client_path)


async def _close(provider: Provider) -> None:
    with anyio.CancelScope(shield=True):
        await provider.aclose()


async def _drive(job: LevelJob, provider: Provider, prompts: PromptSet, emit: Emit) -> None:
    """One target's share of the level: its load profile, seeded by its own place in the scenario."""
    load = job.scenario.load
    profile = profile_for(
        load.mode,
        job.level,
        requests=load.requests,
        warmup=load.warmup,
        duration_s=load.duration_s,
        seed=request_seed(load.seed, *job.place),
        worker=job.worker,
        workers=job.workers,
        start_ns=job.start_ns,
        burstiness=load.burstiness,
        ramp_up_s=load.ramp_up_s,
        times=None if load.replay is None else tuple(t / load.speedup for t in load.replay.arrivals_s),
        lead_s=PREPARE_LEAD_S,  # each arrival's request is built before it is due: see send()
    )
    # Redaction is bound to the client here, where every executor builds it: the key this
    # process sends is the key scrubbed from what it records, whoever handed it over.
    secrets = redaction_for(job.key(), emulated=job.emulate)
    await profile.drive(_sender(job, provider, prompts, emit, secrets))


async def prime_cache(job: LevelJob, provider: Provider, prompts: PromptSet) -> None:
    """Send the shared prefix once, off the record and before the level's clock starts, so the
    level's requests find it in the provider's prompt cache (warm). Its outcome is not kept: a
    primer that failed leaves a cold cache, which the level's cached-token counts then show."""
    target, load, req = job.target, job.scenario.load, job.request
    profile = emulator_payload(target) if job.emulate else None
    headers = _emulator_headers(profile, load.seed, *job.place, "primer")
    request = replace(
        _request(target.model, req, prompts.primer(), 1, headers, req.body_extras(), hand_over=True),
        stream=True,
        include_usage=True,
    )
    scratch = RequestRecord(job.run_id, target.name, target.provider, target.model, load.mode, job.level, -1, True, True)
    await measure_request(
        provider, request, scratch, timeout_s=load.timeout_s, secrets=redaction_for(job.key(), emulated=job.emulate)
    )


def _emulator_headers(profile: dict[str, Any] | None, *seed_parts: Any) -> dict[str, str]:
    """What the emulator is told with one request: the target's profile and the request's seed
    (from ``seed_parts``); nothing, and no work, when the target is not emulated."""
    if profile is None:
        return {}
    return {EMULATOR_HEADER: json.dumps(dict(profile, seed=request_seed(*seed_parts)), separators=(",", ":"))}


def _request(
    model: str,
    req: RequestSettings,
    messages: list[dict[str, Any]],
    max_tokens: int,
    headers: dict[str, str],
    extras: dict[str, Any],
    hand_over: bool,
) -> ProviderRequest:
    """The request a target sends: its settings (``[request]`` under ``[target.request]``,
    resolved once per level) around these messages."""
    return ProviderRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        stream=req.stream,
        temperature=req.temperature,
        include_usage=req.include_usage,
        system=req.system,
        extra_body=extras,
        extra_headers=headers,
        hand_over=hand_over,
    )


def _place_key(job: LevelJob) -> str:
    """The run and the job's place as one string: what lengths and prompts are keyed by."""
    return ":".join(map(str, (job.run_id, *job.place)))


def prompt_key(job: LevelJob) -> str:
    """What a level's prompts are drawn from (plus the request's index): unique per run, target
    and level — and per client when a target is measured with several, so a provider's prompt
    cache never favours the client that runs second. (The emulator's seeded timings stay the
    same request for request, so on the emulator the two differ only by the client.)"""
    key = _place_key(job)
    return key + (f":{job.client_path}" if len(job.target.clients) > 1 else "")


def emulator_payload(target: Any) -> dict[str, Any]:
    """What the emulator is told about a target with each request (``x-bench-emulator``): the
    scenario's ``[target.emulator]`` profile and the target's provider kind — openai and
    openai-compatible share the emulator's ``/v1`` route, and only openai's own API refuses a
    model it does not serve."""
    payload = dict(target.emulator.header_payload())
    payload["provider"] = target.provider
    return payload


def redaction_for(api_key: str | None, *, emulated: bool) -> tuple[str, ...]:
    """The strings a process must never record: the key its client sends (none against the
    emulator, which is sent a fixed placeholder)."""
    return (api_key,) if api_key and not emulated else ()


def _sender(job: LevelJob, provider: Provider, prompts: PromptSet, emit: Emit, secrets: tuple[str, ...]) -> Callable[[Slot], Any]:
    """What each slot of the load sends: one request, or with ``[prompts] turns`` a conversation
    whose turns each send the history so far (the real replies included) and are recorded as
    requests of their own — a failed turn ends its conversation (docs/scenarios.md)."""
    scenario, target = job.scenario, job.target
    req, load, turns = job.request, scenario.load, scenario.prompts.turns
    extras = req.body_extras()
    trace = load.replay
    think_s = scenario.prompts.think_time_s
    emulator_profile = emulator_payload(target) if job.emulate else None
    key = prompt_key(job)
    bins = scenario.prompts.bins or ()
    place, length_place, label = job.place, _place_key(job), job.shape.label  # once per level, not per request

    async def send(slot: Slot) -> None:
        messages: list[dict[str, Any]] = []
        shape = label
        for turn in range(1, turns + 1):
            index = slot.index if turns == 1 else slot.index * turns + turn - 1
            headers = _emulator_headers(emulator_profile, load.seed, *place, index)
            # Lengths are drawn per request, the same for every client path that measures it.
            length_key = f"{length_place}:{index}"
            input_tokens: int | None
            if trace is not None:  # a replayed trace's line: its lengths and prefix blocks
                max_tokens, input_tokens = trace.output_lengths[slot.index], trace.input_lengths[slot.index]
                messages = prompts.for_trace(trace.hash_ids[slot.index], input_tokens, f"{key}:{slot.index}")
            else:
                max_tokens = length_for(req.length, load.seed, length_key)
                input_tokens = prompts.asked(length_key) if turn == 1 else None
            if turn == 1 and trace is None:
                messages = prompts.for_request(f"{key}:{slot.index}", input_tokens)
            if turn == 1 and bins:  # a conversation's turns stay in its first prompt's bin
                shape = job.shape.with_bin(bins, input_tokens)
            # The last turn's messages are read by nobody once sent: the provider may let go of
            # them as soon as the body is encoded.
            request = _request(target.model, req, messages, max_tokens, headers, extras, hand_over=turn == turns)
            record = RequestRecord(
                run_id=job.run_id,
                target=target.name,
                provider=target.provider,
                model=target.model,
                load_mode=load.mode,
                load_level=job.level,
                request_index=index,
                warmup=slot.warmup,
                stream=req.stream,
                client=provider.client,
                shape=shape,
                worker=job.worker,
                input_tokens_asked=input_tokens,
                max_tokens_asked=max_tokens,
                conversation=slot.index if turns > 1 else None,
                turn=turn if turns > 1 else None,
            )
            if turn == 1 and slot.due_ns is not None and slot.level_start_ns is not None:
                # Built ahead (an open-loop profile starts this task PREPARE_LEAD_S early, so
                # prompt building is no start lag); it leaves at its due time. Before the
                # try below: a request cancelled before it is due was never sent, nor recorded.
                await wait_due(slot)
                record.scheduled_ms = (slot.due_ns - slot.level_start_ns) / 1e6
                record.start_lag_ms = max(0.0, (now_ns() - slot.due_ns) / 1e6)
            answer: list[str] | None = [] if turn < turns else None
            try:
                await measure_request(provider, request, record, timeout_s=load.timeout_s, secrets=secrets, keep_answer=answer)
            finally:
                emit(record)  # also on cancellation: the in-flight request is recorded as cancelled
            if answer is None or record.status != "ok":
                return
            # An empty reply (all reasoning, or cut at max_tokens) still takes its turn: providers
            # refuse an empty assistant message.
            messages = [
                *messages,
                {"role": "assistant", "content": "".join(answer) or "..."},
                prompts.follow_up(f"{key}:{slot.index}:{turn}"),
            ]
            if think_s:
                await anyio.sleep(think_s)

    return send
