"""The same request on the wire from both client paths: method, path, headers and body."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from tests.providers.client_runs import (
    CLIENTS,
    TRANSPORT_HEADERS,
    measure,
    request,
)
from tests.providers.raw_server import (
    COMPLETION,
    MESSAGE,
    Seen,
    keep_alive_stream,
    send_body,
)

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


# ---------------------------------------------------------------------------- a handed-over prompt


@pytest.mark.parametrize("hand_over", [True, False])
@pytest.mark.parametrize("provider", ["groq", "anthropic"])
def test_handed_over_messages_are_let_go_once_encoded(raw, provider: str, hand_over: bool) -> None:
    """The lean path empties a handed-over request's messages after encoding them (the body is
    then the prompt's only copy) and never before: the server still gets the whole prompt. A
    request not handed over keeps its messages (a conversation goes on with them)."""
    server = raw(keep_alive_stream)
    sent = dataclasses.replace(request(provider), hand_over=hand_over)
    prompt = list(sent.messages)
    record = measure("fast", provider, server.url, sent=sent)
    assert record.status == "ok", record.error_message
    (seen,) = server.seen
    assert seen.json()["messages"] == prompt
    assert sent.messages == ([] if hand_over else prompt)
