"""The emulator's timing, chunk log and determinism, and its HTTP details (framing, keep-alive,
bad requests, clients leaving early, strict models) over raw sockets and the SDKs.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import anthropic
import groq
import openai
import pytest

from bench.emulator import FAULT_KINDS, EmulatorHandle, start_emulator
from bench.emulator.server import EmulatorServer, ServerConfig
from tests.emulator_clients import (
    MESSAGES,
    clients,
    fast,
    log_entries,
    raw_exchange,
    raw_post,
    run,
    sdk_clients,
)

# ------------------------------------------------------------------ timing, log, determinism


def test_timing_and_chunk_log(emu: EmulatorHandle, chunk_log: Path) -> None:
    """Loose bounds (a busy CI box), but tight enough to catch a wrong unit or a drift."""

    async def go() -> list[tuple[str, float, float, int]]:
        results = []
        async with clients(emu) as c:
            o = c.openai
            for _ in range(3):  # the first one also warms the connection and the SDK up
                start = time.perf_counter()
                stream = await o.chat.completions.create(
                    model="gpt-4.1", messages=MESSAGES, stream=True, max_completion_tokens=40,
                    extra_headers={"x-bench-emulator": json.dumps({"ttft_ms": 50, "tokens_per_s": 200, "jitter": 0})},
                    extra_body={"ignore_eos": True},
                )  # fmt: skip
                stamps, request_id = [], ""
                async for chunk in stream:
                    request_id = chunk.id
                    if chunk.choices and chunk.choices[0].delta.content:
                        stamps.append(time.perf_counter())
                ttft_ms = (stamps[0] - start) * 1000
                rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
                results.append((request_id, ttft_ms, rate, len(stamps)))
        return results

    results = run(go())
    for _, ttft_ms, rate, n in results[1:]:
        assert 40 <= ttft_ms <= 150 and 140 <= rate <= 280 and n == 40
    entries = log_entries(chunk_log, {r[0] for r in results})
    assert set(entries) == {r[0] for r in results}
    for request_id, _, _, n in results:
        entry = entries[request_id]
        assert entry["n_content_chunks"] == n == len(entry["chunk_ns"]) and entry["output_tokens"] == 40
        assert entry["dialect"] == "openai" and entry["model"] == "gpt-4.1" and entry["completed"]
        assert entry["received_ns"] < entry["headers_sent_ns"] < entry["first_content_ns"] <= entry["last_content_ns"]
        server_ttft_ms = (entry["first_content_ns"] - entry["received_ns"]) / 1e6
        server_rate = (n - 1) / ((entry["last_content_ns"] - entry["first_content_ns"]) / 1e9)
        assert 49 <= server_ttft_ms <= 100 and 150 <= server_rate <= 205
    assert all(isinstance(t, int) for t in entries[results[0][0]]["chunk_ns"])
    # The same clock as ours: the server read each request after we started it.
    assert entries[results[-1][0]]["received_ns"] < time.perf_counter_ns()


def test_log_joins_every_dialect_by_the_id_the_client_sees(emu: EmulatorHandle, chunk_log: Path) -> None:
    async def go() -> set[str]:
        async with clients(emu) as c:
            g = c.groq
            o = c.openai
            a = c.anthropic
            ids = {
                (
                    await g.chat.completions.create(
                        model="openai/gpt-oss-20b", messages=MESSAGES, max_tokens=4, extra_headers=fast()
                    )
                ).id
            }
            ids.add(
                (
                    await o.chat.completions.create(
                        model="gpt-4.1", messages=MESSAGES, max_completion_tokens=4, extra_headers=fast()
                    )
                ).id
            )
            ids.add((await a.messages.create(model="claude-opus-5-5", messages=MESSAGES, max_tokens=4, extra_headers=fast())).id)
            return ids

    ids = run(go())
    entries = log_entries(chunk_log, ids)
    assert {e["dialect"] for e in entries.values()} == {"groq", "openai", "anthropic"}
    assert all(e["stream"] is False and e["completed"] and e["retry_count"] == 0 for e in entries.values())


def test_seeded_requests_repeat(emu: EmulatorHandle) -> None:
    async def text(seed: int) -> tuple[str, int]:
        async with clients(emu) as c:
            g = c.groq
            completion = await g.chat.completions.create(
                model="llama-3.3-70b-versatile",
                messages=MESSAGES,
                max_tokens=300,
                extra_headers=fast(seed=seed, natural_tokens=40),
            )
            return completion.choices[0].message.content or "", completion.usage.completion_tokens

    first, again, other = run(text(123)), run(text(123)), run(text(124))
    assert first == again and first != other
    assert len(first[0].split()) == first[1]


def test_server_seed_makes_unseeded_runs_repeat() -> None:
    async def texts(seed: int) -> list[str]:
        server = EmulatorServer(ServerConfig(seed=seed))
        base = f"http://127.0.0.1:{await server.start()}/v1"
        try:
            async with sdk_clients(lambda _: base) as c:
                o = c.openai
                out = []
                for _ in range(2):
                    completion = await o.chat.completions.create(
                        model="gpt-4.1", messages=MESSAGES, max_completion_tokens=6, extra_headers=fast()
                    )
                    out.append(completion.choices[0].message.content or "")
                return out
        finally:
            await server.close()

    first = run(texts(5))
    assert run(texts(5)) == first and run(texts(6)) != first and first[0] != first[1]


# --------------------------------------------------------------------------- HTTP details


def test_keep_alive_and_chunked_framing(emu: EmulatorHandle) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": True, "max_completion_tokens": 3}).encode()
    header = f"x-bench-emulator: {fast()['x-bench-emulator']}\r\n"
    two = raw_post("/v1/chat/completions", body, header, close=False) + raw_post("/v1/chat/completions", body, header)
    data = raw_exchange(emu.port, two)
    assert data.count(b"HTTP/1.1 200 OK") == 2 and data.count(b"data: [DONE]") == 2
    assert b"transfer-encoding: chunked" in data and data.endswith(b"0\r\n\r\n")
    assert b"connection: keep-alive" in data and b"connection: close" in data


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        (b"NONSENSE\r\n\r\n", 400, b"bad request line"),
        (b"POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 411, b"Content-Length"),
        (raw_post("/v1/chat/completions", b"{not json"), 400, b"could not parse"),
        (raw_post("/v1/chat/completions", b"[]"), 400, b"JSON object"),
        (raw_post("/v1/chat/completions", b'{"messages": []}'), 400, b"model parameter"),
        (raw_post("/v1/chat/completions", b'{"model": "m"}'), 400, b"at least one message"),
        (raw_post("/v1/chat/completions", b'{"model": "m", "messages": [{}], "max_tokens": 0}'), 400, b"max_tokens"),
        (raw_post("/v1/chat/completions", b'{"model": "m", "messages": [{}], "stream_options": 1}'), 400, b"stream_options"),
        (raw_post("/v1/messages", b'{"messages": [{}], "max_tokens": 5}'), 400, b"model: Field required"),
        (raw_post("/v1/messages", b'{"model": "m", "max_tokens": 5}'), 400, b"messages: Field required"),
        (
            raw_post("/v1/messages", b'{"model": "m", "max_tokens": 5, "messages": [{}], "thinking": {"type": "enabled"}}'),
            400,
            b"budget",
        ),
        (raw_post("/v1/chat/completions", b"{}", "x-bench-emulator: {bad\r\n"), 400, b"x-bench-emulator"),
        (raw_post("/v1/chat/completions", b"{}", 'x-bench-emulator: {"speed": 1}\r\n'), 400, b"unknown key"),
        (raw_post("/v1/chat/completions", b"{}", "x-bench-fault: meteor\r\n"), 400, b"unknown fault kind"),
        (raw_post("/v2/whatever", b"{}"), 404, b"Invalid URL"),
        (raw_post("/v1/models", b"{}"), 405, b"not allowed"),
        (b"GET /v1/chat/completions HTTP/1.1\r\nconnection: close\r\n\r\n", 405, b"not allowed"),
        (b"GET /nothing HTTP/1.1\r\nanthropic-version: 1\r\nconnection: close\r\n\r\n", 404, b"not_found_error"),
        (b"GET /openai/v1/models/nope HTTP/1.1\r\nconnection: close\r\n\r\n", 404, b"model_not_found"),
        (b"GET /v1/models HTTP/1.1\r\nx-bench-fault: auth\r\nconnection: close\r\n\r\n", 401, b"invalid_api_key"),
    ],
)
def test_bad_requests_get_provider_shaped_errors(emu: EmulatorHandle, payload: bytes, status: int, needle: bytes) -> None:
    data = raw_exchange(emu.port, payload)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:200]
    assert needle in data


def test_client_going_away_mid_stream_is_logged(emu: EmulatorHandle, chunk_log: Path) -> None:
    body = json.dumps(
        {"model": "gpt-4.1", "messages": MESSAGES, "stream": True, "max_completion_tokens": 400, "ignore_eos": True}
    ).encode()
    override = json.dumps({"ttft_ms": 5, "tokens_per_s": 400, "jitter": 0, "seed": 777001})
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(raw_post("/v1/chat/completions", body, f"x-bench-emulator: {override}\r\n"))
        seen = b""
        while seen.count(b"data: ") < 5:
            seen += sock.recv(65536)
    deadline = time.monotonic() + 5
    entry = None
    while entry is None and time.monotonic() < deadline:
        entry = next((json.loads(x) for x in chunk_log.read_text().splitlines() if '"seed":777001' in x), None)
        time.sleep(0.05)
    assert entry is not None and not entry["completed"] and 1 <= entry["output_tokens"] < 400
    assert entry["end_ns"] - entry["received_ns"] < 0.9e9  # it stopped, it did not stream for a second


def test_strict_models_answer_like_the_real_apis() -> None:
    async def go(emu: EmulatorHandle) -> None:
        async with clients(emu) as c:
            g = c.groq
            o = c.openai
            a = c.anthropic
            with pytest.raises(groq.BadRequestError) as retired:
                await g.chat.completions.create(model="llama3-8b-8192", messages=MESSAGES, max_tokens=3)
            assert "decommissioned" in str(retired.value)
            with pytest.raises(openai.NotFoundError):
                await o.chat.completions.create(model="gpt-3", messages=MESSAGES, max_tokens=3)
            with pytest.raises(anthropic.BadRequestError):
                await a.messages.create(model="claude-3-opus-20240229", messages=MESSAGES, max_tokens=3)
            listed = {m.id for m in (await g.models.list()).data}
            assert "openai/gpt-oss-120b" in listed and "llama3-8b-8192" not in listed
            ok = await a.messages.create(model="claude-haiku-5-5", messages=MESSAGES, max_tokens=2, extra_headers=fast())
            assert ok.usage.output_tokens <= 2

    with start_emulator(strict_models=True) as strict:
        run(go(strict))


def test_a_bug_in_one_request_does_not_stop_the_server(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def get(self, provider: str, model: str) -> None:
            raise RuntimeError("catalogue exploded")

        def default_profile(self, provider: str) -> None:
            raise RuntimeError("catalogue exploded")

        def models(self, provider: str | None = None) -> list[Any]:
            return []

    async def go() -> None:
        server = EmulatorServer(ServerConfig(), catalogue=Broken())  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{await server.start()}/v1"
        try:
            async with sdk_clients(lambda _: base) as c:
                o = c.openai
                with pytest.raises(openai.APIConnectionError):
                    await o.chat.completions.create(model="gpt-4.1", messages=MESSAGES, max_completion_tokens=2)
                assert [m async for m in o.models.list()] == []  # still serving
        finally:
            await server.close()
            await server.close()  # twice is fine

    run(go())
    assert "emulator bug" in caplog.text and "catalogue exploded" in caplog.text


def _find(chunk_log: Path, seed: int, timeout_s: float = 5.0) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in chunk_log.read_text().splitlines():
            if f'"seed":{seed},' in line:
                return json.loads(line)
        time.sleep(0.05)
    return None


def test_stall_ends_when_bounded_and_odd_headers_are_tolerated(emu: EmulatorHandle, chunk_log: Path) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": True, "max_completion_tokens": 5}).encode()
    override = json.dumps({"ttft_ms": 1, "stall_s": 0.3, "seed": 777002})
    headers = f"x-bench-emulator: {override}\r\nx-bench-fault: timeout\r\nx-stainless-retry-count: x\r\n"
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(raw_post("/v1/chat/completions", body, headers, close=False))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        sock.sendall(b"ignored while stalled")
        while sock.recv(65536):
            pass  # the server closes the connection when the stall ends
    assert 0.25 < time.monotonic() - start < 3
    entry = _find(chunk_log, 777002)
    assert entry is not None and entry["fault"] == "timeout" and entry["retry_count"] is None and entry["chunk_ns"] == []


def test_client_leaving_before_the_first_byte(emu: EmulatorHandle, chunk_log: Path) -> None:
    for stream, seed in ((True, 777003), (False, 777004)):
        body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": stream, "max_completion_tokens": 5}).encode()
        override = json.dumps({"ttft_ms": 200, "jitter": 0, "seed": seed})
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
            sock.sendall(raw_post("/v1/chat/completions", body, f"x-bench-emulator: {override}\r\n"))
        entry = _find(chunk_log, seed)
        assert entry is not None and entry["headers_sent_ns"] is None and not entry["completed"]


def test_every_fault_kind_is_accepted_by_the_header(emu: EmulatorHandle) -> None:
    payload = json.dumps({"faults": {kind: 0.0 for kind in FAULT_KINDS}, "ttft_ms": 1, "tokens_per_s": 5000})
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "max_completion_tokens": 2}).encode()
    assert raw_exchange(emu.port, raw_post("/v1/chat/completions", body, f"x-bench-emulator: {payload}\r\n")).startswith(
        b"HTTP/1.1 200 OK"
    )
