"""Just enough HTTP/1.1 for the SDKs: read a request, frame a response, frame SSE events.

Hand-written rather than a framework because the emulator must control every byte and every
moment: write one SSE event per chunk at a chosen instant, cut a connection in the middle of a
chunk, or write a broken event. Requests from the SDKs are simple (Content-Length bodies,
keep-alive, no pipelining), so the parser is small.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import formatdate
from typing import Final
from urllib.parse import unquote

from bench.errors import EmulatorRequestError

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
LAST_CHUNK: Final = b"0\r\n\r\n"

_REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Site Overloaded",
}


class MalformedRequest(EmulatorRequestError):
    """The bytes are not an HTTP/1.1 request we can answer; the connection is closed after."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """A parsed request. Header names are lower-case; a repeated header keeps its last value."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a connection, or None when the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise MalformedRequest(400, "connection closed inside the request head") from exc
    except asyncio.LimitOverrunError as exc:
        raise MalformedRequest(413, "request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise MalformedRequest(400, f"bad request line {lines[0][:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MalformedRequest(400, f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise MalformedRequest(411, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise MalformedRequest(400, "bad Content-Length") from exc
    if not 0 <= length <= MAX_BODY_BYTES:
        raise MalformedRequest(413, "request body too large")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise MalformedRequest(400, "connection closed inside the request body") from exc
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    path = unquote(target.split("?", 1)[0])
    return Request(method=method, path=path, headers=headers, body=body, keep_alive=keep_alive)


def response_head(status: int, headers: list[tuple[str, str]], *, keep_alive: bool) -> bytes:
    """Status line and headers; the caller adds content-length or transfer-encoding."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines.append(f"date: {formatdate(usegmt=True)}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("connection: keep-alive" if keep_alive else "connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def full_response(status: int, headers: list[tuple[str, str]], body: bytes, *, keep_alive: bool) -> bytes:
    """A whole response with a Content-Length body."""
    head = response_head(status, [*headers, ("content-length", str(len(body)))], keep_alive=keep_alive)
    return head + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (never empty: an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def sse(data: str, event: str | None = None) -> bytes:
    """One server-sent event (``data`` must be a single line, as JSON is)."""
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()
