"""A lean HTTP/1.1 client for streamed LLM responses: one write per request, stamps per read.

Why not httpx (the SDKs' transport) or aiohttp here: at Groq speed (16 streams × 800 tokens/s
is ~13,000 chunks/s on one core) per-chunk work decides accuracy. The SDK path spends ~60 µs
a chunk across httpx's stream layers, the SSE decoder, pydantic models and several task
switches, so receive stamps fall behind the wire. This client does what a measurement needs
and no more:

- the request (headers and body) goes out in **one** ``transport.writelines`` (one ``writev``,
  without copying the body behind the headers): a server starts its clock at the headers, and
  a separate body write would let other tasks run in between;
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

The receive side (parser, SSE split, stamps) is ``bench.providers.lean_protocol``; reaching an
origin (routes, proxies, tunnels, idle connections) is ``bench.providers.lean_connect``; this
module is the request API over them: one request written in one piece, redirects, keep-alive.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urljoin, urlsplit

from bench import timing
from bench.providers.errors import ConnectFailed, StreamCut
from bench.providers.lean_connect import Route, connect, idle_connection
from bench.providers.lean_protocol import Connection, Decoder, Response
from bench.providers.network import Network

#: Statuses httpx follows when they carry a ``Location``, and how many it follows in a row.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 20


def _is_https_upgrade(old: Route, new: Route) -> bool:
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
        self._routes: dict[tuple[str, str, int], Route] = {}
        self._static: dict[tuple[tuple[str, str, int], bool], bytes] = {}
        self._in_use: dict[Connection, Route] = {}
        self._pool_size = max(1, pool_size)
        self.base = self._route(parts)
        self.base_path = parts.path.rstrip("/")
        #: The proxy requests to the API go through, or None (direct).
        self.proxy = self.base.proxy

    def _route(self, parts: SplitResult) -> Route:
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        route = self._routes.get((scheme, host, port))
        if route is None:
            netloc = parts.netloc.rsplit("@", 1)[-1]
            proxy = self._network.proxy_for(f"{scheme}://{netloc}/")
            tls = self._network.tls() if scheme == "https" else None
            route = self._routes[(scheme, host, port)] = Route(scheme, host, port, netloc, proxy, tls)
        return route

    def _static_head(self, route: Route, strip_auth: bool) -> bytes:
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

    def _head(self, route: Route, method: str, target: str, length: int, extra: dict[str, str], strip_auth: bool) -> bytes:
        start = f"{method} {route.target(target)} HTTP/1.1\r\n".encode("latin-1")
        more = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        if length or method not in ("GET", "HEAD"):
            more += f"Content-Length: {length}\r\n"
        return start + self._static_head(route, strip_auth) + f"{more}\r\n".encode("latin-1")

    async def _send(
        self,
        route: Route,
        method: str,
        target: str,
        body: bytes,
        extra: dict[str, str],
        decoder: Decoder | None,
        strip_auth: bool,
    ) -> tuple[Connection, Response]:
        """One request on one connection (one write), up to its response headers.

        Head and body go out in one ``writelines``, not as ``head + body``: that concatenation
        was a second copy of the whole prompt, held until the response headers came (the
        prompt's prefill), per stream in flight — a 32,000-token prompt is ~150 KB a copy
        (docs/scale.md, "Memory of a long prompt"). uvloop hands both pieces to one
        ``writev``; asyncio's transports join them for their one write and drop the join."""
        head = self._head(route, method, target, len(body), extra, strip_auth)
        conn = idle_connection(route)
        reused = conn is not None
        if conn is None:
            conn = await connect(route, self._network)
        response = Response(decoder)
        conn.response = response
        timing.mark_sent()
        assert conn.transport is not None
        conn.transport.writelines((head, body) if body else (head,))
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
    ) -> tuple[Connection, Response]:
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

    def release(self, conn: Connection, response: Response) -> None:
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
