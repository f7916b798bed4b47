"""The per-request arithmetic of docs/metrics.md, with a scripted provider and a fake clock.

The end-to-end tests (test_run.py) cover the real SDKs; here every stamp is known, so each
definition is checked exactly: t0 at the transport hook, reasoning vs answer, empty chunks,
hidden reasoning, one-chunk answers.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from types import SimpleNamespace

import anyio
import pytest

from bench import timing
from bench.providers.base import ProviderRequest, StreamEvent, Usage
from bench.providers.classify import classify, scrub
from bench.results.records import RequestRecord
from bench.run.measure import measure_request


class FakeClock:
    """Ticks 1 ms per reading, like pyperf's fake clock: every stamp is predictable."""

    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        self.t += 1_000_000
        return self.t


class Scripted:
    client = "sdk"

    def __init__(self, events: list[StreamEvent], fail: BaseException | None = None, headers: bool = True) -> None:
        self.script = events
        self.fail = fail
        self.headers = headers

    async def events(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        await timing.on_request(None)  # the transport hook, as httpx would call it
        if self.headers:
            await timing.on_response(SimpleNamespace(status_code=200, headers={"x-request-id": "req_1"}))
        for event in self.script:
            yield event
        if self.fail is not None:
            raise self.fail

    async def list_models(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        pass


def run(
    events: list[StreamEvent], *, stream: bool = True, fail: BaseException | None = None, headers: bool = True
) -> RequestRecord:
    record = RequestRecord("r", "t", "groq", "m", "concurrency", 1.0, 0, False, stream)
    request = ProviderRequest(model="m", messages=[], max_tokens=10, stream=stream)

    async def go() -> None:
        await measure_request(Scripted(events, fail, headers), request, record, timeout_s=5)

    anyio.run(go)
    return record


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(timing, "now_ns", clock)
    return clock


def test_plain_stream_definitions() -> None:
    # Clock readings: call=1, t0=2, headers=3, then one reading per event: 4,5,6,7,8.
    events = [
        StreamEvent(answer="", response_id="chatcmpl-1"),  # role chunk: a token field, not content
        StreamEvent(answer="Hel"),
        StreamEvent(answer="lo"),
        StreamEvent(answer="!"),
        StreamEvent(finish_reason="stop", usage=Usage(output_tokens=3, input_tokens=9)),
    ]
    r = run(events)
    assert r.status == "ok" and r.request_id == "chatcmpl-1"
    assert r.sdk_prep_ms == 1.0 and r.ttfb_ms == 1.0
    assert r.ttft_ms == 3.0 and r.ttfa_ms == 3.0  # first content at 5 ms, t0 at 2 ms
    assert r.e2e_ms == 6.0
    assert r.content_chunks == 3 and r.itl_ms == [1.0, 1.0]
    assert r.output_tokens == 3 and r.token_source == "usage" and r.input_tokens == 9
    # 3 tokens, 2 after the first, over 2 ms → 1000 tokens/s.
    assert r.output_tps == pytest.approx(1000.0) and r.tpot_ms == pytest.approx(1.0)
    assert r.response_100_ms == pytest.approx(3.0 + 100.0)
    assert r.finish_reason == "stop" and r.retries == 0


def test_reasoning_counts_for_ttft_not_ttfa() -> None:
    events = [StreamEvent(reasoning="think"), StreamEvent(reasoning="more"), StreamEvent(answer="A"), StreamEvent(answer="B")]
    r = run(events)
    assert r.ttft_ms == 2.0 and r.ttfa_ms == 4.0 and r.content_chunks == 4
    assert r.token_source == "chunks" and r.output_tokens == 4


def test_think_tags_inside_content_are_reasoning() -> None:
    events = [StreamEvent(answer="<think>"), StreamEvent(answer="hmm"), StreamEvent(answer="</think>"), StreamEvent(answer="Yes")]
    r = run(events)
    assert r.ttft_ms == 2.0 and r.ttfa_ms == 5.0


def test_think_close_and_answer_in_one_chunk() -> None:
    r = run([StreamEvent(answer="<think>x"), StreamEvent(answer="y</think>Yes"), StreamEvent(answer=".")])
    assert r.ttft_ms == 2.0 and r.ttfa_ms == 3.0


def test_empty_chunks_are_tokens_but_not_content() -> None:
    events = [StreamEvent(answer="a"), StreamEvent(answer=""), StreamEvent(answer="b"), StreamEvent(answer="")]
    r = run(events)
    assert r.content_chunks == 2 and r.output_tokens == 4 and r.token_source == "chunks"
    # 4 tokens × (1 − 1/2) = 2 tokens over the 2 ms between the two content events.
    assert r.output_tps == pytest.approx(1000.0)


def test_hidden_reasoning_is_not_speed() -> None:
    events = [
        StreamEvent(answer="a"),
        StreamEvent(answer="b"),
        StreamEvent(answer="c"),
        StreamEvent(usage=Usage(output_tokens=103, reasoning_tokens=100)),
    ]
    r = run(events)
    assert r.reasoning_tokens == 100
    assert r.output_tps == pytest.approx(3 * (2 / 3) / 0.002)


def test_one_content_event_has_no_speed() -> None:
    r = run([StreamEvent(answer="only"), StreamEvent(usage=Usage(output_tokens=1))])
    assert r.ttft_ms == 2.0 and math.isnan(r.output_tps if r.output_tps is not None else math.nan)
    assert r.tpot_ms is None and r.response_100_ms is None


def test_stream_without_content_is_a_protocol_error() -> None:
    r = run([StreamEvent(finish_reason="stop")])
    assert r.status == "error" and r.error_kind == "protocol"


def test_non_streaming_has_no_ttft_and_estimates_without_usage() -> None:
    r = run([StreamEvent(answer="x" * 40, finish_reason="stop")], stream=False)
    assert r.ttft_ms is None and r.output_tps is None and r.e2e_ms == 2.0
    assert r.output_tokens == 10 and r.token_source == "estimate"


def test_server_timings_give_server_speed() -> None:
    usage = Usage(output_tokens=50, queue_ms=10.0, prompt_ms=2.0, completion_ms=100.0)
    r = run([StreamEvent(answer="a"), StreamEvent(answer="b", usage=usage)])
    assert r.queue_ms == 10.0 and r.prompt_ms == 2.0 and r.completion_ms == 100.0
    assert r.server_output_tps == pytest.approx(500.0)


class RemoteProtocolError(Exception):
    pass


def test_cut_after_headers_is_stream_interrupted() -> None:
    r = run([StreamEvent(answer="a")], fail=RemoteProtocolError("peer closed connection"))
    assert r.status == "error" and r.error_kind == "stream_interrupted"
    assert r.ttft_ms == 2.0  # what arrived before the cut is kept


def test_cut_before_headers_is_connection() -> None:
    r = run([], fail=RemoteProtocolError("closed"), headers=False)
    assert r.error_kind == "connection" and r.ttfb_ms is None


def test_timeout_is_timeout() -> None:
    class Stall(Scripted):
        async def events(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
            await timing.on_request(None)
            await anyio.sleep(10)
            yield StreamEvent(answer="never")

    record = RequestRecord("r", "t", "groq", "m", "concurrency", 1.0, 0, False, True)

    async def go() -> None:
        await measure_request(Stall([]), ProviderRequest("m", [], 5), record, timeout_s=0.05)

    anyio.run(go)
    assert record.error_kind == "timeout"


def test_cancellation_is_recorded_then_raised() -> None:
    class Slow(Scripted):
        async def events(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
            await timing.on_request(None)
            yield StreamEvent(answer="a")
            await anyio.sleep(10)
            yield StreamEvent(answer="b")

    record = RequestRecord("r", "t", "groq", "m", "concurrency", 1.0, 0, False, True)

    async def go() -> None:
        with anyio.move_on_after(0.05):
            await measure_request(Slow([]), ProviderRequest("m", [], 5), record, timeout_s=5)

    anyio.run(go)
    assert record.status == "error" and record.error_kind == "cancelled" and record.ttft_ms is not None


# ----------------------------------------------------------------------------- classification


class APIStatusError(Exception):
    def __init__(self, status_code: int, body: object = None, code: str | None = None, type_: str | None = None) -> None:
        super().__init__(f"Error code: {status_code}")
        self.status_code = status_code
        self.body = body
        self.code = code
        self.type = type_


class APIError(Exception):
    def __init__(self, body: object) -> None:
        super().__init__("error event")
        self.body = body


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (APIStatusError(429, {"error": {"code": "rate_limit_exceeded"}}), "rate_limited"),
        (APIStatusError(429, {"error": {"code": "insufficient_quota"}}), "quota"),
        (APIStatusError(402, {"error": {"type": "billing_error"}}), "quota"),
        (APIStatusError(401), "auth"),
        (APIStatusError(403), "permission"),
        (APIStatusError(404, {"error": {"code": "model_not_found"}}), "model_not_found"),
        (APIStatusError(404, {"error": {"message": "no route"}}), "other"),
        (APIStatusError(400, {"error": {"code": "model_decommissioned"}}), "model_decommissioned"),
        (APIStatusError(400, {"error": {"type": "invalid_request_error"}}), "bad_request"),
        (APIStatusError(500), "server_error"),
        (APIStatusError(502), "server_error"),
        (APIStatusError(503), "overloaded"),
        (APIStatusError(529, type_="overloaded_error"), "overloaded"),
        (APIStatusError(498), "overloaded"),
        (APIStatusError(408), "timeout"),
        (APIStatusError(418), "other"),
        (APIStatusError(200, type_="overloaded_error"), "overloaded"),
        (APIError({"error": {"type": "server_error", "message": "boom"}}), "server_error"),
        (TimeoutError(), "timeout"),
        (ValueError("Expecting value: line 1"), "other"),
        (ConnectionRefusedError(), "connection"),
    ],
)
def test_classify(exc: BaseException, kind: str) -> None:
    assert classify(exc, streaming_started=False).kind == kind


def test_classify_json_error_is_protocol() -> None:
    import json

    try:
        json.loads("{nope")
    except json.JSONDecodeError as exc:
        assert classify(exc, streaming_started=True).kind == "protocol"


def test_scrub_removes_keys_and_bearer_tokens() -> None:
    secret = "gsk_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    text = f"Incorrect API key provided: {secret}. Authorization: Bearer {secret} sk-proj-abcdefghijklmnop"
    cleaned = scrub(text, (secret,))
    assert secret not in cleaned and "abcdefghijklmnop" not in cleaned
    assert len(scrub("x" * 1000)) == 300
