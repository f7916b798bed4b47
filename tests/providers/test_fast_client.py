"""The lean client path (``client = "fast"``) against real servers on loopback.

Every stream shape the SDK path handles goes through both client paths, against small
hand-written servers (exact bytes, written as each test says: whole, one byte at a time,
with pauses) and against the built-in emulator. Nothing is mocked: the official SDKs, the
lean client, ``bench.run.measure`` and the sockets are the real ones. Where both paths can read a
shape, the test asserts they record the same thing, and what that is.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from bench.emulator.faults import expected_error_kind
from bench.providers import ClientSettings, ProviderRequest, make_provider
from bench.results.records import RequestRecord
from bench.run.measure import measure_request
from bench.run.runner import loop_options, run_scenario

CLIENTS = ("sdk", "fast")
KEY = "test-key-123"
#: Headers the two paths set differently on purpose (see bench/providers/fast.py): the fast path
#: asks for an uncompressed body.
TRANSPORT_HEADERS = {"accept-encoding", "connection"}

# ---------------------------------------------------------------------------- a raw server


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    #: What the first ``recv`` of this request returned (one write → usually all of it).
    first_recv: bytes
    connection: int  # which connection (0, 1, …) it came on
    on_connection: int  # its place on that connection (0 = first)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


#: answer(request, socket) → True to keep the connection for another request.
Answer = Callable[[Seen, socket.socket], bool]


class RawServer:
    """HTTP/1.1 on a bare socket, one thread per connection; ``answer`` writes the bytes."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        self.connections = 0
        self.stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)  # accept wakes to see ``stop``
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            index = self.connections
            self.connections += 1
            self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, index: int) -> None:
        buffer = b""
        n = 0
        try:
            while not self.stop.is_set():
                first = b""
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    first = first or data
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                while len(buffer) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                seen = Seen(method, path, headers, body, first, index, n)  # type: ignore[arg-type]
                self.seen.append(seen)
                n += 1
                if not self.answer(seen, sock):
                    return
        except OSError:
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def raw() -> Iterator[Callable[[Answer], RawServer]]:
    servers: list[RawServer] = []

    def make(answer: Answer) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


# ---------------------------------------------------------------------------- wire bytes


def head(
    status: int = 200,
    content_type: str = "text/event-stream",
    *,
    chunked: bool = True,
    length: int | None = None,
    close: bool = False,
    extra: str = "",
) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}", f"content-type: {content_type}", "x-request-id: req_raw"]
    if length is not None:
        lines.append(f"content-length: {length}")
    elif chunked:
        lines.append("transfer-encoding: chunked")
    if close:
        lines.append("connection: close")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


LAST = b"0\r\n\r\n"


def chat(delta: dict | None = None, finish: str | None = None, usage: dict | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    body.update(extra)
    return b"data: " + json.dumps(body).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def usage(completion: int, prompt: int = 7) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def anthropic_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def message_start(input_tokens: int = 9) -> bytes:
    return anthropic_event(
        "message_start",
        message={
            "id": "msg_raw",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    )


def block_start(index: int, block: dict) -> bytes:
    return anthropic_event("content_block_start", index=index, content_block=block)


def block_delta(index: int, delta: dict) -> bytes:
    return anthropic_event("content_block_delta", index=index, delta=delta)


def text(index: int, value: str) -> bytes:
    return block_delta(index, {"type": "text_delta", "text": value})


def message_end(stop: str, output_tokens: int) -> list[bytes]:
    return [
        anthropic_event(
            "message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage={"output_tokens": output_tokens}
        ),
        anthropic_event("message_stop"),
    ]


def send_stream(
    events: list[bytes],
    *,
    how: str = "whole",
    pause_s: float = 0.0,
    close: bool = False,
    chunked_encoding: bool = True,
    status: int = 200,
) -> Answer:
    """An answer that streams ``events``: in one write ("whole"), one write per event ("each",
    ``pause_s`` apart), or one byte at a time ("bytes")."""

    def answer(seen: Seen, sock: socket.socket) -> bool:
        framed = [chunked(e) if chunked_encoding else e for e in events]
        if chunked_encoding:
            framed.append(LAST)
        sock.sendall(head(status, chunked=chunked_encoding, close=close))
        if how == "whole":
            sock.sendall(b"".join(framed))
        elif how == "each":
            for part in framed:
                time.sleep(pause_s)
                sock.sendall(part)
        else:
            for byte in b"".join(framed):
                sock.sendall(bytes([byte]))
                time.sleep(0.00005)
        return not close

    return answer


def send_body(
    status: int, body: bytes, content_type: str = "application/json", *, close: bool = False, with_length: bool = True
) -> Answer:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        if with_length:
            sock.sendall(head(status, content_type, length=len(body), close=close) + body)
        else:
            sock.sendall(head(status, content_type, chunked=False, close=True) + body)
            return False
        return not close

    return answer


# ---------------------------------------------------------------------------- driving a request


def request(
    provider: str, *, stream: bool = True, max_tokens: int = 8, extra_headers: dict[str, str] | None = None, model: str = "m"
) -> ProviderRequest:
    return ProviderRequest(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=max_tokens,
        stream=stream,
        temperature=0.0,
        system="Be brief." if provider == "anthropic" else None,
        extra_headers=extra_headers or {},
    )


def base_url(provider: str, root: str) -> str:
    return root + "/v1" if provider in ("openai", "openai-compatible") else root


def settings(provider: str, root: str, *, timeout_s: float = 5.0, pool: int = 4) -> ClientSettings:
    return ClientSettings(base_url(provider, root), KEY, pool, timeout_s, 0)


def new_record(client: str, provider: str, index: int = 0) -> RequestRecord:
    return RequestRecord(
        run_id="t",
        target=provider,
        provider=provider,
        model="m",
        load_mode="concurrency",
        load_level=1.0,
        request_index=index,
        warmup=False,
        stream=True,
        client=client,
    )


def measure_n(
    client: str,
    provider: str,
    root: str,
    n: int = 1,
    *,
    stream: bool = True,
    timeout_s: float = 5.0,
    between: Callable[[], None] | None = None,
    max_tokens: int = 8,
    extra_headers: dict[str, str] | None = None,
    model: str = "m",
) -> list[RequestRecord]:
    """``n`` requests one after another through one provider (one client, as a level has)."""

    async def go() -> list[RequestRecord]:
        p = make_provider(provider, settings(provider, root, timeout_s=timeout_s), client)
        records = []
        try:
            for i in range(n):
                if i and between is not None:
                    await anyio.to_thread.run_sync(between)
                record = new_record(client, provider, i)
                record.stream = stream
                req = request(provider, stream=stream, max_tokens=max_tokens, extra_headers=extra_headers, model=model)
                records.append(await measure_request(p, req, record, timeout_s=timeout_s, secrets=(KEY,)))
        finally:
            await p.aclose()
        return records

    return anyio.run(go, backend_options=loop_options())


def measure(client: str, provider: str, root: str, **kwargs: Any) -> RequestRecord:
    return measure_n(client, provider, root, 1, **kwargs)[0]


#: Fields both client paths must agree on exactly for the same bytes.
EXACT = (
    "status",
    "error_kind",
    "http_status",
    "output_tokens",
    "input_tokens",
    "reasoning_tokens",
    "token_source",
    "content_chunks",
    "finish_reason",
    "request_id",
    "queue_ms",
    "prompt_ms",
    "completion_ms",
)


def both(provider: str, answer: Answer, raw: Callable[[Answer], RawServer], **kwargs: Any) -> dict[str, RequestRecord]:
    """The same answer measured through each client path; asserts they agree on every count."""
    records = {}
    for client in CLIENTS:
        server = raw(answer)
        records[client] = measure(client, provider, server.url, **kwargs)
    sdk, fast = records["sdk"], records["fast"]
    assert fast.client == "fast" and sdk.client == "sdk"
    for name in EXACT:
        assert getattr(fast, name) == getattr(sdk, name), (
            name,
            getattr(sdk, name),
            getattr(fast, name),
            sdk.error_message,
            fast.error_message,
        )
    assert (fast.ttfa_ms is None) == (sdk.ttfa_ms is None)
    assert len(fast.itl_ms) == len(sdk.itl_ms)
    return records


# ---------------------------------------------------------------------------- chat completions shapes

#: A chat stream with most quirks at once: the role-only opener (no token), reasoning deltas,
#: an empty-string piece (a token, not a content event), a finish chunk and a usage-only chunk.
RICH_CHAT = [
    chat({"role": "assistant", "content": ""}),
    chat({"reasoning": "Let"}),
    chat({"reasoning": " me"}),
    chat({"content": "Hi"}),
    chat({"content": ""}),
    chat({"content": " there"}),
    chat({}, finish="stop"),
    chat(None, usage=usage(5)),
    DONE,
]


def crlf(events: list[bytes]) -> list[bytes]:
    return [e.replace(b"\n", b"\r\n") for e in events]


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize("how", ["whole", "bytes", "each"])
def test_chat_stream_however_it_is_cut_into_reads(raw, how: str, line_end: str) -> None:
    """Several events in one read, one event over many reads, CRLF line ends: the same record."""
    events = crlf(RICH_CHAT) if line_end == "crlf" else RICH_CHAT
    records = both("openai", send_stream(events, how=how, pause_s=0.002), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.token_source, record.content_chunks) == (5, "usage", 4)
        assert (record.finish_reason, record.input_tokens, record.request_id) == ("stop", 7, "chatcmpl-raw")
        assert record.ttfa_ms is not None and record.ttft_ms is not None and record.ttfa_ms >= record.ttft_ms
    if how == "whole":  # one read carried every event: they share its stamp
        assert records["fast"].itl_ms == [0.0, 0.0, 0.0]


def test_vllm_shape_reasoning_content_usage_on_every_chunk_and_read_to_close(raw) -> None:
    events = [chat({"role": "assistant", "content": ""}), chat({"reasoning_content": "hmm"}), chat({"reasoning_content": " ok"})]
    events += [chat({"content": w}, usage=usage(i + 3, 5)) for i, w in enumerate(["Hi", " there", "!"])]
    events += [chat({}, finish="stop", usage=usage(5, 5)), DONE]
    # Connection: close and neither content-length nor chunked encoding: the body ends at the close.
    records = both("openai-compatible", send_stream(events, how="each", pause_s=0.003, close=True, chunked_encoding=False), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.token_source, record.content_chunks, record.input_tokens) == (5, "usage", 5, 5)
        assert record.ttfa_ms > record.ttft_ms


def test_llama_cpp_shape_no_usage_no_done(raw) -> None:
    events = [chat({"role": "assistant", "content": ""})] + [chat({"content": w}) for w in ["A", "", "B", "C"]]
    events += [chat({}, finish="stop", timings={"predicted_ms": 3.0})]  # and the stream just ends
    records = both("openai-compatible", send_stream(events), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        # No usage: one token per chunk with a text field, the empty byte-fallback piece included.
        assert (record.token_source, record.output_tokens, record.content_chunks) == ("chunks", 4, 3)
        assert record.finish_reason == "stop" and record.input_tokens is None


def test_missing_done_with_close_delimited_body(raw) -> None:
    events = [chat({"content": w}) for w in ["one", " two"]] + [chat({}, finish="length", usage=usage(2))]
    records = both("openai-compatible", send_stream(events, how="each", close=True, chunked_encoding=False), raw)
    assert all(r.status == "ok" and r.output_tokens == 2 and r.finish_reason == "length" for r in records.values())


def test_comments_and_blank_keepalives_between_events(raw) -> None:
    events = [
        b": OPENROUTER PROCESSING\n\n",
        chat({"role": "assistant", "content": ""}),
        b": ping\n\n",
        chat({"content": "Hi"}),
        b":\n\n",
        chat({"content": "!"}),
        chat({}, finish="stop", usage=usage(2)),
        DONE,
    ]
    records = both("openai", send_stream(events, how="bytes"), raw)
    assert all(r.status == "ok" and (r.output_tokens, r.content_chunks) == (2, 2) for r in records.values())


def test_groq_x_groq_usage_timings_and_reasoning(raw) -> None:
    x_groq = {
        "id": "req_01",
        "usage": {
            "queue_time": 0.012,
            "prompt_tokens": 11,
            "prompt_time": 0.003,
            "completion_tokens": 6,
            "completion_time": 0.02,
            "total_tokens": 17,
            "total_time": 0.023,
        },
    }
    events = [
        chat({"role": "assistant", "content": ""}, x_groq={"id": "req_01"}),
        chat({"reasoning": "The user"}),
        chat({"reasoning": " wants hi."}),
        chat({"content": "Hi"}),
        chat({"content": "!"}),
        chat({}, finish="stop", x_groq=x_groq),
        DONE,
    ]
    records = both("groq", send_stream(events, how="each", pause_s=0.002), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.input_tokens, record.content_chunks) == (6, 11, 4)
        assert record.queue_ms == pytest.approx(12.0) and record.prompt_ms == pytest.approx(3.0)
        assert record.completion_ms == pytest.approx(20.0) and record.server_output_tps == pytest.approx(300.0)
        assert record.ttfa_ms > record.ttft_ms


@pytest.mark.parametrize("client", CLIENTS)
def test_think_tags_ttfa_lands_on_the_first_visible_answer_text(raw, client: str) -> None:
    """``<think>…</think>`` in content, then "\\n\\n" as its own chunk: TTFA is "Hello"'s arrival."""
    pieces = ["<think>", "hmm", "</think>", "\n\n", "Hello", " world"]
    events = [chat({"role": "assistant", "content": ""})] + [chat({"content": p}) for p in pieces]
    events += [chat({}, finish="stop"), DONE]
    server = raw(send_stream(events, how="each", pause_s=0.02))
    record = measure(client, "openai-compatible", server.url)
    assert record.status == "ok", record.error_message
    assert (record.content_chunks, record.output_tokens, record.token_source) == (6, 6, "chunks")
    assert record.itl_ms[3] > 5, record.itl_ms  # "\n\n" and "Hello" came in reads of their own
    # TTFA is the stamp of the fifth content event ("Hello"), not of "</think>" or "\n\n".
    assert record.ttfa_ms == pytest.approx(record.ttft_ms + sum(record.itl_ms[:4]), abs=0.01)


def test_think_close_and_answer_in_one_chunk(raw) -> None:
    pieces = ["<think>hmm", " ok</think>", "\n\nHello", " world"]
    events = [chat({"content": p}) for p in pieces] + [chat({}, finish="stop"), DONE]
    records = both("openai-compatible", send_stream(events, how="each", pause_s=0.01), raw)
    for record in records.values():
        assert record.ttfa_ms == pytest.approx(record.ttft_ms + sum(record.itl_ms[:2]), abs=0.01)


@pytest.mark.parametrize("provider", ["openai", "groq"])
def test_error_event_inside_a_200_chat_stream(raw, provider: str) -> None:
    error = {"message": "Internal Server Error", "type": "internal_server_error", "code": "internal_server_error"}
    events = [
        chat({"role": "assistant", "content": ""}),
        chat({"content": "Hi"}),
        b"data: " + json.dumps({"error": error}).encode() + b"\n\n",
    ]
    records = both(provider, send_stream(events), raw)
    for record in records.values():
        assert (record.status, record.error_kind, record.http_status) == ("error", "server_error", 200)
        assert "Internal Server Error" in record.error_message
        assert record.content_chunks == 1


def test_error_event_naming_a_status_inside_a_200_chat_stream(raw) -> None:
    """vLLM-style: an integer ``code`` in the error names the status the record carries."""
    error = {"message": "overloaded, try later", "type": "ServiceUnavailableError", "code": 503}
    events = [chat({"content": "Hi"}), b"data: " + json.dumps({"error": error}).encode() + b"\n\n"]
    records = both("openai-compatible", send_stream(events), raw)
    assert all((r.error_kind, r.http_status) == ("overloaded", 503) for r in records.values())


# ---------------------------------------------------------------------------- anthropic messages shapes


def anthropic_stream(*, redacted: bool = True, output_tokens: int = 200) -> list[bytes]:
    events = [
        message_start(),
        anthropic_event("ping"),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Let me think"}),
        block_delta(0, {"type": "thinking_delta", "thinking": " about it."}),
        block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
        anthropic_event("content_block_stop", index=0),
    ]
    if redacted:
        events += [
            block_start(1, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}),
            anthropic_event("content_block_stop", index=1),
        ]
    events += [
        block_start(2, {"type": "text", "text": ""}),
        text(2, "Hello"),
        anthropic_event("ping"),
        text(2, " there"),
        text(2, ", friend."),
        anthropic_event("content_block_stop", index=2),
    ]
    return events + message_end("end_turn", output_tokens)


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize("how", ["whole", "bytes", "each"])
def test_anthropic_stream_with_thinking_and_redacted_thinking(raw, how: str, line_end: str) -> None:
    events = anthropic_stream()
    events = crlf(events) if line_end == "crlf" else events
    records = both("anthropic", send_stream(events, how=how, pause_s=0.003), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.input_tokens, record.token_source) == (200, 9, "usage")
        assert (record.content_chunks, record.finish_reason, record.request_id) == (5, "end_turn", "msg_raw")
        assert record.ttfa_ms >= record.ttft_ms


@pytest.mark.parametrize("client", CLIENTS)
def test_redacted_thinking_does_not_inflate_output_speed(raw, client: str) -> None:
    """200 tokens billed, a few dozen characters streamed: speed rests on what streamed."""
    server = raw(send_stream(anthropic_stream(), how="each", pause_s=0.01))
    record = measure(client, "anthropic", server.url)
    assert record.status == "ok", record.error_message
    streamed_chars = len("Let me think about it.") + len("Hello there, friend.")
    span_s = sum(record.itl_ms) / 1000
    n = record.content_chunks
    assert record.output_tps == pytest.approx(streamed_chars / 4 * (1 - 1 / n) / span_s, rel=0.01)
    billed = 200 * (1 - 1 / n) / span_s
    assert record.output_tps < billed / 5


@pytest.mark.parametrize("client", CLIENTS)
def test_thinking_without_redaction_uses_the_billed_count(raw, client: str) -> None:
    server = raw(send_stream(anthropic_stream(redacted=False, output_tokens=12), how="each", pause_s=0.01))
    record = measure(client, "anthropic", server.url)
    span_s = sum(record.itl_ms) / 1000
    assert record.output_tps == pytest.approx(12 * (1 - 1 / 5) / span_s, rel=0.01)


def test_anthropic_cache_tokens_count_as_input(raw) -> None:
    start = anthropic_event(
        "message_start",
        message={
            "id": "msg_c",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 1},
        },
    )
    events = [start, block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), text(0, "!")]
    events += message_end("max_tokens", 2)
    records = both("anthropic", send_stream(events), raw)
    assert all((r.input_tokens, r.output_tokens, r.finish_reason) == (123, 2, "max_tokens") for r in records.values())


def test_anthropic_error_event_inside_a_200_stream(raw) -> None:
    error = anthropic_event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), error]
    records = both("anthropic", send_stream(events, how="each"), raw)
    for record in records.values():
        assert (record.status, record.error_kind, record.http_status) == ("error", "overloaded", 529)
        assert "Overloaded" in record.error_message and record.content_chunks == 1


def test_anthropic_stream_without_message_stop(raw) -> None:
    events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), text(0, " you")]
    events += message_end("end_turn", 2)[:1]  # message_delta, then the body ends
    records = both("anthropic", send_stream(events, how="bytes"), raw)
    assert all(r.status == "ok" and (r.output_tokens, r.finish_reason) == (2, "end_turn") for r in records.values())


# ---------------------------------------------------------------------------- failures


def error_body(provider: str, kind: str, message: str, code: str | None = None) -> bytes:
    if provider == "anthropic":
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


HTTP_ERRORS = [
    # status, (openai type, code), anthropic type, error_kind
    (401, ("invalid_request_error", "invalid_api_key"), "authentication_error", "auth"),
    (404, ("invalid_request_error", "model_not_found"), "not_found_error", "model_not_found"),
    (429, ("requests", "rate_limit_exceeded"), "rate_limit_error", "rate_limited"),
    (500, ("server_error", None), "api_error", "server_error"),
    (503, ("service_unavailable_error", "server_is_overloaded"), "overloaded_error", "overloaded"),
    (529, ("overloaded_error", None), "overloaded_error", "overloaded"),
]


@pytest.mark.parametrize("provider", ["groq", "openai", "anthropic"])
@pytest.mark.parametrize(("status", "openai_error", "anthropic_error", "kind"), HTTP_ERRORS)
def test_http_errors_with_bodies(raw, provider: str, status: int, openai_error: tuple, anthropic_error: str, kind: str) -> None:
    if provider == "anthropic":
        body = error_body(provider, anthropic_error, f"model: m ({status})")
    else:
        body = error_body(provider, openai_error[0], f"The model `m` failed ({status})", openai_error[1])
    records = both(provider, send_body(status, body), raw)
    for record in records.values():
        assert (record.status, record.error_kind, record.http_status) == ("error", kind, status)
        assert f"({status})" in record.error_message
        assert record.ttfb_ms is not None and record.ttft_ms is None and record.e2e_ms is not None


def test_http_error_that_is_not_json(raw) -> None:
    records = both("openai", send_body(502, b"<html>Bad Gateway</html>", "text/html"), raw)
    assert all((r.error_kind, r.http_status) == ("server_error", 502) for r in records.values())
    assert "Bad Gateway" in records["fast"].error_message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("where", ["between events", "inside an event"])
def test_cut_mid_stream(raw, provider: str, where: str) -> None:
    if provider == "anthropic":
        events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), text(0, " there")]
    else:
        events = [chat({"role": "assistant", "content": ""}), chat({"content": "Hi"}), chat({"content": " there"})]

    def answer(seen: Seen, sock: socket.socket) -> bool:
        sock.sendall(head() + b"".join(chunked(e) for e in events))
        if where == "inside an event":
            last = chunked(events[-1])
            sock.sendall(last[: len(last) // 2])
        time.sleep(0.01)
        sock.shutdown(socket.SHUT_RDWR)
        return False

    records = both(provider, answer, raw)
    for record in records.values():
        assert (record.status, record.error_kind, record.http_status) == ("error", "stream_interrupted", 200)
        assert record.content_chunks == 2


@pytest.mark.parametrize("pause_s", [0.0, 0.01])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_cut_after_the_streams_end_event_fails_nothing(raw, provider: str, pause_s: float) -> None:
    """[DONE] / message_stop arrived, then the connection closed before the chunked body's end:
    the stream is whole (the connection is just not kept). The OpenAI SDK records it ok too;
    the Anthropic SDK, which reads the body to its end, records stream_interrupted."""
    if provider == "anthropic":
        events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), *message_end("end_turn", 1)]
    else:
        events = [chat({"content": "Hi"}), chat({}, finish="stop", usage=usage(1)), DONE]

    def answer(seen: Seen, sock: socket.socket) -> bool:
        sock.sendall(head() + b"".join(chunked(e) for e in events))
        time.sleep(pause_s)
        sock.shutdown(socket.SHUT_RDWR)
        return False

    server = raw(answer)
    records = measure_n("fast", provider, server.url, 2)
    assert [r.status for r in records] == ["ok", "ok"], [r.error_message for r in records]
    assert all(r.output_tokens == 1 and r.finish_reason in ("stop", "end_turn") for r in records)
    assert server.connections == 2
    if provider == "openai":
        assert measure("sdk", provider, server.url).status == "ok"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_connection_closed_before_any_response(raw, provider: str) -> None:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        sock.shutdown(socket.SHUT_RDWR)
        return False

    records = both(provider, answer, raw)
    assert all((r.error_kind, r.http_status, r.ttfb_ms) == ("connection", None, None) for r in records.values())


@pytest.mark.parametrize("provider", ["groq", "anthropic"])
def test_connection_refused(provider: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    for client in CLIENTS:
        record = measure(client, provider, f"http://127.0.0.1:{port}")
        assert (record.status, record.error_kind, record.http_status) == ("error", "connection", None)
    assert "127.0.0.1" in record.error_message and "refused" in record.error_message.lower()


@pytest.mark.parametrize("when", ["before headers", "mid-stream"])
@pytest.mark.parametrize("client", CLIENTS)
def test_stall_is_a_timeout_at_the_timeout(raw, client: str, when: str) -> None:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        if when == "mid-stream":
            sock.sendall(head() + chunked(chat({"role": "assistant", "content": ""})) + chunked(chat({"content": "Hi"})))
        server.stop.wait(10)
        return False

    server = raw(answer)
    record = measure(client, "openai", server.url, timeout_s=0.5)
    assert (record.status, record.error_kind) == ("error", "timeout"), record.error_message
    assert 450 < record.e2e_ms < 1500, record.e2e_ms
    if client == "fast":
        assert "timeout_s = 0.5" in record.error_message
        what = "no response headers" if when == "before headers" else "1 content events"
        assert what in record.error_message, record.error_message


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_json_answer_to_a_streaming_request(raw, provider: str) -> None:
    body = json.dumps(
        {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}
    ).encode()
    records = both(provider, send_body(200, body), raw) if provider != "anthropic" else None
    if records is None:  # the Anthropic SDK has no such check: only the fast path's message is asserted
        server = raw(send_body(200, body))
        records = {"fast": measure("fast", provider, server.url)}
    for record in records.values():
        assert (record.status, record.error_kind) == ("error", "protocol")
        assert "stream = false" in record.error_message


# ---------------------------------------------------------------------------- non-streaming, connections, models

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there!", "reasoning": "Think."},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": 4,
            "total_tokens": 11,
            "queue_time": 0.01,
            "prompt_time": 0.002,
            "completion_time": 0.004,
        },
    }
).encode()
MESSAGE = json.dumps(
    {
        "id": "msg_whole",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "content": [{"type": "thinking", "thinking": "Think.", "signature": "x"}, {"type": "text", "text": "Hello there!"}],
        "usage": {"input_tokens": 9, "output_tokens": 5},
    }
).encode()


@pytest.mark.parametrize("delimited", ["content-length", "close"])
@pytest.mark.parametrize("provider", ["groq", "openai", "anthropic"])
def test_non_streaming(raw, provider: str, delimited: str) -> None:
    body = MESSAGE if provider == "anthropic" else COMPLETION
    records = both(provider, send_body(200, body, with_length=delimited == "content-length"), raw, stream=False)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert record.ttft_ms is None and record.output_tps is None and record.e2e_ms >= record.ttfb_ms
        assert record.finish_reason == ("end_turn" if provider == "anthropic" else "stop")
        assert record.output_tokens == (5 if provider == "anthropic" else 4) and record.token_source == "usage"
    if provider == "groq":
        assert records["fast"].completion_ms == pytest.approx(4.0)


def keep_alive_stream(seen: Seen, sock: socket.socket) -> bool:
    events = [chat({"content": "Hi"}), chat({}, finish="stop", usage=usage(1)), DONE]
    if "/messages" in seen.path:
        events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), *message_end("end_turn", 1)]
    sock.sendall(head() + b"".join(chunked(e) for e in events) + LAST)
    return True


@pytest.mark.parametrize("provider", ["groq", "anthropic"])
@pytest.mark.parametrize("client", CLIENTS)
def test_keep_alive_reuses_one_connection(raw, client: str, provider: str) -> None:
    server = raw(keep_alive_stream)
    records = measure_n(client, provider, server.url, 4)
    assert all(r.status == "ok" for r in records), [r.error_message for r in records]
    assert server.connections == 1
    assert [s.on_connection for s in server.seen] == [0, 1, 2, 3]


@pytest.mark.parametrize("client", CLIENTS)
def test_keep_alive_after_a_stream_that_stops_at_done_without_the_last_chunk_yet(raw, client: str) -> None:
    """[DONE] first, the chunked terminator a little later: the connection is still kept."""

    def answer(seen: Seen, sock: socket.socket) -> bool:
        sock.sendall(head() + chunked(chat({"content": "Hi"})) + chunked(DONE))
        time.sleep(0.02)
        sock.sendall(LAST)
        return True

    server = raw(answer)
    records = measure_n(client, "openai", server.url, 3)
    assert all(r.status == "ok" for r in records) and server.connections == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_server_closes_an_idle_keep_alive_connection(raw, client: str) -> None:
    """The server drops the kept connection while the client is idle: the next request opens a new one."""

    def answer(seen: Seen, sock: socket.socket) -> bool:
        keep_alive_stream(seen, sock)
        time.sleep(0.05)
        sock.shutdown(socket.SHUT_RDWR)  # it said keep-alive, then timed the connection out
        return False

    server = raw(answer)
    records = measure_n(client, "openai", server.url, 3, between=lambda: time.sleep(0.2))
    assert [r.status for r in records] == ["ok"] * 3, [r.error_message for r in records]
    assert server.connections == 3 and all(r.retries == 0 for r in records)


@pytest.mark.parametrize("client", CLIENTS)
def test_concurrent_requests_each_have_a_connection_and_keep_it(raw, client: str) -> None:
    """Three waves of four concurrent streams on a pool of four: four connections in all."""

    def slow(seen: Seen, sock: socket.socket) -> bool:
        sock.sendall(head())
        for event in (chat({"content": "Hi"}), chat({"content": "!"}), chat({}, finish="stop", usage=usage(2)), DONE):
            time.sleep(0.01)
            sock.sendall(chunked(event))
        sock.sendall(LAST)
        return True

    server = raw(slow)

    async def go() -> list[RequestRecord]:
        p = make_provider("openai", settings("openai", server.url, pool=4), client)
        records: list[RequestRecord] = []

        async def one(i: int) -> None:
            records.append(await measure_request(p, request("openai"), new_record(client, "openai", i), timeout_s=5))

        try:
            for _ in range(3):
                async with anyio.create_task_group() as tg:
                    for i in range(4):
                        tg.start_soon(one, i)
        finally:
            await p.aclose()
        return records

    records = anyio.run(go, backend_options=loop_options())
    assert [r.status for r in records] == ["ok"] * 12, [r.error_message for r in records]
    assert server.connections == 4


@pytest.mark.parametrize("client", CLIENTS)
def test_a_timed_out_stream_leaves_no_dirty_connection_behind(raw, client: str) -> None:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        if len(server.seen) == 1:
            sock.sendall(head() + chunked(chat({"content": "Hi"})))
            server.stop.wait(5)
            return False
        return keep_alive_stream(seen, sock)

    server = raw(answer)
    records = measure_n(client, "openai", server.url, 3, timeout_s=0.5)
    assert [(r.status, r.error_kind) for r in records] == [("error", "timeout"), ("ok", None), ("ok", None)]
    assert server.connections == 2 and records[1].output_tokens == 1


@pytest.mark.parametrize(
    "interim", ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n"]
)
def test_interim_1xx_response_before_the_real_one(raw, interim: str) -> None:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        sock.sendall(interim.encode())
        time.sleep(0.005)
        return keep_alive_stream(seen, sock)

    records = {client: measure_n(client, "openai", raw(answer).url, 2) for client in CLIENTS}
    for client, pair in records.items():
        assert [r.status for r in pair] == ["ok", "ok"], (client, [r.error_message for r in pair])
        assert all(r.output_tokens == 1 and r.http_status == 200 for r in pair)


MODELS = {
    "chat": json.dumps(
        {
            "object": "list",
            "data": [
                {"id": "b-model", "object": "model", "created": 0, "owned_by": "x"},
                {"id": "a-model", "object": "model", "created": 0, "owned_by": "x"},
            ],
        }
    ),
    "anthropic": json.dumps(
        {
            "data": [
                {"type": "model", "id": "claude-b", "display_name": "B", "created_at": "2025-01-01T00:00:00Z"},
                {"type": "model", "id": "claude-a", "display_name": "A", "created_at": "2025-01-01T00:00:00Z"},
            ],
            "has_more": False,
            "first_id": "claude-b",
            "last_id": "claude-a",
        }
    ),
}


def list_models(client: str, provider: str, root: str) -> list[str]:
    async def go() -> list[str]:
        p = make_provider(provider, settings(provider, root), client)
        try:
            return await p.list_models()
        finally:
            await p.aclose()

    return anyio.run(go, backend_options=loop_options())


@pytest.mark.parametrize("provider", ["groq", "openai", "anthropic"])
def test_list_models(raw, provider: str) -> None:
    body = MODELS["anthropic" if provider == "anthropic" else "chat"].encode()
    server = raw(send_body(200, body))
    listed = {client: list_models(client, provider, server.url) for client in CLIENTS}
    assert listed["fast"] == listed["sdk"] == (["claude-a", "claude-b"] if provider == "anthropic" else ["a-model", "b-model"])
    sdk, fast = server.seen
    assert (
        (fast.method, fast.path)
        == (sdk.method, sdk.path)
        == ("GET", {"groq": "/openai/v1/models", "openai": "/v1/models", "anthropic": "/v1/models"}[provider])
    )
    # On a GET the SDK sends neither a body length nor a content type; the fast path sends
    # "content-length: 0" and its one content-type line on every request (harmless, not fixed).
    transport = TRANSPORT_HEADERS | {"content-length", "content-type"}
    assert {k.lower(): v for k, v in fast.headers if k.lower() not in transport} == {
        k.lower(): v for k, v in sdk.headers if k.lower() not in transport
    }


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_list_models_error_is_raised_like_the_sdk(raw, provider: str) -> None:
    server = raw(send_body(404, b'{"detail":"Not Found"}'))
    for client in CLIENTS:
        with pytest.raises(Exception, match="404"):
            list_models(client, provider, server.url)


# ---------------------------------------------------------------------------- the same request on the wire


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("provider", ["groq", "openai", "openai-compatible", "anthropic"])
def test_same_request_on_the_wire(raw, provider: str, stream: bool) -> None:
    def answer(seen: Seen, sock: socket.socket) -> bool:
        if stream:
            return keep_alive_stream(seen, sock)
        return send_body(200, MESSAGE if provider == "anthropic" else COMPLETION)(seen, sock)

    server = raw(answer)
    extra = {"x-bench-emulator": '{"seed":1}', "X-Custom": "yes"}
    for client in CLIENTS:
        record = measure(client, provider, server.url, stream=stream, extra_headers=extra)
        assert record.status == "ok", record.error_message
    sdk, fast = server.seen
    assert (fast.method, fast.path) == (sdk.method, sdk.path)
    assert fast.json() == sdk.json()
    sdk_headers = {k.lower(): v for k, v in sdk.headers if k.lower() not in TRANSPORT_HEADERS}
    fast_headers = {k.lower(): v for k, v in fast.headers if k.lower() not in TRANSPORT_HEADERS}
    if fast.body != sdk.body:  # the same JSON, serialised with other whitespace
        sdk_headers.pop("content-length"), fast_headers.pop("content-length")
    assert fast_headers == sdk_headers
    assert len(fast.headers) == len({k.lower() for k, _ in fast.headers}), "a header sent twice"
    assert fast.header("accept-encoding") == "identity"
    assert fast.header("x-custom") == "yes" and fast.header("x-bench-emulator") == '{"seed":1}'
    # One write: the first read already holds the headers and the whole body.
    assert fast.first_recv.endswith(fast.body) and fast.first_recv.count(b"\r\n\r\n") == 1


# ---------------------------------------------------------------------------- through the runner, on the emulator


def emulated(tmp_path: Path, targets: str, *, load: str, request: str = "max_tokens = 12") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        '[scenario]\nname = "fast"\nemulate = true\n'
        + textwrap.dedent(targets)
        + f"\n[request]\n{request}\n\n[load]\n{load}\ntimeout_s = 10\nseed = 5\n"
    )
    return path


@pytest.mark.parametrize(
    "fault",
    [
        "rate_limited",
        "auth",
        "permission",
        "quota",
        "model_not_found",
        "model_decommissioned",
        "bad_request",
        "server_error",
        "overloaded",
        "stream_interrupted",
        "protocol",
        "midstream_error",
        "timeout",
    ],
)
def test_every_emulator_fault_with_client_fast_in_the_scenario(tmp_path: Path, fault: str) -> None:
    targets = ""
    for provider, model in (("groq", "llama-3.1-8b-instant"), ("openai", "gpt-4.1"), ("anthropic", "claude-haiku-5-5")):
        targets += f'[[target]]\nprovider = "{provider}"\nmodel = "{model}"\nclient = "fast"\n'
        targets += f"[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\nfaults = {{ {fault} = 1.0 }}\n"
    path = emulated(tmp_path, targets, load="concurrency = [2]\nrequests = 2")
    if fault == "timeout":
        path.write_text(path.read_text().replace("timeout_s = 10", "timeout_s = 0.5"))
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert len(frame) == 6 and (frame["client"] == "fast").all()
    assert (frame["status"] == "error").all() and (frame["retries"] == 0).all()
    for row in frame.itertuples():
        dialect = row.provider
        assert row.error_kind == expected_error_kind(fault, dialect), (row.provider, row.error_kind, row.error_message)
    if fault == "midstream_error":
        statuses = dict(zip(frame["provider"], frame["http_status"], strict=True))
        assert statuses == {"groq": 200, "openai": 200, "anthropic": 529}, statuses  # as the SDK path records
    if fault == "timeout":
        assert frame["e2e_ms"].between(450, 1500).all(), frame["e2e_ms"].tolist()
        assert frame["error_message"].str.contains("timeout_s = 0.5").all()


def test_client_column_and_emulator_quirks_with_client_fast(tmp_path: Path) -> None:
    quirks = "[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\n"
    targets = (
        f'[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
        f'label = "no-usage"\n{quirks}omit_usage = true\nomit_done = true\nempty_chunk_share = 0.2\n'
        f'[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\nlabel = "reasoning"\nclient = "sdk"\n{quirks}'
    )  # the first target on the default (lean) client, the second on the SDK path it names
    path = emulated(
        tmp_path, targets, load="concurrency = [1]\nrequests = 3", request="max_tokens = 40\nextra_body = { ignore_eos = true }"
    )
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert (frame["status"] == "ok").all(), frame["error_message"].tolist()
    assert dict(zip(frame["target"], frame["client"], strict=True)) == {"no-usage": "fast", "reasoning": "sdk"}
    no_usage = frame[frame["target"] == "no-usage"]
    assert (no_usage["token_source"] == "chunks").all() and (no_usage["output_tokens"] == 40).all()
    assert (no_usage["content_chunks"] < 40).all()
    again = run_scenario(path, out=tmp_path / "r2", client="fast").frame
    assert (again["client"] == "fast").all()
    reasoning = again[again["target"] == "reasoning"]
    assert (reasoning["ttfa_ms"] > reasoning["ttft_ms"]).all() and (reasoning["token_source"] == "usage").all()


@pytest.mark.parametrize("how", ["--client fast", 'client = "fast" in the file'])
def test_max_retries_with_the_fast_client_retries_like_the_sdk(tmp_path: Path, cli, how: str) -> None:
    """Every answer a 429 with a short retry-after: both paths try max_retries more times and say so."""
    client = 'client = "fast"\n' if how.startswith("client") else ""
    emulator = "[target.emulator]\nttft_ms = 5\njitter = 0\nretry_after_s = 0.01\nfaults = { rate_limited = 1.0 }\n"
    targets = f'[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\n{client}{emulator}'
    targets += f'[[target]]\nprovider = "anthropic"\nmodel = "claude-haiku-5-5"\n{client}{emulator}'
    path = emulated(tmp_path, targets, load="concurrency = [1]\nrequests = 2", request="max_tokens = 8\nmax_retries = 2")
    args = ["run", str(path), "--out", str(tmp_path / "r")] + (["--client", "fast"] if not client else [])
    code, out, err = cli(*args)
    assert code == 1 and err.strip() == "bench: no measured request succeeded", (out, err)  # every answer a 429
    fast = run_scenario(path, out=tmp_path / "f", client="fast").frame
    sdk = run_scenario(path, out=tmp_path / "s", client="sdk").frame
    for frame, name in ((fast, "fast"), (sdk, "sdk")):
        assert (frame["client"] == name).all()
        assert len(frame) == 4 and (frame["error_kind"] == "rate_limited").all(), frame["error_message"].tolist()
        assert (frame["retries"] == 2).all() and (frame["http_status"] == 429).all()
