"""The one place timestamps come from (docs/metrics.md): the clock and the transport hooks.

An httpx request event hook marks when the SDK hands the first attempt to the transport —
after the SDK has built the request, so its own cost is not billed to the provider (it is
``sdk_prep_ms``). The hook finds the request's ``RequestTiming`` through a context variable:
httpx runs hooks in the task that awaits the SDK call, so no per-provider code touches a clock.

One refinement, measured: between the hook and the request being on the wire, the transport
passes several event-loop checkpoints (pool lock, connection event, then headers and body
written separately). With N streams starting together, each waits there for the other
tasks' SDK request building — ~1 ms apiece on a 2-core box — so at concurrency 8 TTFT read
5–15 ms high against the emulator's chunk log. ``instrument`` therefore wraps the HTTP
client's network backend, and t0 becomes the moment the first attempt's last request byte
was handed to the socket — or, when the request had to open a connection, the moment it
began connecting, so connect and TLS time stay inside the latency. Where a client cannot be
instrumented, t0 stays at the hook.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from typing import Any

#: Latency clock. Monotonic and, on Linux, the same clock in every process (CLOCK_MONOTONIC),
#: so the emulator's chunk log can be compared with the harness's stamps.
now_ns = time.perf_counter_ns
#: Wall clock: only to join with other machines' logs, never for latency.
wall_ns = time.time_ns


@dataclass(slots=True)
class RequestTiming:
    """Stamps for one logical request (all attempts)."""

    call_ns: int = 0  # just before the SDK call
    t0_ns: int = 0  # first attempt handed to the transport (event hook)
    connect_ns: int = 0  # first attempt began opening a connection (instrumented backend)
    sent_ns: int = 0  # first attempt's last request write before any response (instrumented backend)
    wall_t0_ns: int = 0
    headers_ns: int = 0  # response headers of the last attempt
    attempts: int = 0
    http_status: int | None = None
    request_id: str | None = None


_current: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar("bench_request_timing", default=None)


def begin(timing: RequestTiming) -> contextvars.Token[RequestTiming | None]:
    timing.call_ns = now_ns()
    return _current.set(timing)


def end(token: contextvars.Token[RequestTiming | None]) -> None:
    _current.reset(token)


async def on_request(request: Any) -> None:
    timing = _current.get()
    if timing is None:
        return
    if timing.attempts == 0:
        timing.t0_ns = now_ns()
        timing.wall_t0_ns = wall_ns()
    # httpx calls this hook for every redirect hop too: the SDK's own attempt number (which a
    # redirect keeps) tells a retry from a hop. Without it, every hook call is an attempt.
    headers = getattr(request, "headers", None)
    retry = headers.get("x-stainless-retry-count") if headers is not None else None
    if retry is not None and retry.isdigit():
        timing.attempts = max(timing.attempts, int(retry) + 1)
    else:
        timing.attempts += 1


async def on_response(response: Any) -> None:
    timing = _current.get()
    if timing is None:
        return
    timing.headers_ns = now_ns()
    timing.http_status = response.status_code
    headers = response.headers
    timing.request_id = headers.get("x-request-id") or headers.get("request-id") or timing.request_id


EVENT_HOOKS: dict[str, list[Any]] = {"request": [on_request], "response": [on_response]}


def mark_sent() -> None:
    """The first attempt's request bytes are being handed to the socket."""
    timing = _current.get()
    if timing is not None and timing.attempts <= 1 and not timing.headers_ns:
        timing.sent_ns = now_ns()


def mark_connect() -> None:
    """The first attempt had to open a connection: connecting (and TLS) count as sending. A
    connection opened later for the same attempt (to where a redirect leads) does not."""
    timing = _current.get()
    if timing is not None and timing.attempts <= 1 and not (timing.connect_ns or timing.sent_ns or timing.headers_ns):
        timing.connect_ns = now_ns()


# ---------------------------------------------------------------------------- the lean path
# A client without httpx stamps through these instead of the event hooks: the same fields,
# filled at the same moments (its own single write is the request leaving).


def begin_attempt() -> None:
    """The lean client is about to send a request's first attempt (later calls change nothing)."""
    timing = _current.get()
    if timing is not None and timing.attempts == 0:
        timing.t0_ns = now_ns()
        timing.wall_t0_ns = wall_ns()
        timing.attempts = 1


def next_attempt() -> None:
    """The lean client sends the request again (the SDK's retry policy said so): counted; t0
    stays at the first attempt."""
    timing = _current.get()
    if timing is not None:
        timing.attempts += 1


def mark_response(headers_ns: int, status: int, request_id: str | None) -> None:
    """Response headers were read at ``headers_ns`` (stamped by the protocol as they arrived)."""
    timing = _current.get()
    if timing is not None:
        timing.headers_ns = headers_ns
        timing.http_status = status
        timing.request_id = request_id or timing.request_id


class _StampingStream:
    """A network stream whose writes mark when the request was sent; all else passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:  # h11 ends a sized body with an empty write, which sends nothing
            mark_sent()
        await self._inner.write(buffer, timeout)

    async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        return _StampingStream(await self._inner.start_tls(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _StampingBackend:
    """Wraps an httpcore/httpcore2 network backend: opening a connection counts as sending."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        mark_connect()
        return _StampingStream(await self._inner.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        mark_connect()
        return _StampingStream(await self._inner.connect_unix_socket(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument(http_client: Any) -> Any:
    """Make ``http_client`` (httpx or httpx2 AsyncClient) stamp the moment a request leaves —
    through its default transport and through each proxy transport it mounted from the
    environment alike."""
    mounts = getattr(http_client, "_mounts", None) or {}
    for transport in (getattr(http_client, "_transport", None), *mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if pool is not None and backend is not None and not isinstance(backend, _StampingBackend):
            pool._network_backend = _StampingBackend(backend)
    return http_client
