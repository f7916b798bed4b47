"""Stream shapes through both client paths: Chat Completions and Anthropic Messages, however cut.

Every stream shape the SDK path handles goes through the lean client too, against
hand-written servers (``tests.providers.raw_server``: exact bytes, written whole, one byte at
a time, with pauses). Nothing is mocked: the official SDKs, the lean client,
``bench.run.measure`` and the sockets are the real ones. Where both paths can read a shape,
the test asserts they record the same thing, and what that is.
"""

from __future__ import annotations

import json

import pytest

from tests.providers.client_runs import (
    CLIENTS,
    both,
    measure,
)
from tests.providers.raw_server import (
    DONE,
    anthropic_event,
    block_delta,
    block_start,
    chat,
    message_end,
    message_start,
    send_stream,
    text,
    usage,
)

# ---------------------------------------------------------------------------- chat completions shapes

#: A chat stream with most quirks at once: the role-only opener (no token), reasoning deltas,
#: an empty-string piece (a token, not a content event), a finish chunk and a usage-only chunk.
RICH_CHAT = [
    chat({"role": "assistant", "content": ""}),
    chat({"reasoning": "Let"}),
    chat({"reasoning": " me"}),
    chat({"content": "Hi"}),
    chat({"content": ""}),
    chat({"content": " there"}),
    chat({}, finish="stop"),
    chat(None, usage=usage(5)),
    DONE,
]


def crlf(events: list[bytes]) -> list[bytes]:
    return [e.replace(b"\n", b"\r\n") for e in events]


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize("how", ["whole", "bytes", "each"])
def test_chat_stream_however_it_is_cut_into_reads(raw, how: str, line_end: str) -> None:
    """Several events in one read, one event over many reads, CRLF line ends: the same record."""
    events = crlf(RICH_CHAT) if line_end == "crlf" else RICH_CHAT
    records = both("openai", send_stream(events, how=how, pause_s=0.002), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.token_source, record.content_chunks) == (5, "usage", 4)
        assert (record.finish_reason, record.input_tokens, record.request_id) == ("stop", 7, "chatcmpl-raw")
        assert record.ttfa_ms is not None and record.ttft_ms is not None and record.ttfa_ms >= record.ttft_ms
    if how == "whole":  # one read carried every event: they share its stamp
        assert records["fast"].itl_ms == [0.0, 0.0, 0.0]


def test_vllm_shape_reasoning_content_usage_on_every_chunk_and_read_to_close(raw) -> None:
    events = [chat({"role": "assistant", "content": ""}), chat({"reasoning_content": "hmm"}), chat({"reasoning_content": " ok"})]
    events += [chat({"content": w}, usage=usage(i + 3, 5)) for i, w in enumerate(["Hi", " there", "!"])]
    events += [chat({}, finish="stop", usage=usage(5, 5)), DONE]
    # Connection: close and neither content-length nor chunked encoding: the body ends at the close.
    records = both("openai-compatible", send_stream(events, how="each", pause_s=0.003, close=True, chunked_encoding=False), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.token_source, record.content_chunks, record.input_tokens) == (5, "usage", 5, 5)
        assert record.ttfa_ms > record.ttft_ms


def test_llama_cpp_shape_no_usage_no_done(raw) -> None:
    events = [chat({"role": "assistant", "content": ""})] + [chat({"content": w}) for w in ["A", "", "B", "C"]]
    events += [chat({}, finish="stop", timings={"predicted_ms": 3.0})]  # and the stream just ends
    records = both("openai-compatible", send_stream(events), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        # No usage: one token per chunk with a text field, the empty byte-fallback piece included.
        assert (record.token_source, record.output_tokens, record.content_chunks) == ("chunks", 4, 3)
        assert record.finish_reason == "stop" and record.input_tokens is None


def test_missing_done_with_close_delimited_body(raw) -> None:
    events = [chat({"content": w}) for w in ["one", " two"]] + [chat({}, finish="length", usage=usage(2))]
    records = both("openai-compatible", send_stream(events, how="each", close=True, chunked_encoding=False), raw)
    assert all(r.status == "ok" and r.output_tokens == 2 and r.finish_reason == "length" for r in records.values())


def test_comments_and_blank_keepalives_between_events(raw) -> None:
    events = [
        b": OPENROUTER PROCESSING\n\n",
        chat({"role": "assistant", "content": ""}),
        b": ping\n\n",
        chat({"content": "Hi"}),
        b":\n\n",
        chat({"content": "!"}),
        chat({}, finish="stop", usage=usage(2)),
        DONE,
    ]
    records = both("openai", send_stream(events, how="bytes"), raw)
    assert all(r.status == "ok" and (r.output_tokens, r.content_chunks) == (2, 2) for r in records.values())


def test_groq_x_groq_usage_timings_and_reasoning(raw) -> None:
    x_groq = {
        "id": "req_01",
        "usage": {
            "queue_time": 0.012,
            "prompt_tokens": 11,
            "prompt_time": 0.003,
            "completion_tokens": 6,
            "completion_time": 0.02,
            "total_tokens": 17,
            "total_time": 0.023,
        },
    }
    events = [
        chat({"role": "assistant", "content": ""}, x_groq={"id": "req_01"}),
        chat({"reasoning": "The user"}),
        chat({"reasoning": " wants hi."}),
        chat({"content": "Hi"}),
        chat({"content": "!"}),
        chat({}, finish="stop", x_groq=x_groq),
        DONE,
    ]
    records = both("groq", send_stream(events, how="each", pause_s=0.002), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.input_tokens, record.content_chunks) == (6, 11, 4)
        assert record.queue_ms == pytest.approx(12.0) and record.prompt_ms == pytest.approx(3.0)
        assert record.completion_ms == pytest.approx(20.0) and record.server_output_tps == pytest.approx(300.0)
        assert record.ttfa_ms > record.ttft_ms


@pytest.mark.parametrize("client", CLIENTS)
def test_think_tags_ttfa_lands_on_the_first_visible_answer_text(raw, client: str) -> None:
    """``<think>…</think>`` in content, then "\\n\\n" as its own chunk: TTFA is "Hello"'s arrival."""
    pieces = ["<think>", "hmm", "</think>", "\n\n", "Hello", " world"]
    events = [chat({"role": "assistant", "content": ""})] + [chat({"content": p}) for p in pieces]
    events += [chat({}, finish="stop"), DONE]
    server = raw(send_stream(events, how="each", pause_s=0.02))
    record = measure(client, "openai-compatible", server.url)
    assert record.status == "ok", record.error_message
    assert (record.content_chunks, record.output_tokens, record.token_source) == (6, 6, "chunks")
    assert record.itl_ms[3] > 5, record.itl_ms  # "\n\n" and "Hello" came in reads of their own
    # TTFA is the stamp of the fifth content event ("Hello"), not of "</think>" or "\n\n".
    assert record.ttfa_ms == pytest.approx(record.ttft_ms + sum(record.itl_ms[:4]), abs=0.01)


def test_think_close_and_answer_in_one_chunk(raw) -> None:
    pieces = ["<think>hmm", " ok</think>", "\n\nHello", " world"]
    events = [chat({"content": p}) for p in pieces] + [chat({}, finish="stop"), DONE]
    records = both("openai-compatible", send_stream(events, how="each", pause_s=0.01), raw)
    for record in records.values():
        assert record.ttfa_ms == pytest.approx(record.ttft_ms + sum(record.itl_ms[:2]), abs=0.01)


@pytest.mark.parametrize("provider", ["openai", "groq"])
def test_error_event_inside_a_200_chat_stream(raw, provider: str) -> None:
    error = {"message": "Internal Server Error", "type": "internal_server_error", "code": "internal_server_error"}
    events = [
        chat({"role": "assistant", "content": ""}),
        chat({"content": "Hi"}),
        b"data: " + json.dumps({"error": error}).encode() + b"\n\n",
    ]
    records = both(provider, send_stream(events), raw)
    for record in records.values():
        assert (record.status, record.error_kind, record.http_status) == ("error", "server_error", 200)
        assert "Internal Server Error" in record.error_message
        assert record.content_chunks == 1


def test_error_event_naming_a_status_inside_a_200_chat_stream(raw) -> None:
    """vLLM-style: an integer ``code`` in the error names the status the record carries."""
    error = {"message": "overloaded, try later", "type": "ServiceUnavailableError", "code": 503}
    events = [chat({"content": "Hi"}), b"data: " + json.dumps({"error": error}).encode() + b"\n\n"]
    records = both("openai-compatible", send_stream(events), raw)
    assert all((r.error_kind, r.http_status) == ("overloaded", 503) for r in records.values())


# ---------------------------------------------------------------------------- anthropic messages shapes


def anthropic_stream(*, redacted: bool = True, output_tokens: int = 200) -> list[bytes]:
    events = [
        message_start(),
        anthropic_event("ping"),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Let me think"}),
        block_delta(0, {"type": "thinking_delta", "thinking": " about it."}),
        block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
        anthropic_event("content_block_stop", index=0),
    ]
    if redacted:
        events += [
            block_start(1, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}),
            anthropic_event("content_block_stop", index=1),
        ]
    events += [
        block_start(2, {"type": "text", "text": ""}),
        text(2, "Hello"),
        anthropic_event("ping"),
        text(2, " there"),
        text(2, ", friend."),
        anthropic_event("content_block_stop", index=2),
    ]
    return events + message_end("end_turn", output_tokens)


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize("how", ["whole", "bytes", "each"])
def test_anthropic_stream_with_thinking_and_redacted_thinking(raw, how: str, line_end: str) -> None:
    events = anthropic_stream()
    events = crlf(events) if line_end == "crlf" else events
    records = both("anthropic", send_stream(events, how=how, pause_s=0.003), raw)
    for record in records.values():
        assert record.status == "ok", record.error_message
        assert (record.output_tokens, record.input_tokens, record.token_source) == (200, 9, "usage")
        assert (record.content_chunks, record.finish_reason, record.request_id) == (5, "end_turn", "msg_raw")
        assert record.ttfa_ms >= record.ttft_ms


@pytest.mark.parametrize("client", CLIENTS)
def test_redacted_thinking_does_not_inflate_output_speed(raw, client: str) -> None:
    """200 tokens billed, a few dozen characters streamed: speed rests on what streamed."""
    server = raw(send_stream(anthropic_stream(), how="each", pause_s=0.01))
    record = measure(client, "anthropic", server.url)
    assert record.status == "ok", record.error_message
    streamed_chars = len("Let me think about it.") + len("Hello there, friend.")
    span_s = sum(record.itl_ms) / 1000
    n = record.content_chunks
    assert record.output_tps == pytest.approx(streamed_chars / 4 * (1 - 1 / n) / span_s, rel=0.01)
    billed = 200 * (1 - 1 / n) / span_s
    assert record.output_tps < billed / 5


@pytest.mark.parametrize("client", CLIENTS)
def test_thinking_without_redaction_uses_the_billed_count(raw, client: str) -> None:
    server = raw(send_stream(anthropic_stream(redacted=False, output_tokens=12), how="each", pause_s=0.01))
    record = measure(client, "anthropic", server.url)
    span_s = sum(record.itl_ms) / 1000
    assert record.output_tps == pytest.approx(12 * (1 - 1 / 5) / span_s, rel=0.01)


def test_anthropic_cache_tokens_count_as_input(raw) -> None:
    start = anthropic_event(
        "message_start",
        message={
            "id": "msg_c",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 1},
        },
    )
    events = [start, block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), text(0, "!")]
    events += message_end("max_tokens", 2)
    records = both("anthropic", send_stream(events), raw)
    assert all((r.input_tokens, r.output_tokens, r.finish_reason) == (123, 2, "max_tokens") for r in records.values())


def test_anthropic_error_event_inside_a_200_stream(raw) -> None:
    error = anthropic_event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), error]
    records = both("anthropic", send_stream(events, how="each"), raw)
    for record in records.values():
        assert (record.status, record.error_kind, record.http_status) == ("error", "overloaded", 529)
        assert "Overloaded" in record.error_message and record.content_chunks == 1


def test_anthropic_stream_without_message_stop(raw) -> None:
    events = [message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Hi"), text(0, " you")]
    events += message_end("end_turn", 2)[:1]  # message_delta, then the body ends
    records = both("anthropic", send_stream(events, how="bytes"), raw)
    assert all(r.status == "ok" and (r.output_tokens, r.finish_reason) == (2, "end_turn") for r in records.values())
