"""A lean HTTP/1.1 client for streamed LLM responses: one write per request, stamps per read.

Why not httpx (the SDKs' transport) or aiohttp here: at Groq speed (16 streams × 800 tokens/s
is ~13,000 chunks/s on one core) per-chunk work decides accuracy. The SDK path spends ~60 µs
a chunk across httpx's stream layers, the SSE decoder, pydantic models and several task
switches, so receive stamps fall behind the wire. This client does what a measurement needs
and no more:

- the request (headers and body) goes out in **one** ``transport.write``: a server starts its
  clock at the headers, and a separate body write would let other tasks run in between;
- an ``asyncio.Protocol`` stamps each socket read with ``timing.now_ns`` the moment the loop
  delivers it — several events in one read share that stamp, which is the truth;
- ``httptools`` (llhttp, the parser behind Node.js and uvicorn) parses status, headers and
  chunked encoding in C; SSE framing is a few ``bytes.find`` calls (no per-line objects); JSON
  is ``orjson``; each read wakes the waiting request once, however many events it carried.

Around that hot path it reaches a provider the way the SDK's httpx does: proxies and trusted
certificates from the environment as that library reads them (``bench.providers.network``),
redirects followed by httpx's rules, idle kept-alive connections probed and expired as
httpcore does. Retries are the provider layer's (``bench.providers.fast``), with the SDK's
own policy. It asks for an uncompressed body and speaks HTTP/1.1 only.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import cast
from urllib.parse import SplitResult, urljoin, urlsplit

import httptools

from bench import timing
from bench.providers.base import StreamEvent
from bench.providers.errors import (
    CLIENT_ERRNOS,
    ClientResourceError,
    ConnectFailed,
    ProtocolViolation,
    ProviderFailure,
    StreamCut,
)
from bench.providers.network import Network, Proxy

#: What a decoder returns for the event that ends a stream (``[DONE]``, ``message_stop``).
DONE = StreamEvent()
#: decoder(event name or None, data bytes, receive stamp) → an event, DONE, or None (nothing).
Decoder = Callable[[bytes | None, bytes, int], StreamEvent | None]


class Response:
    """One response as it arrives. The protocol fills it; the request's task reads it."""

    __slots__ = (
        "status", "headers", "headers_ns", "end_ns", "read_ns", "complete", "finished", "done", "error",
        "body", "events", "_decoder", "_sse", "_buf", "_waiter", "keep_alive", "bytes_seen",
    )  # fmt: skip

    def __init__(self, decoder: Decoder | None) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.headers_ns = 0
        self.end_ns = 0
        self.read_ns = 0
        self.complete = False  # the HTTP message ended
        self.finished = False  # the stream's last event arrived (or the message ended)
        self.done = False  # the stream's own end event ([DONE], message_stop) arrived
        self.error: BaseException | None = None
        self.body = bytearray()
        self.events: deque[StreamEvent] = deque()
        self._decoder = decoder
        self._sse = False
        self._buf = b""
        self._waiter: asyncio.Future[None] | None = None
        self.keep_alive = False
        self.bytes_seen = False

    # ---------------------------------------------------------------- protocol side

    def on_headers(self, status: int, keep_alive: bool) -> None:
        self.status = status
        self.headers_ns = self.read_ns
        self.keep_alive = keep_alive
        content_type = self.headers.get("content-type", "")
        self._sse = self._decoder is not None and status < 300 and "text/event-stream" in content_type
        encoding = self.headers.get("content-encoding", "identity").lower()
        if encoding not in ("identity", ""):
            self.fail(ProtocolViolation(f"the server sent a {encoding}-encoded body although none was asked for"))

    def on_body(self, data: bytes) -> None:
        if not self._sse:
            self.body += data
            return
        if self.finished or self.error is not None:
            return  # after [DONE]: the rest of the body is not part of the stream
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            # SSE allows CRLF and CR line ends; hold a trailing CR back in case LF follows.
            held = buf.endswith(b"\r")
            buf = (buf[:-1] if held else buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if held else b"")
        end = buf.find(b"\n\n")
        if end >= 0 and end == len(buf) - 2:  # the common case: one whole event in this piece
            self._buf = b""
            if not buf.startswith(b"data: ") or buf.find(b"\n", 6) != end:
                self._event(buf[:end])
                return
            # One data line (every chat chunk): decoded here, without _event's general parse.
            try:
                event = self._decoder(None, buf[6:end], self.read_ns)  # type: ignore[misc] # an event stream has a decoder
            except Exception as exc:  # noqa: BLE001 - as in _event
                self.error = exc
                return
            if event is DONE:
                self.finished = self.done = True
                self.end_ns = self.read_ns
            elif event is not None:
                self.events.append(event)
            return
        start = 0
        while end >= 0:
            self._event(buf[start:end])
            start = end + 2
            if self.finished or self.error is not None:
                return
            end = buf.find(b"\n\n", start)
        self._buf = buf[start:]

    def _event(self, block: bytes) -> None:
        name: bytes | None
        data: bytes | None
        if block.startswith(b"data: ") and b"\n" not in block:  # the common shape, one line
            name, data = None, block[6:]
        else:
            name, data = _parse_block(block)
            if data is None:
                return
        try:
            event = self._decoder(name, data, self.read_ns)  # type: ignore[misc] # only an event stream (which has a decoder) gets here
        except Exception as exc:  # noqa: BLE001 - an error event or a malformed one ends the stream
            self.error = exc
            return
        if event is DONE:
            self.finished = self.done = True
            self.end_ns = self.read_ns
        elif event is not None:
            self.events.append(event)

    def on_complete(self) -> None:
        self.complete = True
        self.end_ns = self.end_ns or self.read_ns
        # A last event without its blank line is discarded, as the SSE spec (and the SDKs) do.
        self.finished = True

    def fail(self, exc: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = exc

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---------------------------------------------------------------- request side

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def wait_headers(self) -> None:
        while not self.status and self.error is None:
            await self._wait()
        if not self.status and self.error is not None:
            raise self.error

    async def read_body(self) -> bytes:
        while not self.complete and self.error is None:
            await self._wait()
        if not self.complete and self.error is not None:
            raise self.error
        return bytes(self.body)

    async def stream(self) -> AsyncIterator[StreamEvent]:
        """The events as they are decoded; raises what ended the stream early, after the events before it."""
        events = self.events
        while True:
            while events:
                yield events.popleft()
            if self.error is not None and not self.done:  # after its end event the stream is whole
                raise self.error
            if self.finished:
                return
            await self._wait()


def _parse_block(block: bytes) -> tuple[bytes | None, bytes | None]:
    """A general SSE event block → (event name, data); comments and other fields are ignored."""
    name: bytes | None = None
    data: bytes | None = None
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[6:] if line[5:6] == b" " else line[5:]
            data = value if data is None else data + b"\n" + value
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    return name, data


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses responses with llhttp as bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.closed = False
        self._interim = False  # inside a 1xx response (100 Continue, 103 Early Hints)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream protocol is handed a full Transport

    def data_received(self, data: bytes) -> None:
        now = timing.now_ns()
        response = self.response
        if response is None:  # bytes nobody asked for: this connection is not reusable
            self.close()
            return
        response.read_ns = now
        response.bytes_seen = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - we never ask to upgrade
            response.fail(ProtocolViolation("the server switched protocols"))
        except httptools.HttpParserError as exc:
            response.fail(ProtocolViolation(f"not valid HTTP/1.1 from the server: {exc}"))
            self.close()
        waiter = response._waiter  # response.wake(), inlined: this runs for every read
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is None:
            return
        if response.status and not response.complete and _reads_to_close(response):
            response.read_ns = timing.now_ns()
            response.on_complete()  # a body delimited by the connection closing
        elif not response.complete:
            where = "mid-stream" if response.status else "before the response headers"
            detail = f": {exc}" if exc else ""
            response.fail(StreamCut(f"the server closed the connection {where}{detail}"))
        response.wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self.response is not None
        status = self.parser.get_status_code()
        if status < 200:  # an interim response: the real one follows on the same connection
            self._interim = True
            self.response.headers.clear()
            return
        self.response.on_headers(status, self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response.on_body(body)

    def on_message_complete(self) -> None:
        assert self.response is not None
        if self._interim:
            self._interim = False
            return
        self.response.on_complete()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _reads_to_close(response: Response) -> bool:
    headers = response.headers
    return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()


#: Statuses httpx follows when they carry a ``Location``, and how many it follows in a row.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 20
#: How long an idle kept-alive connection may be reused: httpx's default
#: (``Limits.keepalive_expiry``), which the SDK path's pool has too.
KEEPALIVE_EXPIRY_NS = 5_000_000_000


class _Route:
    """How requests reach one origin — directly, through a proxy (absolute-form request line for
    http://), or through a proxy's CONNECT tunnel (https://) — and its idle connections."""

    __slots__ = ("scheme", "host", "port", "netloc", "proxy", "tls", "idle")

    def __init__(self, scheme: str, host: str, port: int, netloc: str, proxy: Proxy | None, tls: ssl.SSLContext | None) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.netloc = netloc
        self.proxy = proxy
        self.tls = tls
        #: (connection, when it became idle)
        self.idle: list[tuple[_Connection, int]] = []

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def target(self, path: str) -> str:
        """The request target: the path, or the whole URL when a proxy forwards plain HTTP."""
        return f"http://{self.netloc}{path}" if self.proxy is not None and self.scheme == "http" else path


class _TunnelSetup(asyncio.Protocol):
    """Reads a proxy's answer to CONNECT; once it says 2xx, the connection carries TLS to the origin."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.answer: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._buf = b""

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            return
        self._buf += data
        if b"\r\n\r\n" not in self._buf:
            if len(self._buf) > 65536:
                self.answer.set_exception(ConnectFailed(f"proxy {self.proxy.url} sent no answer to CONNECT in 64 KiB"))
            return
        line = self._buf.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            self.answer.set_exception(ConnectFailed(f"proxy {self.proxy.url} answered CONNECT with {line[:80]!r}"))
            return
        self.answer.set_result((int(parts[1]), parts[2] if len(parts) > 2 else ""))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            detail = f": {exc}" if exc else ""
            self.answer.set_exception(
                ConnectFailed(f"proxy {self.proxy.url} closed the connection before answering CONNECT{detail}")
            )


def _reason(exc: OSError) -> str:
    """An OSError as a person reads it: TLS and DNS errors as they are; an errno by its name
    ("Connection refused"), not asyncio's "Connect call failed"."""
    if isinstance(exc, (ssl.SSLError, socket.gaierror)):
        return exc.strerror or str(exc)
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _readable(transport: asyncio.BaseTransport) -> bool:
    """Whether an idle connection holds bytes the loop has not read yet — most likely the
    server's close arriving: then it is not reused (httpcore probes its idle connections alike)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover - Windows
    except (OSError, ValueError):
        return True


def _is_https_upgrade(old: _Route, new: _Route) -> bool:
    """http://host → https://host on the default ports: httpx keeps Authorization across it."""
    return old.host == new.host and (old.scheme, old.port, new.scheme, new.port) == ("http", 80, "https", 443)


class LeanClient:
    """Connections to one API origin (and to any a redirect leads to). Every request in flight
    has a connection of its own (none waits for one after t0); finished ones are kept alive for
    the next, up to ``pool_size`` per origin, for at most httpx's keep-alive expiry.

    The route — proxy or not, which certificates to trust — is ``network``'s: the environment
    as the SDK's own HTTP library reads it (``bench.providers.network``)."""

    def __init__(self, base_url: str, headers: dict[str, str], pool_size: int, network: Network | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self._network = network or Network()
        skip = {"host", "content-length", "accept-encoding", "connection", "transfer-encoding"}
        self._headers = [(name, value) for name, value in headers.items() if name.lower() not in skip]
        self._routes: dict[tuple[str, str, int], _Route] = {}
        self._static: dict[tuple[tuple[str, str, int], bool], bytes] = {}
        self._in_use: dict[_Connection, _Route] = {}
        self._pool_size = max(1, pool_size)
        self.base = self._route(parts)
        self.base_path = parts.path.rstrip("/")
        #: The proxy requests to the API go through, or None (direct).
        self.proxy = self.base.proxy

    def _route(self, parts: SplitResult) -> _Route:
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        route = self._routes.get((scheme, host, port))
        if route is None:
            netloc = parts.netloc.rsplit("@", 1)[-1]
            proxy = self._network.proxy_for(f"{scheme}://{netloc}/")
            tls = self._network.tls() if scheme == "https" else None
            route = self._routes[(scheme, host, port)] = _Route(scheme, host, port, netloc, proxy, tls)
        return route

    def _static_head(self, route: _Route, strip_auth: bool) -> bytes:
        """The headers every request to ``route`` carries, rendered once."""
        key = (route.origin, strip_auth)
        block = self._static.get(key)
        if block is None:
            lines = [f"Host: {route.netloc}", "Accept-Encoding: identity", "Connection: keep-alive"]
            if route.proxy is not None and route.scheme == "http" and route.proxy.authorization:
                lines.append(f"Proxy-Authorization: {route.proxy.authorization}")
            lines += [f"{n}: {v}" for n, v in self._headers if not (strip_auth and n.lower() == "authorization")]
            block = self._static[key] = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        return block

    def _head(self, route: _Route, method: str, target: str, length: int, extra: dict[str, str], strip_auth: bool) -> bytes:
        start = f"{method} {route.target(target)} HTTP/1.1\r\n".encode("latin-1")
        more = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        if length or method not in ("GET", "HEAD"):
            more += f"Content-Length: {length}\r\n"
        return start + self._static_head(route, strip_auth) + f"{more}\r\n".encode("latin-1")

    async def _connect(self, route: _Route) -> _Connection:
        loop = asyncio.get_running_loop()
        timing.mark_connect()
        proxy = route.proxy
        host, port = (route.host, route.port) if proxy is None else (proxy.host, proxy.port)
        tls = route.tls if proxy is None else (self._network.tls() if proxy.scheme == "https" else None)
        try:
            if proxy is None or route.scheme == "http":
                _, conn = await loop.create_connection(_Connection, host, port, ssl=tls, server_hostname=host if tls else None)
                return conn
            transport, setup = await loop.create_connection(
                lambda: _TunnelSetup(proxy), host, port, ssl=tls, server_hostname=host if tls else None
            )
        except OSError as exc:
            raise self._connect_failure(exc, route, proxy is not None) from exc
        return await self._tunnel(loop, transport, setup, route)

    async def _tunnel(
        self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, setup: _TunnelSetup, route: _Route
    ) -> _Connection:
        """CONNECT through the proxy, then TLS with the origin inside the tunnel (as httpcore does)."""
        proxy = setup.proxy
        lines = [f"CONNECT {route.where} HTTP/1.1", f"Host: {route.where}", "Accept: */*"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            status, reason = await setup.answer
            if not 200 <= status < 300:
                raise ConnectFailed(f"proxy {proxy.url} refused the tunnel to {route.where}: {status} {reason}".rstrip())
            conn = _Connection()
            tls_transport = await loop.start_tls(transport, conn, cast(ssl.SSLContext, route.tls), server_hostname=route.host)
        except OSError as exc:
            transport.abort()
            raise self._connect_failure(exc, route, False) from exc
        except BaseException:
            transport.abort()
            raise
        if tls_transport is None:  # pragma: no cover - the proxy closed the tunnel during the handshake
            raise ConnectFailed(f"proxy {proxy.url} closed the tunnel to {route.where} during the TLS handshake")
        conn.transport = tls_transport  # start_tls does not call connection_made
        return conn

    def _connect_failure(self, exc: OSError, route: _Route, to_proxy: bool) -> ProviderFailure:
        proxy = route.proxy
        if exc.errno in CLIENT_ERRNOS:
            return ClientResourceError(f"cannot open a connection to {route.where}: {exc}")
        if proxy is not None and to_proxy:
            kind = "cannot resolve" if isinstance(exc, socket.gaierror) else "cannot connect to"
            return ConnectFailed(f"{kind} proxy {proxy.url} (on the way to {route.where}): {_reason(exc)}")
        kind = "cannot resolve" if isinstance(exc, socket.gaierror) else "cannot connect to"
        via = f" through proxy {proxy.url}" if proxy is not None else ""
        return ConnectFailed(f"{kind} {route.where}{via}: {_reason(exc)}")

    def _idle_connection(self, route: _Route) -> _Connection | None:
        idle = route.idle
        now = timing.now_ns()
        while idle:
            conn, since = idle.pop()
            transport = conn.transport
            if (
                not conn.closed
                and transport is not None
                and not transport.is_closing()
                and now - since <= KEEPALIVE_EXPIRY_NS
                and not _readable(transport)
            ):
                return conn
            conn.close()
        return None

    async def _send(
        self,
        route: _Route,
        method: str,
        target: str,
        body: bytes,
        extra: dict[str, str],
        decoder: Decoder | None,
        strip_auth: bool,
    ) -> tuple[_Connection, Response]:
        """One request on one connection (one write), up to its response headers."""
        request = self._head(route, method, target, len(body), extra, strip_auth) + body
        conn = self._idle_connection(route)
        reused = conn is not None
        if conn is None:
            conn = await self._connect(route)
        response = Response(decoder)
        conn.response = response
        timing.mark_sent()
        assert conn.transport is not None
        conn.transport.write(request)
        try:
            await response.wait_headers()
        except StreamCut as exc:
            conn.close()
            if reused and not response.bytes_seen:
                # The request went out on a kept connection the server closed meanwhile: it may have
                # been read and acted on, so it is not sent again here (nor by httpx); the SDK's
                # retries (max_retries) decide, on both paths.
                raise StreamCut(f"{exc}, a kept-alive connection: the request is not sent again unasked") from exc
            raise
        except BaseException:
            conn.close()
            raise
        self._in_use[conn] = route
        return conn, response

    async def open(
        self, method: str, path: str, body: bytes, extra_headers: dict[str, str], decoder: Decoder | None
    ) -> tuple[_Connection, Response]:
        """Send one request and wait for its response headers, following redirects as the SDKs'
        httpx does: 301/302/303 turn a POST into a GET without a body, 307/308 repeat it as it
        was, Authorization is dropped on leaving the origin (except http→https on one host), and
        the 21st redirect in a row fails. t0 is the first hop's (``timing``)."""
        timing.begin_attempt()
        route, target, strip_auth = self.base, self.base_path + path, False
        redirects = 0
        while True:
            conn, response = await self._send(route, method, target, body, extra_headers, decoder, strip_auth)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or location is None:
                return conn, response
            timing.mark_response(response.headers_ns, response.status, None)
            try:
                await response.read_body()  # the redirect's own body, so its connection can be kept
            finally:
                self.release(conn, response)
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise ConnectFailed(f"more than {MAX_REDIRECTS} redirects in a row, the last to Location: {location}")
            url = urljoin(f"{route.scheme}://{route.netloc}{target}", location.strip())
            try:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError("not an http(s) URL")
                new = self._route(parts)
            except ValueError as exc:
                raise ConnectFailed(
                    f"redirected ({response.status}) to Location: {location}, which cannot be followed: {exc}"
                ) from None
            if new.origin != route.origin and not _is_https_upgrade(route, new):
                strip_auth = True
            status = response.status
            changed = (status == 303 and method != "HEAD") or (status == 302 and method not in ("HEAD", "QUERY"))
            new_method = "GET" if changed or (status == 301 and method == "POST") else method
            if new_method != method:
                method, body = new_method, b""
            route, target = new, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def release(self, conn: _Connection, response: Response) -> None:
        """Keep ``conn`` for the next request if its response ended cleanly, else close it."""
        route = self._in_use.pop(conn, None)
        conn.response = None
        if (
            route is not None
            and response.complete
            and response.keep_alive
            and not conn.closed
            and len(route.idle) < self._pool_size
        ):
            route.idle.append((conn, timing.now_ns()))
        else:
            conn.close()

    async def aclose(self) -> None:
        for route in self._routes.values():
            for conn, _ in route.idle:
                conn.close()
            route.idle.clear()
