"""Pay each client path's one-time start-up before the first measured request, off the record.

A fresh SDK client's first stream costs more than every later one: lazy imports, pydantic
validators built on first use, the SSE decoder's setup — measured at ~45 ms on Anthropic's
event parsing and ~15 ms on Groq's. Inside a record that lands in TTFT's tail, and the first
chunks then arrive bunched (an output speed in the tens of thousands of tokens/s). So before
a process measures anything with a (provider, client path), it sends one request of that
wire format, through a client of that path, to a canned answer on loopback served from this
same event loop, and times it like a real one — into no record. Once per process: the costs
are per process (module and class level), not per client.
"""

from __future__ import annotations

import asyncio
from typing import Final

from bench.providers import make_provider
from bench.providers.base import ClientSettings, ProviderRequest
from bench.results.records import RequestRecord
from bench.run.measure import measure_request

_warmed: set[tuple[str, str]] = set()

_CHAT: Final = (
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"reasoning":"a"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"content":"b"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_warm","usage":{"queue_time":0.001,'
    b'"prompt_tokens":1,"prompt_time":0.001,"completion_tokens":2,"completion_time":0.001,"total_tokens":3,'
    b'"total_time":0.002}}}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,'
    b'"completion_tokens_details":{"reasoning_tokens":1}}}\n\n'
    b"data: [DONE]\n\n"
)
_MESSAGES: Final = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_warm","type":"message",'
    b'"role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"thinking_delta","thinking":"a"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":1,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    b'"delta":{"type":"text_delta","text":"b"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        body = _MESSAGES if b"/v1/messages" in head.split(b"\r\n", 1)[0] else _CHAT
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nx-request-id: req_warm\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def _base_url(provider: str, port: int) -> str:
    root = f"http://127.0.0.1:{port}"
    return root + "/v1" if provider in ("openai", "openai-compatible") else root


async def warm_client_path(provider: str, client: str) -> bool:
    """Exercise (provider, client) once in this process; True if it ran now, False if it had."""
    if (provider, client) in _warmed:
        return False

    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = ClientSettings(_base_url(provider, port), "bench-warm-up", 1, 10.0, 0, direct=True)
    client_path = make_provider(provider, settings, client)
    request = ProviderRequest(model="m", messages=[{"role": "user", "content": "warm up"}], max_tokens=2)
    record = RequestRecord("warm-up", "warm-up", provider, "m", "concurrency", 1.0, 0, True, True, client)
    try:
        await measure_request(client_path, request, record, timeout_s=10.0)
    finally:
        await client_path.aclose()
        server.close()
        await server.wait_closed()
    _warmed.add((provider, client))
    return True
