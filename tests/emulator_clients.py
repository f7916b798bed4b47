"""Helpers shared by the emulator tests: the three SDK clients, fast-profile headers, the chunk log."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import groq
import openai

from bench.emulator import EmulatorHandle

T = TypeVar("T")
MESSAGES = [{"role": "user", "content": "Say hello in twenty words or so, please."}]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fast(**changes: Any) -> dict[str, str]:
    """Headers asking for a quick, exact profile (plus any other override keys)."""
    return {"x-bench-emulator": json.dumps({"ttft_ms": 5, "tokens_per_s": 4000, "jitter": 0, **changes})}


class Clients:
    """The three SDK clients, each built on first use (building one costs tens of ms)."""

    def __init__(self, base: Callable[[str], str], options: dict[str, Any]) -> None:
        self._base = base
        self._options = options
        self._made: list[Any] = []

    def _keep(self, client: T) -> T:
        self._made.append(client)
        return client

    @functools.cached_property
    def groq(self) -> groq.AsyncGroq:
        http_client = groq.DefaultAsyncHttpxClient()
        return self._keep(
            groq.AsyncGroq(api_key="gsk-test", base_url=self._base("groq"), http_client=http_client, **self._options)
        )

    @functools.cached_property
    def openai(self) -> openai.AsyncOpenAI:
        return self._keep(openai.AsyncOpenAI(api_key="sk-test", base_url=self._base("openai"), **self._options))

    @functools.cached_property
    def anthropic(self) -> anthropic.AsyncAnthropic:
        return self._keep(anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=self._base("anthropic"), **self._options))

    async def aclose(self) -> None:
        for client in self._made:
            await client.close()


@asynccontextmanager
async def sdk_clients(base: Callable[[str], str], **options: Any) -> AsyncIterator[Clients]:
    made = Clients(base, {"max_retries": 0, "timeout": 10.0, **options})
    try:
        yield made
    finally:
        await made.aclose()


def clients(emu: EmulatorHandle, **options: Any):  # type: ignore[no-untyped-def]
    return sdk_clients(emu.provider_base_url, **options)


def log_entries(path: Path, wanted: set[str], timeout_s: float = 5.0) -> dict[str, dict[str, Any]]:
    """Chunk-log lines by request_id; waits a little (the server writes after its last byte)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {}
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["request_id"] in wanted:
                found[entry["request_id"]] = entry
        if set(found) == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def raw_exchange(port: int, payload: bytes) -> bytes:
    """Send raw bytes; everything the server sends back until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        while part := sock.recv(65536):
            data += part
        return data


def raw_post(path: str, body: bytes, headers: str = "", close: bool = True) -> bytes:
    connection = "connection: close\r\n" if close else ""
    return f"POST {path} HTTP/1.1\r\nhost: x\r\n{headers}{connection}content-length: {len(body)}\r\n\r\n".encode() + body
