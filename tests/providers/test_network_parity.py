"""Network behaviour, the same on both client paths: proxies, TLS, redirects, retries, kept connections.

Every case runs through the SDK path and the lean path against real servers on loopback — an
origin that writes exact bytes, an HTTP proxy that forwards and tunnels, a TLS origin with a
certificate made for the test — and requires the same outcome on both: status, error kind,
HTTP status, retries, what the origin saw, and what the error message must name (the proxy,
the certificate failure, the Location). Nothing is mocked: the SDKs, httpx, the lean client,
``bench.run.measure`` and the sockets are the real ones.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from bench.errors import BenchError
from bench.providers import ClientSettings, lean_connect, make_provider
from bench.providers.classify import classify
from bench.providers.lean_connect import connect_failure
from bench.providers.lean_http import LeanClient
from bench.providers.network import Network
from bench.providers.retries import RetryPolicy, retry_delay, should_retry
from bench.results.records import RequestRecord
from bench.run.measure import measure_request
from bench.run.runner import loop_options, run_scenario
from bench.timing import _StampingBackend
from tests.providers.client_runs import KEY, base_url, new_record, request
from tests.providers.raw_server import (
    LAST,
    Answer,
    RawServer,
    Seen,
    chat,
    chunked,
    head,
    keep_alive_stream,
)

CLIENTS = ("sdk", "fast")
PROVIDERS = ("groq", "openai", "anthropic")
#: What both paths must record alike.
OUTCOME = ("status", "error_kind", "http_status", "retries")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or certificate setting from the machine running the tests leaks into a case."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name.upper() in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD"):
            monkeypatch.delenv(name)


@pytest.fixture
def servers() -> Iterator[Callable[..., Any]]:
    """Make servers (an origin, a TLS origin, a proxy); all closed after the test."""
    made: list[Any] = []

    def make(kind: type, *args: Any, **kwargs: Any) -> Any:
        made.append(kind(*args, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


# ---------------------------------------------------------------------------- servers


class Origin(RawServer):
    """The raw origin, noting when each request arrived (``timing``'s clock) and its headers."""

    def __init__(self, answer: Answer) -> None:
        self.arrived: list[int] = []

        def noted(seen: Seen, sock: socket.socket) -> bool:
            self.arrived.append(time.perf_counter_ns())
            return answer(seen, sock)

        super().__init__(noted)


class TlsOrigin(Origin):
    """The origin behind TLS, with a certificate no system trusts (made for the test)."""

    def __init__(self, answer: Answer, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(answer)
        self.url = f"https://127.0.0.1:{self.port}"

    def _serve(self, sock: socket.socket, index: int) -> None:
        try:
            wrapped = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            sock.close()
            return
        super()._serve(wrapped, index)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class HttpProxy:
    """An HTTP proxy on loopback, as corporate networks have: absolute-form requests are
    forwarded, CONNECT is tunnelled. It notes each connection's first request line and
    Proxy-Authorization; ``require`` refuses other credentials (407), ``connect_status``
    refuses tunnels."""

    def __init__(self, *, require: str | None = None, connect_status: int = 200) -> None:
        self.require = require
        self.connect_status = connect_status
        self.lines: list[str] = []
        self.auth: list[str | None] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
            head_bytes, _, rest = buffer.partition(b"\r\n\r\n")
            lines = head_bytes.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:])
            auth = next((v for k, v in headers.items() if k.lower() == "proxy-authorization"), None)
            self.lines.append(lines[0])
            self.auth.append(auth)
            if self.require is not None and auth != self.require:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return
            if method == "CONNECT":
                if self.connect_status != 200:
                    client.sendall(b"HTTP/1.1 %d Forbidden\r\ncontent-length: 0\r\n\r\n" % self.connect_status)
                    return
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                first = rest
            else:
                url = urlsplit(target)
                upstream = socket.create_connection((url.hostname, url.port or 80))
                kept = [line for line in lines[1:] if not line.lower().startswith("proxy-authorization:")]
                path = url.path + (f"?{url.query}" if url.query else "")
                first = ("\r\n".join([f"{method} {path} {version}", *kept]) + "\r\n\r\n").encode("latin-1") + rest
            self._sockets.append(upstream)
            if first:
                upstream.sendall(first)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(5)
        except OSError:
            return
        finally:
            client.close()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def dead_port() -> int:
    """A loopback port nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@dataclass(frozen=True)
class Certs:
    cert: Path
    key: Path
    directory: Path  # the certificate under its OpenSSL hash name, for SSL_CERT_DIR

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A self-signed certificate for 127.0.0.1, made now with the openssl command (never downloaded)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    where = tmp_path_factory.mktemp("certs")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    digest = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(cert)], check=True, capture_output=True, text=True)
    directory = where / "ca"
    directory.mkdir()
    shutil.copy(cert, directory / f"{digest.stdout.strip()}.0")
    return Certs(cert, key, directory)


# ---------------------------------------------------------------------------- driving both paths


def measure(
    client: str,
    provider: str,
    root: str,
    *,
    max_retries: int = 0,
    n: int = 1,
    stream: bool = True,
    between: Callable[[], None] | None = None,
) -> list[RequestRecord]:
    """``n`` requests one after another through one client (as a level has); ``between`` runs
    on the event loop's own thread, so it can hold the loop."""

    async def go() -> list[RequestRecord]:
        settings = ClientSettings(base_url(provider, root), KEY, 4, 5.0, max_retries)
        p = make_provider(provider, settings, client)
        records = []
        try:
            for i in range(n):
                if i and between is not None:
                    between()
                record = new_record(client, provider, i)
                record.stream = stream
                req = request(provider, stream=stream)
                records.append(await measure_request(p, req, record, timeout_s=5.0, secrets=(KEY,)))
        finally:
            await p.aclose()
        return records

    return anyio.run(go, backend_options=loop_options())


def both(
    provider: str, make_origin: Callable[[], Any], *, must_name: tuple[str, ...] = (), **kwargs: Any
) -> dict[str, tuple[RequestRecord, Any]]:
    """The case through each path (a fresh origin each); asserts the same outcome on both and
    that both error messages name what ``must_name`` lists."""
    results = {}
    for client in CLIENTS:
        origin = make_origin()
        records = measure(client, provider, origin.url, **kwargs)
        results[client] = (records[-1], origin)
    sdk, fast = results["sdk"][0], results["fast"][0]
    assert [getattr(sdk, f) for f in OUTCOME] == [getattr(fast, f) for f in OUTCOME], (
        [getattr(sdk, f) for f in OUTCOME],
        [getattr(fast, f) for f in OUTCOME],
        sdk.error_message,
        fast.error_message,
    )
    for record, _ in results.values():
        for text in must_name:
            assert text in (record.error_message or ""), (record.client, text, record.error_message)
        assert KEY not in (record.error_message or "")
    return results


def outcome(record: RequestRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, f) for f in OUTCOME)


# ---------------------------------------------------------------------------- answers


def stream_answer(seen: Seen, sock: socket.socket) -> bool:
    return keep_alive_stream(seen, sock)


Step = Callable[[Seen, socket.socket], None]


def answer_status(status: int, body: bytes = b"", *, extra: str = "") -> Step:
    def send(seen: Seen, sock: socket.socket) -> None:
        sock.sendall(head(status, "application/json", length=len(body), extra=extra.format(path=seen.path)) + body)

    return send


def redirect(status: int, location: str) -> Step:
    """A redirect; ``{path}`` in ``location`` is the request's own path."""
    return answer_status(status, extra=f"location: {location}")


def in_turn(*steps: Step | None) -> Callable[[], Answer]:
    """An origin that answers its n-th request with ``steps[n]`` (the last repeats); None means
    a stream (chat or messages, by the path)."""

    def make() -> Answer:
        count = 0

        def answer(seen: Seen, sock: socket.socket) -> bool:
            nonlocal count
            step = steps[min(count, len(steps) - 1)]
            count += 1
            if step is None:
                return stream_answer(seen, sock)
            step(seen, sock)
            return True

        return answer

    return make


def error_json(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}}).encode()


def hang_up(seen: Seen, sock: socket.socket) -> None:
    sock.close()


def nothing_usable(seen: Seen, sock: socket.socket) -> None:
    sock.sendall(head() + chunked(b"hello, not an event stream\n\n") + LAST)


def cut_after_one_event(seen: Seen, sock: socket.socket) -> None:
    sock.sendall(head() + chunked(chat({"content": "Hi"})))
    sock.close()


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


# ---------------------------------------------------------------------------- proxies


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_http_through_a_proxy_in_absolute_form(servers, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str) -> None:
    proxy = servers(HttpProxy)
    monkeypatch.setenv(variable, proxy.url)
    results = both(provider, lambda: servers(Origin, stream_answer))
    for client, (record, origin) in results.items():
        assert outcome(record) == ("ok", None, 200, 0), (client, record.error_message)
        assert origin.seen[0].header("host") == f"127.0.0.1:{origin.port}"
    first, second = proxy.lines
    assert first.split(" ")[0] == second.split(" ")[0] == "POST"
    assert first.split(" ")[1].startswith("http://127.0.0.1:") and second.split(" ")[1].startswith("http://127.0.0.1:")
    assert first.split(" ")[1].split("/", 3)[3] == second.split(" ")[1].split("/", 3)[3]  # the same path


@pytest.mark.parametrize("provider", ["groq", "openai"])
def test_https_through_a_proxy_tunnel(servers, certs: Certs, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    proxy = servers(HttpProxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.cert))
    results = both(provider, lambda: servers(TlsOrigin, stream_answer, certs.server_context()))
    for client, (record, _) in results.items():
        assert outcome(record) == ("ok", None, 200, 0), (client, record.error_message)
    ports = [origin.port for _, origin in results.values()]
    assert proxy.lines == [f"CONNECT 127.0.0.1:{port} HTTP/1.1" for port in ports]


def test_no_proxy_goes_direct(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setenv("no_proxy", "example.com,127.0.0.1")
    for provider in PROVIDERS:
        results = both(provider, lambda: servers(Origin, stream_answer))
        assert all(outcome(r) == ("ok", None, 200, 0) for r, _ in results.values())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_behind_a_dead_proxy_both_fail_naming_it(servers, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    port = dead_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    results = both(provider, lambda: servers(Origin, stream_answer), must_name=(f"http://127.0.0.1:{port}", "refused"))
    for record, origin in results.values():
        assert outcome(record) == ("error", "connection", None, 0) and not origin.seen


def test_proxy_credentials_go_to_the_proxy_only(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "Basic " + base64.b64encode(b"me:pr0xy-pass").decode()
    proxy = servers(HttpProxy, require=expected)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://me:pr0xy-pass@"))
    results = both("openai", lambda: servers(Origin, stream_answer))
    assert proxy.auth == [expected, expected]
    for record, origin in results.values():
        assert outcome(record) == ("ok", None, 200, 0), record.error_message
        assert origin.seen[0].header("proxy-authorization") is None  # the proxy keeps it


def test_proxy_asking_for_credentials_is_an_answer_on_both(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = servers(HttpProxy, require="Basic nope")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    both("openai", lambda: servers(Origin, stream_answer), must_name=("407", proxy.url))


def test_proxy_refusing_the_tunnel(servers, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = servers(HttpProxy, connect_status=403)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    results = both("openai", lambda: servers(TlsOrigin, stream_answer, certs.server_context()), must_name=("403", proxy.url))
    assert all(outcome(r) == ("error", "connection", None, 0) for r, _ in results.values())


def test_socks_proxy_is_refused_in_one_line_by_the_fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(BenchError, match="HTTP proxies only"):
        make_provider("openai", ClientSettings("http://127.0.0.1:9/v1", KEY, 1, 5.0, 0), "fast")


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="with socksio the SDK path speaks SOCKS")
@pytest.mark.parametrize("client", CLIENTS)
def test_a_proxy_no_client_can_use_ends_a_live_run_in_one_line(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    targets = (
        f'[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\nclient = "{client}"\n'
    )
    code, out, err = cli("run", str(_scenario(tmp_path, targets, emulate=False)), "--out", str(tmp_path / "r"), "--no-report")
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "socks" in err.lower()


# ---------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tls_certificate_nobody_trusts(servers, certs: Certs, provider: str) -> None:
    results = both(
        provider, lambda: servers(TlsOrigin, stream_answer, certs.server_context()), must_name=("CERTIFICATE_VERIFY_FAILED",)
    )
    assert all(outcome(r) == ("error", "connection", None, 0) for r, _ in results.values())


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_tls_trusted_through_ssl_cert_variables(
    servers, certs: Certs, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    monkeypatch.setenv(variable, str(certs.cert if variable == "SSL_CERT_FILE" else certs.directory))
    results = both(provider, lambda: servers(TlsOrigin, stream_answer, certs.server_context()))
    assert all(outcome(r) == ("ok", None, 200, 0) for r, _ in results.values())


# ---------------------------------------------------------------------------- messages, retries, runs


def test_connection_refused_is_retried_and_named_on_both(servers) -> None:
    port = dead_port()
    for provider in ("groq", "anthropic"):
        results = {c: measure(c, provider, f"http://127.0.0.1:{port}", max_retries=1)[0] for c in CLIENTS}
        for client, record in results.items():
            assert outcome(record) == ("error", "connection", None, 1), (client, record.error_message)
            assert "refused" in record.error_message.lower(), (client, record.error_message)
        assert str(port) in results["fast"].error_message


def test_dns_failure_is_named_on_both_paths() -> None:
    """Resolving a name would leave loopback: the two paths' messages are built from the
    exceptions their stacks raise for one."""
    import httpx2
    import openai

    failure = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    lean = LeanClient("https://api.example.invalid/v1", {}, 1, Network(trust_env=False))
    fast_exc = connect_failure(failure, lean.base, False)
    try:
        try:
            raise httpx2.ConnectError("[Errno -2] Name or service not known") from failure
        except httpx2.ConnectError as exc:
            raise openai.APIConnectionError(request=httpx2.Request("POST", "https://x")) from exc
    except openai.APIConnectionError as exc:
        sdk_exc = exc
    for exc in (fast_exc, sdk_exc):
        failed = classify(exc, streaming_started=False)
        assert failed.kind == "connection" and "Name or service not known" in failed.message, failed


@pytest.mark.parametrize("sdk", ["groq", "openai", "anthropic"])
def test_retry_policy_is_the_sdks_own(sdk: str) -> None:
    from bench.providers.fast import _sdk_client

    client, options, headers_type = _sdk_client(sdk, KEY, 5.0, 3)
    policy = RetryPolicy(3, client, options, headers_type)
    assert policy.delegated
    table: list[tuple[int, dict[str, str]]] = [
        (400, {}),
        (404, {}),
        (408, {}),
        (409, {}),
        (429, {}),
        (500, {"x-should-retry": "false"}),
        (400, {"x-should-retry": "true"}),
        (503, {}),
        (529, {}),
        (429, {"retry-after": "500"}),
    ]

    class Answer:
        def __init__(self, status: int, headers: dict[str, str]) -> None:
            self.status_code, self.headers = status, headers_type(headers)

    for status, headers in table:
        assert policy.should_retry(status, headers) == client._should_retry(Answer(status, headers)), (status, headers)
    assert policy.delay_s(0, {"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert 0.375 <= policy.delay_s(0, None) <= 0.5 or sdk != "openai"
    # The stand-in rules are the openai SDK's.
    if sdk == "openai":
        for status, headers in table:
            assert should_retry(status, headers) == client._should_retry(Answer(status, headers))
        assert 1.5 <= retry_delay(3, 1, None) <= 2.0 and retry_delay(3, 3, {"retry-after": "3"}) == 3.0


def test_sdk_path_stamps_through_proxy_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    """t0 on the SDK path comes from the instrumented network backend: the proxy's transports
    (mounted from the environment) are instrumented as well as the default one."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    for provider in PROVIDERS:
        p: Any = make_provider(provider, ClientSettings(None, KEY, 1, 5.0, 0), "sdk")
        http = p._sdk._client
        mounted = [t for t in http._mounts.values() if t is not None]
        assert mounted, provider
        for transport in [http._transport, *mounted]:
            assert isinstance(transport._pool._network_backend, _StampingBackend), provider
        assert p.proxy == "http://127.0.0.1:3128"


def _scenario(tmp_path: Path, targets: str, *, emulate: bool) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        f'[scenario]\nname = "net"\nemulate = {"true" if emulate else "false"}\n{targets}\n'
        "[request]\nmax_tokens = 8\n\n[load]\nconcurrency = [1]\nrequests = 2\ntimeout_s = 5\n"
    )
    return path


def test_run_json_names_the_proxy_and_never_its_credentials(servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "Basic " + base64.b64encode(b"me:pr0xy-pass").decode()
    proxy = servers(HttpProxy, require=expected)

    def answer(seen: Seen, sock: socket.socket) -> bool:
        if seen.method == "GET":
            body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
            sock.sendall(head(200, "application/json", length=len(body)) + body)
            return True
        return keep_alive_stream(seen, sock)

    origin = servers(Origin, answer)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://me:pr0xy-pass@"))
    targets = "".join(
        f'[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nlabel = "{c}"\nclient = "{c}"\nbase_url = "{origin.url}/v1"\n'
        for c in CLIENTS
    )
    result = run_scenario(_scenario(tmp_path, targets, emulate=False), out=tmp_path / "r", warn=lambda m: None)
    frame = result.frame
    assert (frame["status"] == "ok").all() and set(frame["client"]) == set(CLIENTS), frame["error_message"].tolist()
    assert result.meta.proxies == {"sdk": proxy.url, "fast": proxy.url}
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert b"pr0xy-pass" not in path.read_bytes(), path


def test_emulated_runs_never_go_through_a_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator is on this machine's loopback, where no proxy elsewhere could reach it."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    targets = "".join(
        f'[[target]]\nprovider = "groq"\nmodel = "llama-3.1-8b-instant"\nlabel = "{c}"\nclient = "{c}"\n'
        "[target.emulator]\nttft_ms = 5\njitter = 0\n"
        for c in CLIENTS
    )
    result = run_scenario(_scenario(tmp_path, targets, emulate=True), out=tmp_path / "r", warn=lambda m: None)
    assert (result.frame["status"] == "ok").all(), result.frame["error_message"].tolist()
    assert result.meta.proxies == {"sdk": None, "fast": None}
