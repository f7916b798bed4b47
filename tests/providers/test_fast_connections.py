"""Whole (non-streamed) answers, kept-alive connections, interim responses and model lists.

How the lean client uses its connections — one per request in flight, kept for the next,
never left dirty — against hand-written servers on loopback, next to the SDK path.
"""

from __future__ import annotations

import json
import socket
import time

import anyio
import pytest

from bench.providers import make_provider
from bench.results.records import RequestRecord
from bench.run.measure import measure_request
from bench.run.runner import loop_options
from tests.providers.client_runs import (
    CLIENTS,
    TRANSPORT_HEADERS,
    both,
    measure_n,
    new_record,
    request,
    settings,
)
from tests.providers.raw_server import (
    COMPLETION,
    DONE,
    LAST,
    MESSAGE,
    Seen,
    chat,
    chunked,
    head,
    keep_alive_stream,
    send_body,
    usage,
)

# ---------------------------------------------------------------------------- non-streaming, connections, models


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
