"""The one place timestamps come from (DESIGN §3): the clock and the transport hooks.

``t0`` is stamped by an httpx request event hook, i.e. when the SDK hands the first attempt
to the transport — after the SDK has built the request, so its own cost is not billed to
the provider (it is recorded apart as ``sdk_prep_ms``). The hook finds the request's
``RequestTiming`` through a context variable: httpx runs hooks in the task that awaits the
SDK call, so no per-provider code ever touches a clock.
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
    t0_ns: int = 0  # first attempt handed to the transport
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
