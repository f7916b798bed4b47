"""How the lean client reaches an origin: routes, proxies, CONNECT tunnels, and idle connections.

It is apart from the receive side (``bench.providers.lean_protocol``) and the request API
(``bench.providers.lean_http``) because it is the part that must match the SDK's own HTTP
library rather than be fast (docs/method.md, "Network: proxies, TLS, redirects, retries"):
proxies and trusted certificates come from ``bench.providers.network``, as httpx reads the
environment; ``https://`` through a proxy is a CONNECT tunnel with TLS to the origin inside it,
as httpcore does; a connect failure is worded as a person reads it; idle kept-alive
connections are probed and expired as httpcore does before one is reused.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
from typing import cast

from bench import timing
from bench.providers.errors import CLIENT_ERRNOS, ClientResourceError, ConnectFailed, ProviderFailure
from bench.providers.lean_protocol import Connection
from bench.providers.network import Network, Proxy

#: How long an idle kept-alive connection may be reused: httpx's default
#: (``Limits.keepalive_expiry``), which the SDK path's pool has too.
KEEPALIVE_EXPIRY_NS = 5_000_000_000


class Route:
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
        self.idle: list[tuple[Connection, int]] = []

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def target(self, path: str) -> str:
        """The request target: the path, or the whole URL when a proxy forwards plain HTTP."""
        return f"http://{self.netloc}{path}" if self.proxy is not None and self.scheme == "http" else path


class TunnelSetup(asyncio.Protocol):
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


async def connect(route: Route, network: Network) -> Connection:
    """A new connection to ``route``'s origin, through its proxy if it has one (whose own TLS
    trust is ``network``'s)."""
    loop = asyncio.get_running_loop()
    timing.mark_connect()
    proxy = route.proxy
    host, port = (route.host, route.port) if proxy is None else (proxy.host, proxy.port)
    tls = route.tls if proxy is None else (network.tls() if proxy.scheme == "https" else None)
    try:
        if proxy is None or route.scheme == "http":
            _, conn = await loop.create_connection(Connection, host, port, ssl=tls, server_hostname=host if tls else None)
            return conn
        transport, setup = await loop.create_connection(
            lambda: TunnelSetup(proxy), host, port, ssl=tls, server_hostname=host if tls else None
        )
    except OSError as exc:
        raise connect_failure(exc, route, proxy is not None) from exc
    return await _tunnel(loop, transport, setup, route)


async def _tunnel(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, setup: TunnelSetup, route: Route) -> Connection:
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
        conn = Connection()
        tls_transport = await loop.start_tls(transport, conn, cast(ssl.SSLContext, route.tls), server_hostname=route.host)
    except OSError as exc:
        transport.abort()
        raise connect_failure(exc, route, False) from exc
    except BaseException:
        transport.abort()
        raise
    if tls_transport is None:  # pragma: no cover - the proxy closed the tunnel during the handshake
        raise ConnectFailed(f"proxy {proxy.url} closed the tunnel to {route.where} during the TLS handshake")
    conn.transport = tls_transport  # start_tls does not call connection_made
    return conn


def connect_failure(exc: OSError, route: Route, to_proxy: bool) -> ProviderFailure:
    proxy = route.proxy
    if exc.errno in CLIENT_ERRNOS:
        return ClientResourceError(f"cannot open a connection to {route.where}: {exc}")
    if proxy is not None and to_proxy:
        kind = "cannot resolve" if isinstance(exc, socket.gaierror) else "cannot connect to"
        return ConnectFailed(f"{kind} proxy {proxy.url} (on the way to {route.where}): {_reason(exc)}")
    kind = "cannot resolve" if isinstance(exc, socket.gaierror) else "cannot connect to"
    via = f" through proxy {proxy.url}" if proxy is not None else ""
    return ConnectFailed(f"{kind} {route.where}{via}: {_reason(exc)}")


def idle_connection(route: Route) -> Connection | None:
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
