"""The emulator bounds how long a client may keep it waiting, as real servers do: a request
head and body must arrive in time, a short body is answered 400, an idle kept-alive connection
is closed, and the SDKs carry on across that close. One emulator with short deadlines serves
the module; every check waits on the server's answer (or its close), never on a clock.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench.emulator import EmulatorHandle, start_emulator
from bench.emulator.server import ServerConfig
from tests.emulator_clients import MESSAGES, clients, fast, raw_post, run

HEADER_S, BODY_S, IDLE_S = 0.4, 0.4, 0.8


@pytest.fixture(scope="module")
def tight() -> Iterator[EmulatorHandle]:
    with start_emulator(timeouts_s={"header": HEADER_S, "body": BODY_S, "idle": IDLE_S}) as handle:
        yield handle


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (the socket's own 5 s timeout fails a hang)."""
    data = b""
    while part := sock.recv(65536):
        data += part
    return data


def _connect(emu: EmulatorHandle) -> socket.socket:
    return socket.create_connection(("127.0.0.1", emu.port), timeout=5)


def test_body_shorter_than_its_content_length_gets_400(tight: EmulatorHandle) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body) + 50}\r\n\r\n".encode()
    with _connect(tight) as sock:
        sock.sendall(head + body)  # 50 bytes short, and the connection stays open
        data = _until_closed(sock)
    assert data.startswith(b"HTTP/1.1 400 "), data[:100]
    assert b"shorter than its Content-Length" in data and b"connection: close" in data


def test_negative_content_length_is_a_bad_request_not_a_large_one(tight: EmulatorHandle) -> None:
    with _connect(tight) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n")
        data = _until_closed(sock)
    assert data.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in data


def test_head_that_never_ends_gets_408(tight: EmulatorHandle) -> None:
    with _connect(tight) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")  # no blank line: the head goes on
        data = _until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 ") and b"request head not received" in data


def test_silent_connection_is_closed_after_the_header_deadline(tight: EmulatorHandle) -> None:
    with _connect(tight) as sock:
        assert _until_closed(sock) == b""  # closed without a word


def test_idle_kept_alive_connection_is_closed(tight: EmulatorHandle) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "max_completion_tokens": 2}).encode()
    header = f"x-bench-emulator: {fast()['x-bench-emulator']}\r\n"
    with _connect(tight) as sock:
        sock.sendall(raw_post("/v1/chat/completions", body, header, close=False))
        data = _until_closed(sock)  # the answer, then the close once the connection sat idle
    assert data.startswith(b"HTTP/1.1 200 OK") and b"connection: keep-alive" in data
    assert data.count(b"HTTP/1.1") == 1


def test_a_slow_but_steady_client_is_served(tight: EmulatorHandle) -> None:
    """The deadlines bound the whole head and body, not each byte, and a client inside them
    is served as usual."""
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "max_completion_tokens": 2}).encode()
    payload = raw_post("/v1/chat/completions", body, f"x-bench-emulator: {fast()['x-bench-emulator']}\r\n")
    head, rest = payload.split(b"\r\n\r\n", 1)
    with _connect(tight) as sock:
        sock.sendall(head[:20])
        time.sleep(HEADER_S / 4)
        sock.sendall(head[20:] + b"\r\n\r\n")
        time.sleep(BODY_S / 4)
        sock.sendall(rest)
        data = _until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK")


def test_sdk_clients_reconnect_after_an_idle_close(tight: EmulatorHandle) -> None:
    """The SDKs' pools notice a connection the server closed while it was idle, and open a new
    one: no error even with retries off."""

    async def go() -> list[int]:
        import asyncio

        tokens = []
        async with clients(tight) as c:
            for _ in range(2):
                reply = await c.openai.chat.completions.create(
                    model="gpt-4.1", messages=MESSAGES, max_completion_tokens=2, extra_headers=fast()
                )
                tokens.append(reply.usage.completion_tokens if reply.usage else -1)
                await asyncio.sleep(IDLE_S * 2)
            message = await c.anthropic.messages.create(
                model="claude-haiku-5-5", messages=MESSAGES, max_tokens=2, extra_headers=fast()
            )
            tokens.append(message.usage.output_tokens)
        return tokens

    assert all(1 <= n <= 2 for n in run(go()))


def test_deadline_defaults_are_like_real_servers() -> None:
    config = ServerConfig()
    assert 1 <= config.header_timeout_s <= 10 and 1 <= config.body_timeout_s <= 10
    assert 10 <= config.idle_timeout_s <= 120


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--idle-timeout", "0"], "--idle-timeout"),
        (["--header-timeout", "nan"], "--header-timeout"),
        (["--body-timeout", "inf"], "--body-timeout"),
        (["--set", "speed=3"], "unknown key 'speed'"),
        (["--set", "ttft_ms=-5"], "ttft_ms must be in"),
        (["--set", "ttft_ms"], "expected KEY=VALUE"),
    ],
)
def test_bad_options_exit_2_with_one_message(args: list[str], needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.emulator", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr
