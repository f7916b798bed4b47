"""The emulator's pure parts, without a server: latency plans, overrides, fault choice, framing."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.emulator import FAULT_KINDS, expected_error_kind
from bench.emulator.faults import MIDSTREAM, STREAM_FAULTS, choose_fault, http_error
from bench.emulator.http11 import MalformedRequest, chunk, read_request, sse
from bench.emulator.profiles import (
    Override,
    OverrideError,
    Profile,
    parse_override,
    plan_response,
    prompt_tokens,
    resolve_profile,
)
from bench.emulator.wire import message_chars, text_chars
from bench.scenario.catalogue import load_catalogue
from bench.schema import ERROR_KINDS, HTTP_FAULTS

PROFILE = Profile(ttft_ms=80, tokens_per_s=500, jitter=0.2, reasoning=False, reasoning_tokens=0)


def plan(profile: Profile = PROFILE, seed: int = 1, **kw: object):  # type: ignore[no-untyped-def]
    args = {"budget": 64, "ignore_eos": False, "think": False, "stream_reasoning": True, **kw}
    return plan_response(profile, random.Random(seed), **args)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None, database=None)
@given(
    budget=st.one_of(st.none(), st.integers(1, 3000)),
    ignore_eos=st.booleans(),
    think=st.booleans(),
    stream_reasoning=st.booleans(),
    reasoning_tokens=st.integers(0, 400),
    jitter=st.floats(0, 5),
    natural=st.integers(1, 2000),
    seed=st.integers(0, 2**32),
)
def test_plan_invariants(
    budget: int | None, ignore_eos: bool, think: bool, stream_reasoning: bool,
    reasoning_tokens: int, jitter: float, natural: int, seed: int,
) -> None:  # fmt: skip
    profile = Profile(80, 500, jitter, think, reasoning_tokens, natural_tokens=natural)
    p = plan(profile, seed, budget=budget, ignore_eos=ignore_eos, think=think, stream_reasoning=stream_reasoning)
    limit = 4096 if budget is None else budget
    assert 1 <= p.completion_tokens <= limit
    assert p.answer_tokens >= 1  # every response has an answer
    assert p.reasoning_tokens <= limit // 2 and (think or p.reasoning_tokens == 0)
    assert p.n_streamed_reasoning == (p.reasoning_tokens if stream_reasoning else 0)
    assert len(p.offsets_s) == len(p.texts) == p.n_streamed_reasoning + p.answer_tokens
    assert all(b > a for a, b in zip(p.offsets_s, p.offsets_s[1:], strict=False))  # strictly increasing
    assert 0 <= p.ttfb_s <= p.offsets_s[0] < p.end_s
    assert p.finish in ("stop", "length")
    if budget is None:
        assert p.finish == "stop"
    elif ignore_eos:
        assert p.completion_tokens == budget and p.finish == "length"
    assert 0 < p.queue_s < p.offsets_s[0] + 1e-9
    assert p == plan(profile, seed, budget=budget, ignore_eos=ignore_eos, think=think, stream_reasoning=stream_reasoning)


def test_exact_timing_without_jitter() -> None:
    p = plan(Profile(50, 200, 0.0, False, 0), budget=10, ignore_eos=True)
    assert p.offsets_s[0] == pytest.approx(0.050)
    assert [round(b - a, 9) for a, b in zip(p.offsets_s, p.offsets_s[1:], strict=False)] == [0.005] * 9
    assert p.ttfb_s == pytest.approx(0.025) and p.interval_s == pytest.approx(0.005)


def test_hidden_reasoning_is_paid_in_time_not_text() -> None:
    profile = Profile(50, 100, 0.0, True, 20)
    shown = plan(profile, think=True, stream_reasoning=True, budget=100, ignore_eos=True)
    hidden = plan(profile, think=True, stream_reasoning=False, budget=100, ignore_eos=True)
    assert shown.reasoning_tokens == hidden.reasoning_tokens == 20
    assert shown.n_streamed_reasoning == 20 and hidden.n_streamed_reasoning == 0
    assert shown.offsets_s[0] == pytest.approx(0.05) and hidden.offsets_s[0] == pytest.approx(0.05 + 20 * 0.01)
    assert hidden.reasoning_text == "" and shown.reasoning_text and shown.answer_text
    assert hidden.completion_tokens == shown.completion_tokens == 100


def test_natural_stop_and_empty_chunks() -> None:
    stopped = plan(Profile(50, 100, 0.0, False, 0, natural_tokens=5), budget=1000)
    assert stopped.finish == "stop" and stopped.answer_tokens < 50
    empties = plan(Profile(50, 100, 0.0, False, 0, empty_chunk_share=0.5), budget=200, ignore_eos=True)
    assert 40 < empties.texts.count("") < 160
    assert plan(Profile(80, 500, 0.2, False, 0, ttfb_ms=3.0)).ttfb_s == pytest.approx(0.003)


def test_resolve_profile_applies_only_given_fields() -> None:
    info = load_catalogue().get("groq", "openai/gpt-oss-120b")
    assert info is not None
    base = resolve_profile(info, Override())
    assert (base.ttft_ms, base.tokens_per_s, base.reasoning, base.reasoning_tokens) == (90, 500, True, 48)
    tuned = resolve_profile(info, Override(ttft_ms=10, jitter=0, reasoning_tokens=0, natural_tokens=3))
    assert (tuned.ttft_ms, tuned.tokens_per_s, tuned.jitter, tuned.reasoning_tokens, tuned.natural_tokens) == (10, 500, 0, 0, 3)


def test_parse_override_accepts_the_harness_payload() -> None:
    raw = {"ttft_ms": 80, "tokens_per_s": 600, "jitter": 0.1, "faults": {"rate_limited": 0.05, "stream_interrupted": 0.02},
           "seed": 123, "omit_usage": False, "omit_done": True, "empty_chunk_share": 0.0, "retry_after_s": 0}  # fmt: skip
    override = parse_override(raw, FAULT_KINDS)
    assert override.faults == {"rate_limited": 0.05, "stream_interrupted": 0.02}
    assert (override.seed, override.omit_done, override.retry_after_s) == (123, True, 0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "JSON object"),
        ({"ttft": 1}, "unknown key 'ttft'"),
        ({"ttft_ms": "80"}, "wrong type"),
        ({"seed": 1.5}, "wrong type"),
        ({"omit_done": 1}, "wrong type"),
        ({"ttft_ms": True}, "wrong type"),
        ({"tokens_per_s": 0}, "must be in"),
        ({"faults": {"rate_limit": 0.1}}, "unknown fault kind 'rate_limit'"),
        ({"faults": {"auth": 2}}, "must be in"),
        ({"faults": {"auth": True}}, "must be in"),
        ({"faults": {"auth": 0.6, "quota": 0.6}}, "more than 1"),
    ],
)
def test_parse_override_rejects(raw: object, message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        parse_override(raw, FAULT_KINDS)


def test_fault_kinds_are_design_error_kinds() -> None:
    assert set(FAULT_KINDS) == set(HTTP_FAULTS) | set(STREAM_FAULTS)
    for kind in FAULT_KINDS:
        for dialect in ("openai", "groq", "anthropic"):
            assert expected_error_kind(kind, dialect) in ERROR_KINDS
    assert expected_error_kind("midstream_error", "anthropic") == "overloaded"
    assert expected_error_kind("midstream_error", "groq") == "server_error"
    assert set(MIDSTREAM) == {"openai", "groq", "anthropic"}


def test_choose_fault_lays_shares_end_to_end() -> None:
    shares = {"rate_limited": 0.1, "timeout": 0.2}
    assert choose_fault(shares, 0.05) == "rate_limited"
    assert choose_fault(shares, 0.15) == "timeout"
    assert choose_fault(shares, 0.31) is None
    assert choose_fault({}, 0.0) is None
    assert choose_fault({"auth": 1.0}, 0.999) == "auth"


@pytest.mark.parametrize("dialect", ["openai", "groq", "anthropic"])
def test_http_errors_have_the_documented_statuses(dialect: str) -> None:
    statuses = {kind: http_error(kind, dialect, "m").status for kind in HTTP_FAULTS}
    expected = {"rate_limited": 429, "auth": 401, "permission": 403, "model_not_found": 404,
                "model_decommissioned": 400, "bad_request": 400, "server_error": 500}  # fmt: skip
    assert {k: statuses[k] for k in expected} == expected
    assert statuses["quota"] == (402 if dialect == "anthropic" else 429)
    assert statuses["overloaded"] == (529 if dialect == "anthropic" else 503)
    assert "`m`" in http_error("model_not_found", "groq", "m").message
    assert http_error("model_decommissioned", dialect, "m").code == "model_decommissioned"


def _read(raw: bytes):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        reader = asyncio.StreamReader(limit=1024)
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_request(reader)

    return asyncio.run(go())


def test_read_request() -> None:
    request = _read(b"POST /v1/models%2Fx?limit=2 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\ncontent-length: 2\r\n\r\n{}")
    assert request is not None
    assert (request.method, request.path, request.body, request.keep_alive) == ("POST", "/v1/models/x", b"{}", True)
    assert request.headers["x-a"] == "1"
    assert _read(b"GET / HTTP/1.0\r\n\r\n").keep_alive is False
    assert _read(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive is True
    assert _read(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive is False
    assert _read(b"") is None and _read(b"\r\n") is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno-colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\ncontent-length: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\ncontent-length: -1\r\n\r\n", 400),  # a negative length is bad, not large
        (b"GET / HTTP/1.1\r\ncontent-length: +2\r\n\r\n{}", 400),
        (b"GET / HTTP/1.1\r\ncontent-length: 1_0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\ncontent-length: 99999999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 411),
        (b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\n{}", 400),
        (b"GET / HTTP/1.1\r\nHost: h", 400),
        (b"GET / HTTP/1.1\r\nx: " + b"a" * 2000 + b"\r\n\r\n", 413),
    ],
)
def test_read_request_rejects(raw: bytes, status: int) -> None:
    with pytest.raises(MalformedRequest) as info:
        _read(raw)
    assert info.value.status == status


def test_framing() -> None:
    assert chunk(b"abc") == b"3\r\nabc\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert sse("[DONE]") == b"data: [DONE]\n\n"
    assert sse('{"type":"ping"}', "ping") == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_prompt_token_estimate() -> None:
    parts = [{"type": "text", "text": "y" * 8}, {"type": "image"}]
    messages = [{"role": "user", "content": "x" * 40}, {"role": "user", "content": parts}, "junk"]
    assert message_chars(messages) == 48 and message_chars(None) == 0
    assert text_chars(None) == 0 and text_chars("abcd") == 4
    assert prompt_tokens(48) == 12 and prompt_tokens(0) == 1


def test_override_payload_round_trips_through_json() -> None:
    payload = json.dumps({"faults": {k: 0.01 for k in FAULT_KINDS}, "seed": 5})
    assert parse_override(json.loads(payload), FAULT_KINDS).faults["midstream_error"] == 0.01


class _SlackClock:
    """A clock whose sleeps end late by the kernel's timer slack: 0.1% of the wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.asked: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.asked.append(delay)
        self.now += delay * 1.001


@pytest.mark.parametrize("wait_s", [0.02, 1.6, 30.0])
def test_a_long_wait_ends_as_late_as_a_short_one(monkeypatch: pytest.MonkeyPatch, wait_s: float) -> None:
    """A long prefill's first token is not written later in proportion to the wait (Linux lets
    an epoll wait of t seconds end t/1000 late): the emulator sleeps it in two steps."""
    from bench.emulator import answers

    clock = _SlackClock()
    monkeypatch.setattr(answers, "perf_counter", clock.time)
    monkeypatch.setattr(answers.asyncio, "sleep", clock.sleep)
    deadline = clock.now + wait_s
    asyncio.run(answers.sleep_until(deadline))
    late_s = clock.now - deadline
    assert 0 <= late_s <= 0.0001, late_s  # a short wait's slack (tens of µs), not 0.1% of the whole wait
    assert len(clock.asked) == (1 if wait_s <= 0.05 else 2)


def test_a_timer_that_fires_early_is_slept_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvloop counts a timer from its loop iteration's start, so it can fire early by however long
    the iteration had run: the emulator reads a fresh clock and sleeps the rest."""
    from bench.emulator import answers

    clock = _SlackClock()

    async def early(delay: float) -> None:
        clock.asked.append(delay)
        clock.now += delay - 0.003 if len(clock.asked) == 1 else delay

    monkeypatch.setattr(answers, "perf_counter", clock.time)
    monkeypatch.setattr(answers.asyncio, "sleep", early)
    deadline = clock.now + 0.04
    asyncio.run(answers.sleep_until(deadline))
    assert clock.now >= deadline - 0.0002 and len(clock.asked) == 2
