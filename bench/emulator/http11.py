"""Just enough HTTP/1.1 for the SDKs: read a request, frame a response, frame SSE events.

Hand-written rather than a framework because the emulator must control every byte and every
moment: write one SSE event per chunk at a chosen instant, cut a connection in the middle of a
chunk, or write a broken event. Requests from the SDKs are simple (Content-Length bodies,
keep-alive, no pipelining), so the parser is small.

Like a real server it does not wait for ever on a client (:class:`Deadlines`): the head must
arrive within ``header_s`` of the connection opening (or of its first byte, on a kept-alive
connection, which may first sit idle for ``idle_s``), and the body within ``body_s`` of the
head. A client that stops half-way gets 408 (head) or 400 (body shorter than its
Content-Length); an idle one is closed without a word, as servers close idle keep-alive
connections.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.utils import formatdate
from typing import Final
from urllib.parse import unquote

from bench.errors import EmulatorRequestError

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
LAST_CHUNK: Final = b"0\r\n\r\n"
#: Content-Length is one or more ASCII digits (RFC 9110 §8.6): no sign, no spaces, no "1_0".
_DIGITS: Final = re.compile(r"[0-9]+")

_REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
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
class Deadlines:
    """How long a connection may keep the server waiting (seconds), as real servers bound it.

    ``header_s``: for the request head, from the connection opening (first request) or from
    the head's first byte (later ones); ``body_s``: for the body, once the head is in;
    ``idle_s``: between requests on a kept-alive connection.
    """

    header_s: float = 5.0
    body_s: float = 5.0
    idle_s: float = 60.0


@dataclass(frozen=True)
class Request:
    """A parsed request. Header names are lower-case; a repeated header keeps its last value."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def read_request(reader: asyncio.StreamReader, deadlines: Deadlines | None = None, *, first: bool = True) -> Request | None:
    """The next request on a connection, or None when the client closed it (or left it idle
    past ``deadlines.idle_s``) between requests. ``first``: no request was read on it yet, so
    the head's deadline runs from now (a client that connects and says nothing is dropped
    then, not after the idle allowance)."""
    limits = deadlines or Deadlines()
    try:
        async with asyncio.timeout(limits.header_s if first else limits.idle_s):
            opening = await reader.read(1)
    except TimeoutError:
        return None
    if not opening:
        return None
    try:
        async with asyncio.timeout(limits.header_s):
            head = opening + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not (opening + exc.partial).strip():
            return None
        raise MalformedRequest(400, "connection closed inside the request head") from exc
    except asyncio.LimitOverrunError as exc:
        raise MalformedRequest(413, "request head too large") from exc
    except TimeoutError:
        raise MalformedRequest(408, f"request head not received within {limits.header_s:g} s") from None
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
    declared = headers.get("content-length", "0")
    if not _DIGITS.fullmatch(declared):
        raise MalformedRequest(400, f"bad Content-Length {declared[:40]!r}: expected a number of bytes")
    length = int(declared)
    if length > MAX_BODY_BYTES:
        raise MalformedRequest(413, "request body too large")
    try:
        async with asyncio.timeout(limits.body_s):
            body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise MalformedRequest(400, "connection closed inside the request body") from exc
    except TimeoutError:
        raise MalformedRequest(
            400, f"request body shorter than its Content-Length ({length} bytes) after {limits.body_s:g} s"
        ) from None
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
