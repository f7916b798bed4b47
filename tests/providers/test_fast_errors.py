"""Failures on both client paths: HTTP errors, cuts, refusals, stalls and wrong answers.

The lean client must give the same status, error kind and HTTP status as the SDK path for
the same failure (docs/metrics.md), against hand-written servers on loopback.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.providers.client_runs import (
    CLIENTS,
    both,
    measure,
    measure_n,
)
from tests.providers.raw_server import (
    DONE,
    Seen,
    block_start,
    chat,
    chunked,
    head,
    message_end,
    message_start,
    send_body,
    text,
    usage,
)

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
