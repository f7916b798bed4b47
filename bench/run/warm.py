"""Pay each client path's one-time start-up before the first measured request, off the record.

A fresh SDK client's first stream costs more than every later one: lazy imports, pydantic
validators built on first use, the SSE decoder's setup — measured at ~45 ms on Anthropic's
event parsing and ~15 ms on Groq's. Inside a record that lands in TTFT's tail, and the first
chunks then arrive bunched (an output speed in the tens of thousands of tokens/s). So before
a process measures anything with a (provider, client path), it sends one request of that
wire format, through a client of that path, to a canned answer on loopback served from this
same event loop, and times it like a real one — into no record. Once per process: the costs
are per process (module and class level), not per client.

The canned answers hold every stream shape a real answer may bring, not only text: an SDK
builds a type's validators the first time it meets that type, and an unknown one (a content
block newer than the SDK) makes it build every variant of the union. Measured after a warm-up
of text and thinking alone: the first Anthropic ``compaction`` block (context management)
stalled the SDK path 30-90 ms, so TTFT read 3× the truth with every gap after it near 0; the
first Groq compound ``executed_tools`` chunk (web search) 3-13 ms, a 120 ms gap read 107. So:
server tools, tool calls, citations, compaction, code and search results, usage breakdowns.
"""

from __future__ import annotations

import asyncio
from typing import Final

from bench.providers import make_provider
from bench.providers.base import ClientSettings, ProviderRequest
from bench.results.records import RequestRecord
from bench.run.measure import measure_request

_warmed: set[tuple[str, str]] = set()

_CHAT_USAGE: Final = (
    b'{"queue_time":0.001,"prompt_tokens":1,"prompt_time":0.001,"completion_tokens":2,"completion_time":0.001,'
    b'"total_tokens":3,"total_time":0.002}'
)
_CHAT: Final = (
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":"req_warm"}}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"reasoning":"a"},"logprobs":null,"finish_reason":null}]}\n\n'
    # Groq compound: a tool starting, then its results (search, code, browser) in one chunk.
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"reasoning":"<tool>","executed_tools":[{"index":0,"type":"search","arguments":"{}"}]},'
    b'"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"reasoning":"<output>","executed_tools":[{"index":0,"type":"search","arguments":"{}","output":"o",'
    b'"search_results":{"results":[{"title":"t","url":"u","content":"c","score":0.5}],"images":["i"]}},'
    b'{"index":1,"type":"python","arguments":"{}","output":"o","code_results":[{"text":"t","png":"p",'
    b'"chart":{"type":"bar","title":"t","elements":[{"label":"l","value":1.0,"points":[[0.0,1.0]]}]},'
    b'"charts":[{"type":"line","elements":[{"label":"l","value":1.0}]}]}]},'
    b'{"index":2,"type":"browser","arguments":"{}","browser_results":[{"title":"t","url":"u","content":"c",'
    b'"live_view_url":"v"}]}]},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"content":"b","annotations":[{"type":"function_citation","function_citation":{"start_index":0,'
    b'"end_index":1,"tool_call_id":"c"}}]},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"tool_calls":[{"index":0,"id":"call_warm","type":"function","function":{"name":"f","arguments":"{}"}}]},'
    b'"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_warm","usage":' + _CHAT_USAGE + b","
    b'"usage_breakdown":{"models":[{"model":"m","usage":' + _CHAT_USAGE + b"}]}}}\n\n"
    b'data: {"id":"chatcmpl-warm","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,'
    b'"completion_tokens_details":{"reasoning_tokens":1}}}\n\n'
    b"data: [DONE]\n\n"
)


def _block(index: int, block: bytes, *deltas: bytes) -> bytes:
    """One Anthropic content block: start, its deltas, stop."""
    out = b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,"content_block":%s}\n\n' % (index, block)
    for delta in deltas:
        out += b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":%s}\n\n' % (index, delta)
    return out + b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n' % index


_MESSAGES: Final = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_warm","type":"message",'
    b'"role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n'
    # Context management: a compaction block (a type this SDK's stream union may not know).
    + _block(0, b'{"type":"compaction","content":null}', b'{"type":"compaction_delta","content":"s","encrypted_content":"e"}')
    + _block(
        1,
        b'{"type":"thinking","thinking":"","signature":""}',
        b'{"type":"thinking_delta","thinking":"a"}',
        b'{"type":"signature_delta","signature":"s"}',
    )  # fmt: skip
    + _block(2, b'{"type":"redacted_thinking","data":"d"}')
    # Server tools (web search): the call, then its result.
    + _block(
        3,
        b'{"type":"server_tool_use","id":"srvtoolu_warm","name":"web_search","input":{}}',
        b'{"type":"input_json_delta","partial_json":"{}"}',
    )  # fmt: skip
    + _block(
        4,
        b'{"type":"web_search_tool_result","tool_use_id":"srvtoolu_warm","content":[{"type":"web_search_result",'
        b'"title":"t","url":"u","encrypted_content":"e","page_age":null}]}',
    )  # fmt: skip
    + b'event: ping\ndata: {"type":"ping"}\n\n'
    + _block(
        5,
        b'{"type":"text","text":""}',
        b'{"type":"text_delta","text":"b"}',
        b'{"type":"citations_delta","citation":{"type":"web_search_result_location","cited_text":"c","url":"u",'
        b'"title":"t","encrypted_index":"e"}}',
    )  # fmt: skip
    + _block(
        6, b'{"type":"tool_use","id":"toolu_warm","name":"f","input":{}}', b'{"type":"input_json_delta","partial_json":"{}"}'
    )
    + b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2,'
    b'"server_tool_use":{"web_search_requests":1},"iterations":[{"type":"compaction","input_tokens":1,"output_tokens":1},'
    b'{"type":"message","input_tokens":1,"output_tokens":2}]},"context_management":{"applied_edits":[]}}\n\n'
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
