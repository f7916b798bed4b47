"""CPU per chunk of each client path's parse + record work, on one core, as a ratio.

The same chunked SSE body (one Chat Completions chunk per HTTP chunk, as Groq sends them) is
fed from memory through each path's real code, and the measuring loop consumes it:

- fast: ``lean_protocol`` (httptools) → SSE split → orjson → ``chat_wire`` →
  ``FastChatProvider.events`` → measure loop;
- sdk: httpx2 response stream → openai SDK's ``AsyncStream`` (SSE decoder, JSON, pydantic
  chunk models) → ``ChatCompletionsProvider``'s translation → measure loop.

No sockets: this is the client's own cost per chunk, which bounds how many chunks a second one
event loop can stamp on time (syscalls come on top). Both paths run on the event loop a run
uses (``bench.event_loop``: uvloop where installed); the feeding task's wake-ups and the loop's
own work per chunk are in the figure, for both paths alike.

    python benchmarks/client_cost.py                  # 20,000 chunks, best of 5
    python benchmarks/client_cost.py --chunks 2000 --repeat 1
    BENCH_EVENT_LOOP=asyncio python benchmarks/client_cost.py   # on asyncio's own loop
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from bench.event_loop import event_loop_name
from bench.providers.base import ClientSettings, ProviderRequest
from bench.providers.fast import FastChatProvider
from bench.providers.lean_protocol import Connection, Response
from bench.run.measure import StreamTally, _consume

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def sse_events(n: int) -> list[bytes]:
    """``n`` content chunks (plus opener, finish+usage and [DONE]) as SSE events."""

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "system_fingerprint": "fp_1", "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }  # fmt: skip
        if usage:
            body["usage"] = usage
        return b"data: " + orjson.dumps(body) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": f" tok{i}"}) for i in range(n)]
    events.append(chunk({}, "length", {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": n + 10}))
    events.append(b"data: [DONE]\n\n")
    return events


def http_chunks(events: list[bytes]) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]


async def fast_path(events: list[bytes]) -> StreamTally:
    """One HTTP chunk per read into the lean client's protocol, read by ``FastChatProvider``'s
    own ``events`` (what a run drives); only the socket is left out."""

    class _Transport:
        def is_closing(self) -> bool:
            return False

        def abort(self) -> None:
            pass

    provider = FastChatProvider("openai", ClientSettings("http://127.0.0.1:9/v1", "k", 1, 60.0, 0))
    conn = Connection()
    conn.transport = _Transport()  # type: ignore[assignment]
    response = Response(provider._decoder())
    conn.response = response
    feeding: list[asyncio.Future[None]] = []

    async def feed() -> None:
        for piece in http_chunks(events):
            conn.data_received(piece)
            await asyncio.sleep(0)

    async def open_(*_: Any) -> tuple[Connection, Response]:
        conn.data_received(HEAD)
        feeding.append(asyncio.ensure_future(feed()))
        return conn, response

    provider._client.open = open_  # type: ignore[method-assign]
    request = ProviderRequest(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=len(events))
    tally = StreamTally(content_ns=[])
    await _consume(provider.events(request), tally)
    await feeding[0]
    return tally


async def sdk_path(events: list[bytes]) -> StreamTally:
    """The same bytes through httpx2 and the openai SDK's stream, then the SDK provider's loop."""
    import httpx2
    import openai
    from openai.types.chat import ChatCompletionChunk

    from bench.providers.openai_chat import ChatCompletionsProvider

    provider = ChatCompletionsProvider("openai", ClientSettings("http://127.0.0.1:9/v1", "k", 1, 60.0, 0))
    sdk: Any = provider._sdk

    class _Body(httpx2.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for event in events:
                yield event
                await asyncio.sleep(0)

    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=_Body(),
                               request=httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))  # fmt: skip
    stream = openai.AsyncStream(cast_to=ChatCompletionChunk, response=response, client=sdk)

    class _Completions:
        async def create(self, **_: Any) -> Any:
            return stream

    sdk.chat = type("Chat", (), {"completions": _Completions()})()
    from bench.providers.base import ProviderRequest

    request = ProviderRequest(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=len(events))
    tally = StreamTally(content_ns=[])
    await _consume(provider.events(request), tally)
    return tally


def _run(main: Any) -> Any:
    """``main`` to completion on the loop a run uses."""
    if event_loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def cpu_per_chunk(path: Callable[[list[bytes]], Any], n: int, repeat: int) -> float:
    """Best-of-``repeat`` CPU seconds per content chunk (process time: this core's work only)."""
    events = sse_events(n)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        tally = _run(path(events))
        best = min(best, (time.process_time() - start) / n)
        assert len(tally.content_ns) == n, f"{path.__name__}: {len(tally.content_ns)} of {n} chunks"
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    fast = cpu_per_chunk(fast_path, args.chunks, args.repeat)
    sdk = cpu_per_chunk(sdk_path, args.chunks, args.repeat)
    print(f"event loop: {event_loop_name()}")
    print(f"{'path':6} {'µs CPU / chunk':>15} {'chunks/s on one core':>21}")
    for name, cost in (("fast", fast), ("sdk", sdk)):
        print(f"{name:6} {cost * 1e6:15.1f} {1 / cost:21,.0f}")
    print(f"fast path does {sdk / fast:.1f}× the chunks per CPU second of the SDK path (same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
