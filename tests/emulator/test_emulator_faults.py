"""Fault injection through the official SDKs: each HTTP fault raises the SDK's documented error,
stream faults break a 200 stream, shares and retries behave as documented.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anthropic
import groq
import openai
import pytest

from bench.emulator import EmulatorHandle
from tests.emulator_clients import (
    MESSAGES,
    clients,
    fast,
    run,
)

# ---------------------------------------------------------------------------------- faults

HTTP_FAULT_CLASSES = {
    "rate_limited": ("RateLimitError", "RateLimitError", "RateLimitError"),
    "auth": ("AuthenticationError",) * 3,
    "permission": ("PermissionDeniedError",) * 3,
    "quota": ("RateLimitError", "RateLimitError", "PaymentRequiredError"),
    "model_not_found": ("NotFoundError",) * 3,
    "model_decommissioned": ("BadRequestError",) * 3,
    "bad_request": ("BadRequestError",) * 3,
    "server_error": ("InternalServerError",) * 3,
    "overloaded": ("InternalServerError", "InternalServerError", "OverloadedError"),
}


async def _each_sdk(
    emu: EmulatorHandle, headers: dict[str, str], stream: bool, **options: Any
) -> list[tuple[BaseException | None, int]]:
    """One request per SDK; returns (exception or None, content events seen before it)."""
    outcomes = []
    async with clients(emu, **options) as c:
        g = c.groq
        o = c.openai
        a = c.anthropic
        calls = [
            lambda: g.chat.completions.create(
                model="openai/gpt-oss-20b", messages=MESSAGES, stream=stream, max_tokens=30, extra_headers=headers
            ),
            lambda: o.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, stream=stream, max_completion_tokens=30, extra_headers=headers
            ),
            lambda: a.messages.create(
                model="claude-haiku-5-5", messages=MESSAGES, stream=stream, max_tokens=30, extra_headers=headers
            ),
        ]
        for call in calls:
            seen = 0
            try:
                response = await call()
                if stream:
                    async for _ in response:
                        seen += 1
                outcomes.append((None, seen))
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcomes.append((exc, seen))
    return outcomes


@pytest.mark.parametrize("fault", sorted(HTTP_FAULT_CLASSES))
def test_http_faults_raise_the_documented_sdk_errors(emu: EmulatorHandle, fault: str) -> None:
    outcomes = run(_each_sdk(emu, {**fast(), "x-bench-fault": fault}, stream=True))
    for (exc, _), module, name in zip(outcomes, (groq, openai, anthropic), HTTP_FAULT_CLASSES[fault], strict=True):
        assert type(exc) is getattr(module, name), (module.__name__, exc)
        assert exc.response.headers["x-bench-fault"] == fault
    openai_error = outcomes[1][0]
    assert isinstance(openai_error, openai.APIStatusError)
    if fault == "rate_limited":
        assert openai_error.response.headers["retry-after"] == "1"
    if fault == "quota":
        assert openai_error.code == "insufficient_quota"
    if fault == "model_decommissioned":
        assert openai_error.code == "model_decommissioned"
        assert outcomes[2][0].error_code == "model_decommissioned"  # type: ignore[union-attr]


def test_stream_interrupted_mid_iteration(emu: EmulatorHandle) -> None:
    outcomes = run(_each_sdk(emu, {**fast(), "x-bench-fault": "stream_interrupted"}, stream=True))
    groq_exc, openai_exc, anthropic_exc = (o[0] for o in outcomes)
    assert isinstance(openai_exc, openai.APIConnectionError)
    # groq and anthropic let the transport's error through mid-stream.
    assert "incomplete chunked read" in str(groq_exc) and "incomplete chunked read" in str(anthropic_exc)
    assert all(seen >= 2 for _, seen in outcomes)  # it broke after a few chunks, not before


def test_midstream_error_protocol_and_timeout(emu: EmulatorHandle) -> None:
    errors = run(_each_sdk(emu, {**fast(), "x-bench-fault": "midstream_error"}, stream=True))
    assert type(errors[0][0]) is groq.APIError and type(errors[1][0]) is openai.APIError
    assert isinstance(errors[2][0], anthropic.APIStatusError) and errors[2][0].status_code == 200
    assert errors[2][0].type == "overloaded_error"  # type: ignore[union-attr]

    broken = run(_each_sdk(emu, {**fast(), "x-bench-fault": "protocol"}, stream=True))
    assert all(isinstance(exc, json.JSONDecodeError) for exc, _ in broken)

    start = time.monotonic()
    stalled = run(_each_sdk(emu, {**fast(), "x-bench-fault": "timeout"}, stream=False, timeout=0.2))
    assert all(isinstance(exc, openai.APITimeoutError | groq.APITimeoutError | anthropic.APITimeoutError) for exc, _ in stalled)
    assert time.monotonic() - start < 5


def test_stream_faults_without_streaming(emu: EmulatorHandle) -> None:
    cut = run(_each_sdk(emu, {**fast(), "x-bench-fault": "stream_interrupted"}, stream=False))
    assert [type(exc).__name__ for exc, _ in cut] == ["APIConnectionError"] * 3
    bad = run(_each_sdk(emu, {**fast(), "x-bench-fault": "protocol"}, stream=False))
    assert all(isinstance(exc, json.JSONDecodeError) for exc, _ in bad)
    failed = run(_each_sdk(emu, {**fast(), "x-bench-fault": "midstream_error"}, stream=False))
    assert all(getattr(exc, "status_code", None) == 500 for exc, _ in failed)
    stalled = run(_each_sdk(emu, {**fast(), "x-bench-fault": "timeout"}, stream=True, timeout=0.2))
    assert all(exc is not None and "timeout" in type(exc).__name__.lower() for exc, _ in stalled)


def test_fault_shares_and_quirks(emu: EmulatorHandle) -> None:
    async def go(override: dict[str, Any], include_usage: bool = True) -> list[Any]:
        async with clients(emu) as c:
            o = c.openai
            stream = await o.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, stream=True, max_completion_tokens=20,
                stream_options={"include_usage": include_usage}, extra_headers=fast(**override), extra_body={"ignore_eos": True},
            )  # fmt: skip
            return [c async for c in stream]

    with pytest.raises(openai.AuthenticationError):
        run(go({"faults": {"auth": 1.0}}))
    assert run(go({"faults": {"auth": 0.0}}))[-1].usage.completion_tokens == 20
    quiet = run(go({"omit_usage": True, "omit_done": True}))
    assert all(c.usage is None for c in quiet) and quiet[-1].choices[0].finish_reason == "length"
    empties = run(go({"empty_chunk_share": 0.5, "seed": 3}))
    texts = [c.choices[0].delta.content for c in empties[1:-2]]
    assert len(texts) == 20 and 0 < texts.count("") < 20 and empties[-1].usage.completion_tokens == 20


def test_retries_are_logged_and_retry_headers_honoured(emu: EmulatorHandle, chunk_log: Path) -> None:
    async def go(seed: int, **override: Any) -> openai.RateLimitError:
        async with clients(emu, max_retries=2) as c:
            o = c.openai
            with pytest.raises(openai.RateLimitError) as info:
                await o.chat.completions.create(
                    model="gpt-4.1", messages=MESSAGES, max_completion_tokens=5,
                    extra_headers=fast(faults={"rate_limited": 1.0}, seed=seed, **override),
                )  # fmt: skip
            return info.value

    error = run(go(990001, retry_after_s=0.01))
    assert error.response.headers["retry-after"] == "0.01"
    refused = run(go(990002, retry_after_s=0.01, should_retry=False))
    assert refused.response.headers["x-should-retry"] == "false"
    time.sleep(0.2)
    entries = [json.loads(line) for line in chunk_log.read_text().splitlines()]
    assert sorted(e["retry_count"] for e in entries if e["seed"] == 990001) == [0, 1, 2]
    assert [e["retry_count"] for e in entries if e["seed"] == 990002] == [0]
    assert all(e["status"] == 429 and e["fault"] == "rate_limited" for e in entries if e["seed"] in (990001, 990002))
