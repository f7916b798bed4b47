"""Loopback servers for the network cases: an origin noting arrivals, a TLS origin, an HTTP proxy.

Both client paths must take the same route to a provider and fail alike (docs/method.md,
"Network: proxies, TLS, redirects, retries"); these are the real servers those cases run
against — an origin that writes exact bytes (``tests.providers.raw_server``), the same behind
a certificate made for the test, and a proxy that forwards and tunnels.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.providers.raw_server import (
    Answer,
    RawServer,
    Seen,
)


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
