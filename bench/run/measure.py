"""Time one request: drive a provider's event stream and turn stamps into the columns of docs/metrics.md.

This is the only code that reads the clock around a request, for every provider and client
path alike. It runs once per chunk, so the loop body stays small: stamp, classify the text,
count — everything else happens once at the end.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from itertools import islice, repeat
from operator import floordiv, sub, truediv

import anyio

from bench import timing
from bench.providers.base import Provider, ProviderRequest, StreamEvent, Usage
from bench.providers.classify import classify
from bench.results.records import RequestRecord
from bench.run.health import count_chunks

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
#: How long closing a stream may take after the request ended or was cancelled.
_CLOSE_S = 1.0


@dataclass(slots=True)
class StreamTally:
    """What the per-chunk loop accumulates."""

    content_ns: list[int]
    first_answer_ns: int = 0
    text_chunks: int = 0  # chunks with a text field, even empty: a byte-fallback token is a token
    streamed_reasoning: bool = False
    in_think: bool = False
    answer_chars: int = 0
    reasoning_chars: int = 0
    hidden_reasoning: bool = False  # billed, never streamed (Anthropic redacted_thinking)
    tool_call_chunks: int = 0
    finish_reason: str | None = None
    response_id: str | None = None
    usage: Usage | None = None
    end_ns: int = 0  # receive stamp of the last event


def _merge_usage(old: Usage | None, new: Usage) -> Usage:
    if old is None:
        return new
    for name in Usage.__slots__:
        value = getattr(new, name)
        if value is not None:
            setattr(old, name, value)
    return old


def _ms(a_ns: int, b_ns: int) -> float:
    return (b_ns - a_ns) / 1e6


async def _consume(events: AsyncIterator[StreamEvent], tally: StreamTally) -> None:
    """The per-chunk loop: stamp, classify the text, count — nothing else."""
    async for event in events:
        t_ns = event.received_ns or timing.now_ns()
        answer = event.answer
        reasoning = event.reasoning
        if answer is not None:
            tally.text_chunks += 1
            if answer:
                if tally.in_think or answer.startswith(_THINK_OPEN):
                    tally.in_think = _THINK_CLOSE not in answer
                    tally.streamed_reasoning = True
                    tail = answer.split(_THINK_CLOSE, 1)[1] if _THINK_CLOSE in answer else ""
                    if tail.strip() and not tally.first_answer_ns:
                        tally.first_answer_ns = t_ns
                elif not tally.first_answer_ns and (not tally.streamed_reasoning or not answer.isspace()):
                    # After reasoning, the answer starts at its first visible text, however the
                    # stream happens to chunk the whitespace between them.
                    tally.first_answer_ns = t_ns
                tally.answer_chars += len(answer)
                tally.content_ns.append(t_ns)
        elif reasoning is not None:
            tally.text_chunks += 1
            if reasoning:
                tally.streamed_reasoning = True
                tally.reasoning_chars += len(reasoning)
                tally.content_ns.append(t_ns)
        elif event.tool_call is not None:
            tally.text_chunks += 1
            if event.tool_call:  # a call is the answer: content, and its first text the first answer
                tally.tool_call_chunks += 1
                if not tally.first_answer_ns:
                    tally.first_answer_ns = t_ns
                tally.content_ns.append(t_ns)
        elif event.hidden_reasoning:
            tally.hidden_reasoning = True
        if event.finish_reason is not None:
            tally.finish_reason = event.finish_reason
        if event.usage is not None:
            tally.usage = _merge_usage(tally.usage, event.usage)
        if event.response_id and not tally.response_id:
            tally.response_id = event.response_id
        tally.end_ns = t_ns


async def _keeping(events: AsyncGenerator[StreamEvent, None], answer: list[str]) -> AsyncGenerator[StreamEvent, None]:
    """``events`` as they come, with each answer delta appended to ``answer``."""
    try:
        async for event in events:
            if event.answer:
                answer.append(event.answer)
            yield event
    finally:
        await events.aclose()


def _timeout_message(stamps: timing.RequestTiming, tally: StreamTally, timeout_s: float) -> str:
    """Say what timed out: no headers, no first token, or a stall mid-stream."""
    if not stamps.headers_ns:
        what = "no response headers"
    elif not tally.content_ns:
        what = "response headers but no content"
    else:
        t0 = stamps.connect_ns or stamps.sent_ns or stamps.t0_ns
        what = f"{len(tally.content_ns)} content events, the last {_ms(t0, tally.content_ns[-1]):.0f} ms after the request left"
    return f"timeout: the response did not complete within timeout_s = {timeout_s:g} s ({what})"


async def measure_request(
    provider: Provider,
    request: ProviderRequest,
    record: RequestRecord,
    *,
    timeout_s: float,
    secrets: tuple[str, ...] = (),
    keep_answer: list[str] | None = None,
) -> RequestRecord:
    """Send ``request`` and fill ``record``'s timing, token and outcome fields.

    Never raises for a provider failure: the failure becomes the record's ``error_kind``.
    Cancellation (Ctrl-C) marks the record ``cancelled`` and is re-raised. ``keep_answer``
    (a conversation's next turn needs the reply) collects the answer's text: through a layer
    of its own around the events, so requests that keep nothing pay nothing for it.
    """
    stamps = timing.RequestTiming()
    tally = StreamTally(content_ns=[])
    token = timing.begin(stamps)
    failure_exc: BaseException | None = None
    events = provider.events(request) if keep_answer is None else _keeping(provider.events(request), keep_answer)
    try:
        with anyio.fail_after(timeout_s):
            try:
                await _consume(events, tally)
            finally:
                # Close the stream now (its connection goes back or is dropped), not whenever
                # the garbage collector gets to it — also when cancelled or timed out.
                with anyio.move_on_after(_CLOSE_S, shield=True):
                    await events.aclose()
    except anyio.get_cancelled_exc_class():
        record.status = "error"
        record.error_kind = "cancelled"
        record.error_message = "cancelled: the run was interrupted while this request was in flight"
        _fill(record, stamps, tally, tally.end_ns or timing.now_ns(), request.stream)
        raise
    except Exception as exc:  # noqa: BLE001 - every provider failure becomes data
        failure_exc = exc
    finally:
        timing.end(token)

    count_chunks(len(tally.content_ns))  # once per request: nothing added per chunk
    end_ns = tally.end_ns
    if failure_exc is not None:
        started = bool(stamps.headers_ns) and (stamps.http_status or 200) < 300
        failure = classify(failure_exc, streaming_started=started, secrets=secrets)
        record.status = "error"
        record.error_kind = failure.kind
        # The status the failure names, else the response's own (200 for a stream cut or timed
        # out after its headers), the same for every provider and client path.
        record.http_status = failure.http_status or stamps.http_status
        record.error_message = failure.message
        if failure.kind == "timeout":
            end_ns = timing.now_ns()  # the request ended when it was given up, not at its last event
            if isinstance(failure_exc, TimeoutError) and not str(failure_exc):
                record.error_message = _timeout_message(stamps, tally, timeout_s)
        end_ns = end_ns or timing.now_ns()
    elif request.stream and not tally.content_ns:
        record.status = "error"
        record.error_kind = "protocol"
        record.error_message = "the stream ended without any content"
    _fill(record, stamps, tally, end_ns, request.stream)
    return record


def _fill(record: RequestRecord, stamps: timing.RequestTiming, tally: StreamTally, end_ns: int, stream: bool) -> None:
    t0 = stamps.connect_ns or stamps.sent_ns or stamps.t0_ns
    record.retries = max(0, stamps.attempts - 1)
    record.request_id = tally.response_id or stamps.request_id
    if record.http_status is None and stamps.http_status:
        # Whenever a status line was read: also for a 200 stream that then carried nothing usable.
        record.http_status = stamps.http_status
    if not t0:  # never reached the transport (e.g. cancelled while queued in the SDK)
        return
    record.started_at_ns = stamps.wall_t0_ns
    record.sdk_prep_ms = _ms(stamps.call_ns, t0)
    if stamps.headers_ns:
        record.ttfb_ms = _ms(t0, stamps.headers_ns)
    if end_ns:
        record.e2e_ms = _ms(t0, end_ns)
    record.finish_reason = tally.finish_reason
    record.tool_call_chunks = tally.tool_call_chunks
    usage = tally.usage or Usage()
    record.input_tokens = usage.input_tokens
    record.cached_input_tokens = usage.cached_input_tokens
    record.cache_write_input_tokens = usage.cache_write_input_tokens
    record.reasoning_tokens = usage.reasoning_tokens
    record.queue_ms, record.prompt_ms, record.completion_ms = usage.queue_ms, usage.prompt_ms, usage.completion_ms
    if usage.output_tokens is not None:
        record.output_tokens = usage.output_tokens
        record.token_source = "usage"
    elif stream and tally.text_chunks:
        record.output_tokens = tally.text_chunks
        record.token_source = "chunks"
    elif tally.answer_chars:
        # No usage and nothing to count chunks of: about four characters a token.
        record.output_tokens = max(1, round(tally.answer_chars / 4))
        record.token_source = "estimate"
    if usage.output_tokens and usage.completion_ms:
        record.server_output_tps = usage.output_tokens / (usage.completion_ms / 1000.0)

    content = tally.content_ns
    record.content_chunks = len(content)
    if not stream or not content:
        return
    record.ttft_ms = _ms(t0, content[0])
    if tally.first_answer_ns:
        record.ttfa_ms = _ms(t0, tally.first_answer_ns)
    # Gaps to 0.1 µs, rounded (half up) on the integer nanoseconds: ((b - a + 50) // 100) / 1e4,
    # the same values as round(gap_ms, 4) bar exact ties. Spelled as a chain of C-level maps (no
    # Python frame per gap): a quarter of round()'s cost — this runs on the measuring loop once
    # per request, for every chunk, while other streams' reads wait.
    gaps = map(sub, islice(content, 1, None), map(sub, content, repeat(50)))
    record.itl_ms = list(map(truediv, map(floordiv, gaps, repeat(100)), repeat(1e4)))
    if len(content) < 2 or record.output_tokens is None:
        return
    streamed = float(record.output_tokens)
    if record.token_source == "usage" and record.reasoning_tokens and not tally.streamed_reasoning:
        # Hidden reasoning was counted but never streamed: it is not part of the speed.
        streamed -= record.reasoning_tokens
    elif record.token_source == "usage" and tally.hidden_reasoning and not record.reasoning_tokens:
        # Redacted reasoning is billed in the usage but its size is not reported: the speed can
        # only rest on what streamed, about four characters a token.
        streamed = max(1.0, (tally.answer_chars + tally.reasoning_chars) / 4)
    span_s = (content[-1] - content[0]) / 1e9
    after_first = streamed * (1.0 - 1.0 / len(content))
    if span_s > 0 and after_first > 0:
        record.output_tps = after_first / span_s
        record.tpot_ms = 1000.0 / record.output_tps
        if record.ttfa_ms is not None:
            record.response_100_ms = record.ttfa_ms + 100.0 * record.tpot_ms
