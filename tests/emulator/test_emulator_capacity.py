"""The emulator's queueing option: ``capacity`` slots per model, FIFO beyond them.

Unit checks on the slot pool and on the override/scenario fields, then real HTTP on loopback
against the emulator in its own process (as runs use it): with capacity 6,
the 7th and 8th of 8 simultaneous streams wait for a slot, and the wait is inside their TTFT.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.emulator import EmulatorHandle, start_emulator
from bench.emulator.faults import FAULT_KINDS
from bench.emulator.profiles import OverrideError, parse_override
from bench.emulator.server import SlotPool
from bench.errors import ScenarioError
from bench.scenario.model import parse_scenario
from bench.scenario.writer import scenario_to_toml

TTFT_MS = 50.0
TOKENS = 10
TPS = 200.0  # 10 tokens at 5 ms each: a stream holds its slot for about 100 ms


# ------------------------------------------------------------------ the slot pool


def test_pool_serves_capacity_at_once_then_fifo() -> None:
    async def go() -> tuple[list[int], list[float]]:
        pool = SlotPool(2)
        order: list[int] = []
        waits: list[float] = [0.0] * 5

        async def user(i: int) -> None:
            waits[i] = await pool.acquire()
            order.append(i)
            await asyncio.sleep(0.02)
            pool.release()

        tasks = []
        for i in range(5):
            tasks.append(asyncio.create_task(user(i)))
            await asyncio.sleep(0.001)  # arrive in order
        await asyncio.gather(*tasks)
        assert pool.busy == 0
        return order, waits

    order, waits = asyncio.run(go())
    assert order == [0, 1, 2, 3, 4]
    assert waits[0] == waits[1] == 0.0
    assert all(w > 0.01 for w in waits[2:])


def test_pool_cancelled_waiter_leaves_no_hole() -> None:
    async def go() -> int:
        pool = SlotPool(1)
        assert await pool.acquire() == 0.0
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.005)
        waiter.cancel()  # the client went away while queued
        await asyncio.gather(waiter, return_exceptions=True)
        pool.release()
        assert pool.busy == 0
        assert await pool.acquire() == 0.0  # the freed slot is free, not handed to the cancelled one
        return pool.busy

    assert asyncio.run(go()) == 1


# ------------------------------------------------------------------ the fields


def test_override_accepts_capacity_and_checks_it() -> None:
    assert parse_override({"capacity": 6}, FAULT_KINDS).capacity == 6
    assert parse_override({}, FAULT_KINDS).capacity is None
    for bad in (0, True, 1.5, -3):
        with pytest.raises(OverrideError, match="capacity"):
            parse_override({"capacity": bad}, FAULT_KINDS)


def _scenario(capacity: Any) -> dict[str, Any]:
    return {
        "target": [{"provider": "openai", "model": "gpt-4.1", "emulator": {"ttft_ms": 50, "capacity": capacity}}],
        "load": {"concurrency": [1], "requests": 2},
    }


def test_scenario_capacity_reaches_the_header() -> None:
    scenario = parse_scenario(_scenario(6), "s.toml")
    assert scenario.target[0].emulator.capacity == 6
    assert scenario.target[0].emulator.header_payload()["capacity"] == 6
    assert scenario_to_toml(parse_scenario(_scenario(6), "s.toml")).count("capacity = 6") == 1
    for bad in (0, 2.5, "6"):
        with pytest.raises(ScenarioError, match="capacity"):
            parse_scenario(_scenario(bad), "s.toml")


# ------------------------------------------------------------------ over HTTP


def _override(**changes: Any) -> str:
    return json.dumps({"ttft_ms": TTFT_MS, "tokens_per_s": TPS, "jitter": 0, **changes})


async def _ttft_ms(client: httpx.AsyncClient, url: str, model: str, override: str) -> float:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "max_completion_tokens": TOKENS, "ignore_eos": True}  # fmt: skip
    start = time.perf_counter()
    first = None
    async with client.stream("POST", url, json=body, headers={"x-bench-emulator": override}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if first is None and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter()
    assert first is not None
    return (first - start) * 1000


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorHandle, Path]]:
    log = tmp_path_factory.mktemp("capacity") / "chunks.jsonl"
    with start_emulator(seed=1, chunk_log=log) as handle:
        yield handle, log


def _serve(emu: tuple[EmulatorHandle, Path], requests: list[tuple[str, str]]) -> tuple[list[float], list[dict[str, Any]]]:
    """Send every (model, override) at once on warm connections; TTFTs in order, and their log lines."""
    handle, log = emu
    url = handle.base_url + "/v1/chat/completions"
    seen = len(log.read_text().splitlines()) if log.exists() else 0

    async def go() -> list[float]:
        n = len(requests)
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            # Open every connection first (no queue): the measured requests never wait for a connect.
            await asyncio.gather(*(_ttft_ms(client, url, "gpt-4.1", _override()) for _ in range(n)))
            return list(await asyncio.gather(*(_ttft_ms(client, url, m, o) for m, o in requests)))

    ttfts = asyncio.run(go())
    time.sleep(0.05)  # the server logs a request just after its last chunk
    entries = [json.loads(line) for line in log.read_text().splitlines()[seen:]]
    return ttfts, entries[len(requests) :]


def test_beyond_capacity_the_wait_is_inside_ttft(emu: tuple[EmulatorHandle, Path]) -> None:
    ttfts, entries = _serve(emu, [("gpt-4.1", _override(capacity=6))] * 8)
    ttfts.sort()
    service_ms = TTFT_MS + TOKENS * 1000 / TPS
    # Bounds loose enough for a busy 2-core box (the 8 sends spread over a few ms, so a queued
    # request waits a service time less its lateness); the two groups stay far apart.
    assert all(TTFT_MS - 2 <= t < TTFT_MS + 40 for t in ttfts[:6]), ttfts
    assert all(TTFT_MS + service_ms / 2 <= t < TTFT_MS + service_ms + 100 for t in ttfts[6:]), ttfts
    entries.sort(key=lambda e: e["queued_ns"])
    queued = [e["queued_ns"] / 1e6 for e in entries]
    assert len(queued) == 8 and queued[:6] == [0.0] * 6 and all(q > service_ms / 2 for q in queued[6:]), queued
    # Ground truth: each request's first token came its planned TTFT after it got a slot, so the
    # server-side TTFT is the queue wait plus the profile's TTFT.
    for e, wait_ms in zip(entries, queued, strict=True):
        server_ttft = (e["first_content_ns"] - e["received_ns"]) / 1e6
        assert TTFT_MS - 1 <= server_ttft - wait_ms < TTFT_MS + 15, (server_ttft, wait_ms)


def test_no_capacity_no_queue_and_each_model_its_own(emu: tuple[EmulatorHandle, Path]) -> None:
    unlimited = [("gpt-4.1", _override())] * 8
    split = [("gpt-4.1", _override(capacity=6))] * 6 + [("gpt-4.1-mini", _override(capacity=6))] * 2
    for requests in (unlimited, split):
        ttfts, entries = _serve(emu, requests)
        assert max(ttfts) < TTFT_MS + 40, ttfts
        assert all(e["queued_ns"] == 0 for e in entries)
