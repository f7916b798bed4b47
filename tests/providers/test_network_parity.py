"""Network behaviour, the same on both client paths: redirects, retries, kept connections.

Every case runs through the SDK path and the lean path against real servers on loopback — an
origin that writes exact bytes, an HTTP proxy that forwards and tunnels, a TLS origin with a
certificate made for the test — and requires the same outcome on both: status, error kind,
HTTP status, retries, what the origin saw, and what the error message must name (the proxy,
the certificate failure, the Location). Nothing is mocked: the SDKs, httpx, the lean client,
``bench.run.measure`` and the sockets are the real ones.

Proxies and TLS are in ``test_network_proxies_tls.py``; failure messages, the retry policy and
runs in ``test_network_messages.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bench.providers import lean_connect
from tests.providers.client_runs import KEY
from tests.providers.network_runs import (
    CLIENTS,
    PROVIDERS,
    answer_status,
    both,
    cut_after_one_event,
    error_json,
    hang_up,
    in_turn,
    measure,
    nothing_usable,
    outcome,
    redirect,
    stream_answer,
)
from tests.providers.network_servers import Origin
from tests.providers.raw_server import (
    Answer,
    Seen,
    keep_alive_stream,
)

pytestmark = pytest.mark.usefixtures("clean_environment")


@dataclass(frozen=True)
class Case:
    """One origin behaviour, and the outcome both paths must record."""

    answers: Callable[[], Answer]
    expect: tuple[str, str | None, int | None, int]  # status, error kind, HTTP status, retries
    max_retries: int = 0
    must_name: tuple[str, ...] = ()
    seen: int = 1  # requests the origin sees on each path
    providers: tuple[str, ...] = PROVIDERS


CASES: dict[str, Case] = {
    # Redirects, as the SDKs' httpx follows them.
    "307 to another path: POST repeated": Case(in_turn(redirect(307, "/moved{path}"), None), ("ok", None, 200, 0), seen=2),
    "308 relative Location: POST repeated": Case(in_turn(redirect(308, "again{path}"), None), ("ok", None, 200, 0), seen=2),
    "302 turns the POST into a GET": Case(
        in_turn(redirect(302, "/gone"), answer_status(405, error_json("use POST"))),
        ("error", "other", 405, 0),
        must_name=("405", "use POST"),
        seen=2,
    ),
    "303 turns the POST into a GET": Case(
        in_turn(redirect(303, "/gone"), answer_status(405, error_json("use POST"))), ("error", "other", 405, 0), seen=2
    ),
    "redirect loop: 21 hops then refused": Case(
        in_turn(redirect(307, "/v1/loop")), ("error", "connection", 307, 0), must_name=("/v1/loop",), seen=21
    ),
    "redirect to a scheme no client follows": Case(
        in_turn(redirect(307, "ftp://127.0.0.1/file")), ("error", "connection", 307, 0), must_name=("ftp://",)
    ),
    "3xx without a Location is an answer": Case(
        in_turn(answer_status(300, error_json("choose one"))), ("error", "other", 300, 0), must_name=("choose one",)
    ),
    # Retries, as the SDK decides them.
    "429 then a stream: retried after retry-after-ms": Case(
        in_turn(answer_status(429, error_json("slow down"), extra="retry-after-ms: 30"), None),
        ("ok", None, 200, 1),
        max_retries=2,
        seen=2,
    ),
    "503 every time: max_retries more then given up": Case(
        in_turn(answer_status(503, error_json("busy"), extra="retry-after-ms: 5")),
        ("error", "overloaded", 503, 2),
        max_retries=2,
        must_name=("busy",),
        seen=3,
    ),
    "408 and 409 are retried": Case(
        in_turn(answer_status(408, extra="retry-after-ms: 5"), answer_status(409, extra="retry-after-ms: 5"), None),
        ("ok", None, 200, 2),
        max_retries=3,
        seen=3,
    ),
    "400 is not retried": Case(
        in_turn(answer_status(400, error_json("bad field"))), ("error", "bad_request", 400, 0), max_retries=2
    ),
    "x-should-retry: false wins over a 500": Case(
        in_turn(answer_status(500, error_json("no"), extra="x-should-retry: false")),
        ("error", "server_error", 500, 0),
        max_retries=2,
    ),
    "x-should-retry: true retries a 400": Case(
        in_turn(answer_status(400, error_json("again"), extra="x-should-retry: true\r\nretry-after-ms: 5"), None),
        ("ok", None, 200, 1),
        max_retries=1,
        seen=2,
    ),
    "retry-after beyond two minutes: openai does not retry": Case(
        in_turn(answer_status(429, error_json("later"), extra="retry-after: 200")),
        ("error", "rate_limited", 429, 0),
        max_retries=1,
        providers=("openai",),
    ),
    "hung up before answering: retried, then answered": Case(in_turn(hang_up, None), ("ok", None, 200, 1), max_retries=1, seen=2),
    "hung up before answering, no retries": Case(in_turn(hang_up), ("error", "connection", None, 0)),
    "cut mid-stream: never retried": Case(
        in_turn(cut_after_one_event), ("error", "stream_interrupted", 200, 0), max_retries=2, providers=("openai",)
    ),
    # A status line was read: it is recorded, whatever followed.
    "200 stream with nothing usable records 200": Case(in_turn(nothing_usable), ("error", "protocol", 200, 0)),
}


@pytest.mark.parametrize(("case", "provider"), [(name, provider) for name, case in CASES.items() for provider in case.providers])
def test_origin_behaviour_matrix(servers, case: str, provider: str) -> None:
    spec = CASES[case]
    results = both(provider, lambda: servers(Origin, spec.answers()), must_name=spec.must_name, max_retries=spec.max_retries)
    for client, (record, origin) in results.items():
        assert outcome(record) == spec.expect, (client, outcome(record), record.error_message)
        assert len(origin.seen) == spec.seen, (client, [(s.method, s.path) for s in origin.seen])
    sdk_seen, fast_seen = results["sdk"][1].seen, results["fast"][1].seen
    assert [(s.method, s.path) for s in fast_seen] == [(s.method, s.path) for s in sdk_seen]
    assert [bool(s.body) for s in fast_seen] == [bool(s.body) for s in sdk_seen]
    # Each attempt says its number, as the SDK numbers them (a redirect hop keeps it).
    for origin_seen in (sdk_seen, fast_seen):
        assert [s.header("x-stainless-retry-count") for s in origin_seen] == [
            s.header("x-stainless-retry-count") for s in sdk_seen
        ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_keeps_t0_at_the_first_attempt_and_numbers_attempts(servers, provider: str) -> None:
    """The wait asked for lies inside the latency: first byte ≥ first arrival → second arrival."""
    answers = in_turn(answer_status(429, error_json("slow down"), extra="retry-after-ms: 40"), None)
    results = both(provider, lambda: servers(Origin, answers()), max_retries=1)
    for client, (record, origin) in results.items():
        assert outcome(record) == ("ok", None, 200, 1), (client, record.error_message)
        gap_ns = origin.arrived[1] - origin.arrived[0]
        assert record.ttfb_ms * 1e6 >= gap_ns, (client, record.ttfb_ms, gap_ns / 1e6)
        assert [s.header("x-stainless-retry-count") for s in origin.seen] == ["0", "1"]
        assert origin.seen[0].json() == origin.seen[1].json()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_redirect_to_another_origin_drops_authorization_as_httpx_does(servers, provider: str) -> None:
    other = servers(Origin, stream_answer)

    def make() -> Origin:
        return servers(Origin, in_turn(redirect(308, other.url + "{path}"))())

    results = both(provider, make)
    for client, (record, _) in results.items():
        assert outcome(record) == ("ok", None, 200, 0), (client, record.error_message)
    first_auth = [first.seen[0].header("authorization") for _, first in results.values()]
    second = other.seen
    assert len(second) == 2 and [s.method for s in second] == ["POST", "POST"]
    assert second[0].json() == second[1].json() == results["sdk"][1].seen[0].json()
    # Authorization stays at the origin that was given the key (httpx drops it on a redirect away).
    assert first_auth == [f"Bearer {KEY}"] * 2 and [s.header("authorization") for s in second] == [None, None]
    names = [{k.lower() for k, _ in s.headers} - {"accept-encoding", "connection"} for s in second]
    assert names[0] == names[1]


@pytest.mark.parametrize("reply", ["close", "reset"])
@pytest.mark.parametrize("max_retries", [0, 1])
def test_kept_connection_dies_as_the_request_arrives(servers, reply: str, max_retries: int) -> None:
    """The race a kept connection can lose: the server reads the request and hangs up. It may
    have acted on it, so neither path sends it again unasked; with max_retries both do."""

    def answer(seen: Seen, sock: socket.socket) -> bool:
        if seen.on_connection == 1 and seen.connection == 0:
            if reply == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
            return False
        return keep_alive_stream(seen, sock)

    for client in CLIENTS:
        origin = servers(Origin, answer)
        first, second = measure(client, "openai", origin.url, n=2, max_retries=max_retries)
        assert outcome(first) == ("ok", None, 200, 0), first.error_message
        expected = ("ok", None, 200, 1) if max_retries else ("error", "connection", None, 0)
        assert outcome(second) == expected, (client, second.error_message)
        assert origin.connections == (2 if max_retries else 1)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_idle_connection_the_server_closed_before_the_loop_noticed_is_not_used(servers, provider: str) -> None:
    """The server's close has reached the socket but the event loop has not run since: the
    connection is probed before reuse (as httpcore does) and a new one opened, transparently."""
    close_now, closed = threading.Event(), threading.Event()

    def answer(seen: Seen, sock: socket.socket) -> bool:
        keep_alive_stream(seen, sock)
        if seen.connection == 0:
            close_now.wait(5)
            sock.close()
            closed.set()
            return False
        return True

    def hold_the_loop() -> None:  # on the loop's thread: nothing it could read is read meanwhile
        close_now.set()
        assert closed.wait(5)
        time.sleep(0.05)  # the FIN crosses loopback

    for client in CLIENTS:
        close_now.clear(), closed.clear()
        origin = servers(Origin, answer)
        records = measure(client, provider, origin.url, n=2, between=hold_the_loop)
        assert [outcome(r) for r in records] == [("ok", None, 200, 0)] * 2, (client, [r.error_message for r in records])
        assert origin.connections == 2


def test_idle_connection_past_httpx_keep_alive_expiry_is_not_reused(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lean_connect, "KEEPALIVE_EXPIRY_NS", 0)
    origin = servers(Origin, stream_answer)
    records = measure("fast", "openai", origin.url, n=2, between=lambda: time.sleep(0.001))
    assert [r.status for r in records] == ["ok", "ok"] and origin.connections == 2
