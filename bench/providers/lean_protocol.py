"""The lean client's receive side: HTTP/1.1 parsing and SSE splitting as the socket's bytes arrive.

It stands apart from connecting and from the request API (``bench.providers.lean_http``)
because it is the per-chunk hot path that decides how close receive stamps stay to the wire
(docs/method.md, "Client paths"): an ``asyncio.Protocol`` stamps each socket read with
``timing.now_ns`` the moment the loop delivers it — several events in one read share that
stamp, which is the truth; ``httptools`` (llhttp) parses status, headers and chunked encoding
in C; SSE framing is a few ``bytes.find`` calls (no per-line objects); each read wakes the
waiting request once, however many events it carried. ``benchmarks/client_cost.py`` measures
this module's cost per chunk.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import cast

import httptools

from bench import timing
from bench.providers.base import StreamEvent
from bench.providers.errors import ProtocolViolation, StreamCut

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


class Connection(asyncio.Protocol):
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
