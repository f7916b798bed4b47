"""Writing an answer on time: errors, whole bodies, and streams token by token.

A streamed response is planned in full when the request has been read
(:func:`bench.emulator.profiles.plan_response`); then the task sleeps until each token's
absolute deadline and writes every token that is due in one ``write`` (one chunk per token), so
timer overshoot costs at most one late write and never drifts the rate. The schedule is
anchored on the first token as actually written: a late first token (a busy host) delays the
stream, as a real server's would, rather than being followed by a burst. The time of each
write is kept for the chunk log (``bench.emulator.chunk_log``), the ground truth the harness's
accuracy is checked against (docs/emulator.md). Faults that break a stream or a body
(``stream_interrupted``, ``protocol``, ``midstream_error``, ``timeout``) are written here too.

The server (``bench.emulator.server``) routes and plans; this module only writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns
from typing import Final

from bench.emulator.chunk_log import RequestLog
from bench.emulator.faults import ErrorSpec, http_error
from bench.emulator.http11 import LAST_CHUNK, Request, chunk, full_response, response_head
from bench.emulator.profiles import Override, Plan
from bench.emulator.wire import Dialect, Ids, Outcome, Wire

#: A deadline this close is written at once instead of slept for (the loop's timers wake on
#: whole milliseconds anyway).
_EARLY_S: Final = 0.0002
#: Linux lets an epoll wait of t seconds end up to t/1000 late (the timer slack it grants a
#: task that is not real-time): ``asyncio.sleep(1.6)`` ended ~1.8 ms late. A wait longer than
#: ``_LONG_S`` is slept this share and ``_TAIL_S`` short first, and the rest as a short wait,
#: which ends as late as any short one (docs/emulator.md).
_KERNEL_SLACK_SHARE: Final = 0.002
_LONG_S: Final = 0.05
_TAIL_S: Final = 0.005


@dataclass
class Exchange:
    """One request in flight: where it came from, where it goes, what is logged."""

    request: Request
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    dialect: Dialect
    ids: Ids
    t_received: float  # perf_counter(): the base of every deadline (see sleep_until)
    entry: RequestLog
    override: Override = field(default_factory=Override)
    forced_fault: str | None = None
    #: The request's own override gives a profile (not the server's settings): see
    #: ``EmulatorServer._model_info`` in ``bench.emulator.server``.
    profile_given: bool = False

    @property
    def keep_alive(self) -> bool:
        return self.request.keep_alive


class Answers:
    """Writes the answers of one server: its headers carry the count of requests it has served
    (``served``, read as each answer is written), and a stall lasts at most ``max_stall_s``."""

    def __init__(self, served: Callable[[], int], max_stall_s: float) -> None:
        self._served = served
        self._max_stall_s = max_stall_s

    def headers(self, ex: Exchange, content_type: str = "application/json") -> list[tuple[str, str]]:
        processing_ms = (perf_counter_ns() - ex.entry.received_ns) // 1_000_000
        headers = ex.dialect.headers(ex.ids, self._served(), processing_ms)
        return [("content-type", content_type), ("server", "bench-emulator"), *headers]

    def send_error(self, ex: Exchange, spec: ErrorSpec, fault: str | None = None) -> bool:
        headers = self.headers(ex)
        if fault is not None:
            headers.append(("x-bench-fault", fault))
        if fault == "rate_limited":
            retry_after = ex.override.retry_after_s if ex.override.retry_after_s is not None else 1
            headers.append(("retry-after", f"{retry_after:g}"))
        if ex.override.should_retry is not None:
            headers.append(("x-should-retry", "true" if ex.override.should_retry else "false"))
        body = ex.dialect.error_body(spec, ex.ids)
        ex.writer.write(full_response(spec.status, headers, body, keep_alive=ex.keep_alive))
        ex.entry.headers_sent_ns = perf_counter_ns()
        ex.entry.status = spec.status
        ex.entry.fault = fault
        return ex.keep_alive

    async def answer(self, ex: Exchange, wire: Wire, plan: Plan, fault: str | None, cut_after: int, stream: bool) -> bool:
        if stream:
            return await self._stream(ex, wire, plan, fault, cut_after)
        return await self._whole(ex, wire, plan, fault)

    def _finish(self, ex: Exchange, plan: Plan, outputs: int, completed: bool) -> None:
        entry = ex.entry
        entry.output_tokens = plan.completion_tokens if completed else outputs
        entry.reasoning_tokens = plan.reasoning_tokens
        entry.finish_reason = plan.finish if completed else None
        entry.completed = completed

    async def _stream(self, ex: Exchange, wire: Wire, plan: Plan, fault: str | None, cut_after: int) -> bool:
        """Write a streamed response token by token at the planned instants."""
        writer, entry = ex.writer, ex.entry
        base = ex.t_received
        await sleep_until(base + plan.ttfb_s)
        if gone(ex):
            return False
        headers = [
            *self.headers(ex, "text/event-stream; charset=utf-8"),
            ("transfer-encoding", "chunked"),
            ("cache-control", "no-cache"),
        ]
        if fault is not None:
            headers.append(("x-bench-fault", fault))
        writer.write(response_head(200, headers, keep_alive=ex.keep_alive) + chunk(wire.opening()))
        entry.headers_sent_ns = perf_counter_ns()
        if fault == "timeout":
            await self._stall(ex)
            return False
        offsets, texts, n_reasoning = plan.offsets_s, plan.texts, plan.n_streamed_reasoning
        stop = len(offsets) if fault is None else cut_after
        chunk_ns = entry.chunk_ns
        first_ns = 0
        i = 0
        while i < stop:
            await sleep_until(base + offsets[i])
            if gone(ex):
                self._finish(ex, plan, i, completed=False)
                return False
            now = perf_counter()
            if i == 0:
                base = max(base, now - offsets[0])  # decoding starts when the first token did
            due = now - base + _EARLY_S
            parts = []
            contents = 0
            while True:
                text = texts[i]
                parts.append(chunk(wire.token(text, i < n_reasoning)))
                contents += bool(text)
                i += 1
                if i >= stop or offsets[i] > due:
                    break
            writer.write(b"".join(parts))
            written_ns = perf_counter_ns()
            first_ns = first_ns or written_ns
            chunk_ns.extend([written_ns] * contents)
            try:
                await writer.drain()
            except ConnectionError:
                self._finish(ex, plan, i, completed=False)
                return False
        if fault is None:
            completion_s = (perf_counter_ns() - first_ns) / 1e9 + plan.interval_s
            outcome = Outcome(plan, completion_s, ex.override.omit_usage, ex.override.omit_done)
            writer.write(chunk(wire.closing(outcome)) + LAST_CHUNK)
            self._finish(ex, plan, i, completed=True)
            return ex.keep_alive
        self._finish(ex, plan, i, completed=False)
        if fault == "stream_interrupted":
            cut = chunk(wire.token(texts[i], i < n_reasoning))
            writer.write(cut[: len(cut) // 2])  # the chunk's size line promises more than comes
            writer.close()
            return False
        if fault == "protocol":
            event = wire.token(texts[i], i < n_reasoning)
            writer.write(chunk(event[:-10] + b"\n\n") + LAST_CHUNK)  # JSON cut short: no closing brace
        else:  # midstream_error
            writer.write(chunk(wire.error_event()) + LAST_CHUNK)
        return ex.keep_alive

    async def _whole(self, ex: Exchange, wire: Wire, plan: Plan, fault: str | None) -> bool:
        """A non-streaming answer, sent when generation would have finished."""
        if fault == "timeout":
            await self._stall(ex)
            return False
        await sleep_until(ex.t_received + plan.end_s)
        if gone(ex):
            self._finish(ex, plan, 0, completed=False)
            return False
        if fault == "midstream_error":
            return self.send_error(ex, http_error("server_error", ex.dialect.name, ex.entry.model or "-"), fault)
        completion_s = plan.end_s - plan.offsets_s[0]
        body = wire.body(Outcome(plan, completion_s))
        headers = self.headers(ex)
        if fault is not None:
            headers.append(("x-bench-fault", fault))
        if fault == "protocol":
            body = body[:-8]
        response = full_response(200, headers, body, keep_alive=ex.keep_alive)
        if fault == "stream_interrupted":
            ex.writer.write(response[: len(response) - len(body) // 2])
            ex.writer.close()
            self._finish(ex, plan, 0, completed=False)
            return False
        ex.writer.write(response)
        ex.entry.headers_sent_ns = perf_counter_ns()
        self._finish(ex, plan, plan.completion_tokens, completed=fault is None)
        return ex.keep_alive

    async def _stall(self, ex: Exchange) -> None:
        """The ``timeout`` fault: say nothing more until the client gives up (bounded)."""
        seconds = ex.override.stall_s if ex.override.stall_s is not None else self._max_stall_s
        try:
            async with asyncio.timeout(seconds):
                while await ex.reader.read(65536):
                    pass
        except (TimeoutError, ConnectionError):
            pass


def gone(ex: Exchange) -> bool:
    """The client closed the connection: stop generating for it, as a real server does.

    EOF counts: the SDKs never half-close and wait, they close when they give up."""
    return ex.writer.transport.is_closing() or ex.reader.at_eof()


async def sleep_until(deadline: float) -> None:
    """Sleep to ``deadline`` (``perf_counter`` seconds).

    Read against a fresh clock, not ``loop.time()``: uvloop's is the time its loop iteration
    began, so after a long prompt's parse and cache lookup it was milliseconds stale, and every
    deadline computed from it came that much late — in proportion to the prompt's length. A
    long wait (a long prompt's prefill) goes in two steps, so it ends as late as a short one
    does, not later in proportion (:data:`_KERNEL_SLACK_SHARE`); a timer that fired early (uvloop
    counts from its stale time) is slept out again."""
    while (delay := deadline - perf_counter()) > _EARLY_S:
        if delay > _LONG_S:
            delay = delay * (1.0 - _KERNEL_SLACK_SHARE) - _TAIL_S
        await asyncio.sleep(delay)
