"""The emulator through the unmodified official SDKs, over real loopback HTTP (no mocks).

One emulator process serves the whole session; most requests ask for a fast profile through
``x-bench-emulator`` so the file runs in seconds. Strict-model behaviour is checked on an
in-process server (same code, its own config).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import groq
import httpx
import openai
import pytest

from bench.emulator import FAULT_KINDS, EmulatorError, EmulatorHandle, start_emulator
from bench.emulator.server import EmulatorServer, ServerConfig

T = TypeVar("T")
MESSAGES = [{"role": "user", "content": "Say hello in twenty words or so, please."}]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fast(**changes: Any) -> dict[str, str]:
    """Headers asking for a quick, exact profile (plus any other override keys)."""
    return {"x-bench-emulator": json.dumps({"ttft_ms": 5, "tokens_per_s": 4000, "jitter": 0, **changes})}


@pytest.fixture(scope="session")
def chunk_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator") / "chunks.jsonl"


@pytest.fixture(scope="session")
def emu(chunk_log: Path) -> Iterator[EmulatorHandle]:
    with start_emulator(seed=11, chunk_log=chunk_log) as handle:
        yield handle


class Clients:
    """The three SDK clients, each built on first use (building one costs tens of ms)."""

    def __init__(self, base: Callable[[str], str], options: dict[str, Any]) -> None:
        self._base = base
        self._options = options
        self._made: list[Any] = []

    def _keep(self, client: T) -> T:
        self._made.append(client)
        return client

    @functools.cached_property
    def groq(self) -> groq.AsyncGroq:
        http_client = groq.DefaultAsyncHttpxClient()
        return self._keep(groq.AsyncGroq(api_key="gsk-test", base_url=self._base("groq"), http_client=http_client, **self._options))

    @functools.cached_property
    def openai(self) -> openai.AsyncOpenAI:
        return self._keep(openai.AsyncOpenAI(api_key="sk-test", base_url=self._base("openai"), **self._options))

    @functools.cached_property
    def anthropic(self) -> anthropic.AsyncAnthropic:
        return self._keep(anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=self._base("anthropic"), **self._options))

    async def aclose(self) -> None:
        for client in self._made:
            await client.close()


@asynccontextmanager
async def sdk_clients(base: Callable[[str], str], **options: Any) -> AsyncIterator[Clients]:
    made = Clients(base, {"max_retries": 0, "timeout": 10.0, **options})
    try:
        yield made
    finally:
        await made.aclose()


def clients(emu: EmulatorHandle, **options: Any):  # type: ignore[no-untyped-def]
    return sdk_clients(emu.provider_base_url, **options)


def log_entries(path: Path, wanted: set[str], timeout_s: float = 5.0) -> dict[str, dict[str, Any]]:
    """Chunk-log lines by request_id; waits a little (the server writes after its last byte)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {}
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["request_id"] in wanted:
                found[entry["request_id"]] = entry
        if set(found) == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


# ------------------------------------------------------------------------------------ groq


def test_groq_stream_with_x_groq_usage(emu: EmulatorHandle) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            g = c.groq
            stream = await g.chat.completions.create(
                model="llama-3.1-8b-instant", messages=MESSAGES, stream=True, max_tokens=12,
                extra_body={"stream_options": {"include_usage": True}, "ignore_eos": True}, extra_headers=fast(),
            )  # fmt: skip
            assert stream.response.headers["x-request-id"].startswith("req_")
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            return [chunk async for chunk in stream]

    chunks = run(go())
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].x_groq.id.startswith("req_")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 12
    finish = chunks[-2]
    assert finish.choices[0].finish_reason == "length"
    usage = finish.x_groq.usage
    assert usage.completion_tokens == 12 and usage.prompt_tokens == round(len(MESSAGES[0]["content"]) / 4)
    assert usage.queue_time > 0 and usage.prompt_time > 0 and usage.completion_time > 0
    assert usage.total_time == pytest.approx(usage.prompt_time + usage.completion_time)
    assert finish.usage is not None and finish.usage.total_tokens == usage.total_tokens
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 12
    assert last.model_extra.get("service_tier") == "on_demand" or getattr(last, "service_tier", None) == "on_demand"
    assert len({c.id for c in chunks}) == 1


def test_groq_finish_chunk_has_x_groq_usage_without_include_usage(emu: EmulatorHandle) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            g = c.groq
            stream = await g.chat.completions.create(
                model="mixtral-8x7b-32768", messages=MESSAGES, stream=True, max_tokens=5, extra_headers=fast()
            )
            return [chunk async for chunk in stream]

    chunks = run(go())
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].x_groq.usage.completion_tokens >= 1
    assert all(c.usage is None for c in chunks)

    async def quiet() -> list[Any]:
        async with clients(emu) as c:
            g = c.groq
            stream = await g.chat.completions.create(
                model="mixtral-8x7b-32768", messages=MESSAGES, stream=True, max_tokens=5, extra_headers=fast(omit_usage=True),
                extra_body={"stream_options": {"include_usage": True}},
            )  # fmt: skip
            return [chunk async for chunk in stream]

    chunks = run(quiet())
    assert chunks[-1].x_groq.id and chunks[-1].x_groq.usage is None and all(c.usage is None for c in chunks)


def test_groq_reasoning_model_streams_reasoning_first(emu: EmulatorHandle) -> None:
    async def go(**extra: Any) -> list[Any]:
        async with clients(emu) as c:
            g = c.groq
            stream = await g.chat.completions.create(
                model="openai/gpt-oss-120b", messages=MESSAGES, stream=True, max_tokens=40, extra_headers=fast(),
                extra_body={"ignore_eos": True, **extra},
            )  # fmt: skip
            return [chunk async for chunk in stream]

    chunks = run(go())
    kinds = []
    for chunk in chunks:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None and delta.reasoning:
            assert delta.model_extra["channel"] == "analysis"
            kinds.append("r")
        elif delta is not None and delta.content:
            kinds.append("a")
    assert kinds == ["r"] * 20 + ["a"] * 20  # reasoning takes at most half the budget
    usage = chunks[-1].x_groq.usage
    assert usage.completion_tokens == 40 and usage.completion_tokens_details.reasoning_tokens == 20

    hidden = run(go(include_reasoning=False))
    assert not any(c.choices and c.choices[0].delta.reasoning for c in hidden)
    assert hidden[-1].x_groq.usage.completion_tokens_details.reasoning_tokens == 20


def test_groq_not_streaming(emu: EmulatorHandle) -> None:
    async def go() -> Any:
        async with clients(emu) as c:
            g = c.groq
            return await g.chat.completions.create(
                model="openai/gpt-oss-20b", messages=MESSAGES, max_tokens=30, extra_headers=fast(), extra_body={"ignore_eos": True}
            )

    completion = run(go())
    message = completion.choices[0].message
    assert message.content and message.reasoning and completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 30 and completion.usage.queue_time > 0
    assert completion.x_groq.id.startswith("req_") and completion.id.startswith("chatcmpl-")


# ---------------------------------------------------------------------------------- openai


def test_openai_stream_with_usage(emu: EmulatorHandle) -> None:
    async def go() -> tuple[list[Any], Any]:
        async with clients(emu) as c:
            o = c.openai
            stream = await o.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, stream=True, max_completion_tokens=8,
                stream_options={"include_usage": True}, extra_headers=fast(), extra_body={"ignore_eos": True},
            )  # fmt: skip
            return [chunk async for chunk in stream], stream.response.headers

    chunks, headers = run(go())
    assert headers["x-request-id"].startswith("req_") and headers["openai-version"] == "2020-10-01"
    assert int(headers["x-ratelimit-remaining-requests"]) < int(headers["x-ratelimit-limit-requests"])
    first = chunks[0]
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert first.service_tier == "default" and first.system_fingerprint.startswith("fp_")
    assert all(c.usage is None for c in chunks[:-1]) and all(c.obfuscation for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 0
    assert sum(bool(c.choices and c.choices[0].delta.content) for c in chunks) == 8


def test_openai_stream_without_usage_or_obfuscation(emu: EmulatorHandle) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            o = c.openai
            stream = await o.chat.completions.create(
                model="gpt-4-turbo", messages=MESSAGES, stream=True, max_tokens=5,
                stream_options={"include_obfuscation": False}, extra_headers=fast(),
            )  # fmt: skip
            return [chunk async for chunk in stream]

    chunks = run(go())
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.usage is None and c.obfuscation is None for c in chunks)
    assert "usage" not in chunks[1].model_fields_set


def test_openai_reasoning_is_hidden_but_counted(emu: EmulatorHandle) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            o = c.openai
            stream = await o.chat.completions.create(
                model="gpt-5-mini", messages=MESSAGES, stream=True, max_completion_tokens=60,
                stream_options={"include_usage": True}, extra_headers=fast(), extra_body={"ignore_eos": True},
            )  # fmt: skip
            return [chunk async for chunk in stream]

    chunks = run(go())
    answer = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(answer) == 30
    assert not any(c.choices and c.choices[0].delta.model_extra.get("reasoning") for c in chunks)
    assert chunks[-1].usage.completion_tokens == 60 and chunks[-1].usage.completion_tokens_details.reasoning_tokens == 30


def test_openai_reasoning_model_refuses_max_tokens(emu: EmulatorHandle) -> None:
    async def go() -> None:
        async with clients(emu) as c:
            o = c.openai
            await o.chat.completions.create(model="gpt-5.1", messages=MESSAGES, max_tokens=10, extra_headers=fast())

    with pytest.raises(openai.BadRequestError) as info:
        run(go())
    assert info.value.code == "unsupported_parameter" and info.value.param is None


def test_openai_not_streaming(emu: EmulatorHandle) -> None:
    async def go() -> Any:
        async with clients(emu) as c:
            o = c.openai
            return await o.chat.completions.create(
                model="some-local-model", messages=MESSAGES, max_tokens=7, extra_headers=fast(natural_tokens=100000)
            )

    completion = run(go())
    assert completion.object == "chat.completion" and completion.model == "some-local-model"
    assert completion.choices[0].finish_reason == "length" and len(completion.choices[0].message.content.split()) == 7
    assert completion.usage.completion_tokens == 7 and completion.usage.prompt_tokens > 0


# ------------------------------------------------------------------------------- anthropic


def test_anthropic_stream_helper(emu: EmulatorHandle) -> None:
    async def go() -> tuple[str, Any, str | None]:
        async with clients(emu) as c:
            a = c.anthropic
            async with a.messages.stream(
                model="claude-haiku-5-5", max_tokens=10, messages=MESSAGES, system="Be brief.",
                extra_headers=fast(), extra_body={"ignore_eos": True},
            ) as stream:  # fmt: skip
                text = "".join([t async for t in stream.text_stream])
                return text, await stream.get_final_message(), stream.response.headers.get("request-id")

    text, message, request_id = run(go())
    assert len(text.split()) == 10 and message.content[0].text == text
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 10
    assert message.usage.input_tokens == round((len(MESSAGES[0]["content"]) + len("Be brief.")) / 4)
    assert message.id.startswith("msg_") and request_id is not None and request_id.startswith("req_")


def test_anthropic_raw_events_with_thinking(emu: EmulatorHandle) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            a = c.anthropic
            stream = await a.messages.create(
                model="claude-sonnet-5-5", max_tokens=30, messages=MESSAGES, stream=True, extra_headers=fast(reasoning_tokens=6),
                extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}, "ignore_eos": True},
            )  # fmt: skip
            return [event async for event in stream]

    events = run(go())
    names = [e.type if e.type != "content_block_delta" else e.delta.type for e in events]
    assert names == (
        ["message_start", "content_block_start"] + ["thinking_delta"] * 6 + ["signature_delta", "content_block_stop", "content_block_start"]
        + ["text_delta"] * 24 + ["content_block_stop", "message_delta", "message_stop"]
    )  # fmt: skip
    assert events[1].content_block.type == "thinking" and events[10].content_block.type == "text" and events[10].index == 1
    assert events[0].message.usage.input_tokens > 0
    assert events[-2].usage.output_tokens == 30 and events[-2].delta.stop_reason == "max_tokens"


def test_anthropic_not_streaming_and_natural_stop(emu: EmulatorHandle) -> None:
    async def go() -> Any:
        async with clients(emu) as c:
            a = c.anthropic
            return await a.messages.create(
                model="claude-3-opus-20240229", max_tokens=200, messages=MESSAGES, extra_headers=fast(natural_tokens=3, seed=4)
            )

    message = run(go())
    assert message.stop_reason == "end_turn" and 1 <= message.usage.output_tokens < 200
    assert message.content[0].type == "text" and len(message.content[0].text.split()) == message.usage.output_tokens

    async def thinking() -> Any:
        async with clients(emu) as c:
            a = c.anthropic
            return await a.messages.create(
                model="claude-opus-5-5", max_tokens=20, messages=MESSAGES, extra_headers=fast(),
                extra_body={"thinking": {"type": "adaptive"}, "ignore_eos": True},
            )  # fmt: skip

    thought = run(thinking())
    assert [block.type for block in thought.content] == ["thinking", "text"]
    assert thought.content[0].thinking and thought.content[0].signature and thought.usage.output_tokens == 20


def test_anthropic_requires_max_tokens_and_accepts_x_api_key(emu: EmulatorHandle) -> None:
    body = {"model": "claude-opus-5-5", "messages": MESSAGES}
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01", **fast()}
    with httpx.Client(base_url=emu.base_url) as http:
        refused = http.post("/v1/messages", json=body, headers=headers)
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
        assert refused.json()["request_id"] == refused.headers["request-id"]
        answered = http.post("/v1/messages", json={**body, "max_tokens": 4}, headers=headers)
        assert answered.status_code == 200 and answered.json()["usage"]["output_tokens"] <= 4


# ---------------------------------------------------------------------------------- models


def test_models_endpoints_through_each_sdk(emu: EmulatorHandle) -> None:
    async def go() -> tuple[Any, ...]:
        async with clients(emu) as c:
            g = c.groq
            o = c.openai
            a = c.anthropic
            groq_models = await g.models.list()
            one = await g.models.retrieve("openai/gpt-oss-120b")
            openai_ids = [m.id async for m in o.models.list()]
            claude = [m async for m in a.models.list()]
            opus = await a.models.retrieve("claude-opus-5-5")
            with pytest.raises(openai.NotFoundError):
                await o.models.retrieve("gpt-nonexistent")
            return groq_models, one, openai_ids, claude, opus

    groq_models, one, openai_ids, claude, opus = run(go())
    by_id = {m.id: m for m in groq_models.data}
    assert by_id["openai/gpt-oss-120b"].model_extra["active"] is True
    assert by_id["openai/gpt-oss-120b"].model_extra["context_window"] == 131072
    assert by_id["llama-3.1-70b-versatile"].model_extra["active"] is False  # served, not active
    assert one.id == "openai/gpt-oss-120b" and one.owned_by == "OpenAI"
    assert {"gpt-4-turbo", "gpt-5.1", "gpt-5-mini"} <= set(openai_ids)
    assert {m.id for m in claude} >= {"claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"}
    assert {m.id: m.lifecycle for m in claude}["claude-3-opus-20240229"] == "retired"
    assert opus.display_name == "Claude Opus 5.5" and opus.type == "model"


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


async def _each_sdk(emu: EmulatorHandle, headers: dict[str, str], stream: bool, **options: Any) -> list[tuple[BaseException | None, int]]:
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
            lambda: a.messages.create(model="claude-haiku-5-5", messages=MESSAGES, stream=stream, max_tokens=30, extra_headers=headers),
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


# ------------------------------------------------------------------ timing, log, determinism


def test_timing_and_chunk_log(emu: EmulatorHandle, chunk_log: Path) -> None:
    """Loose bounds (a busy CI box), but tight enough to catch a wrong unit or a drift."""

    async def go() -> list[tuple[str, float, float, int]]:
        results = []
        async with clients(emu) as c:
            o = c.openai
            for _ in range(3):  # the first one also warms the connection and the SDK up
                start = time.perf_counter()
                stream = await o.chat.completions.create(
                    model="gpt-4.1", messages=MESSAGES, stream=True, max_completion_tokens=40,
                    extra_headers={"x-bench-emulator": json.dumps({"ttft_ms": 50, "tokens_per_s": 200, "jitter": 0})},
                    extra_body={"ignore_eos": True},
                )  # fmt: skip
                stamps, request_id = [], ""
                async for chunk in stream:
                    request_id = chunk.id
                    if chunk.choices and chunk.choices[0].delta.content:
                        stamps.append(time.perf_counter())
                ttft_ms = (stamps[0] - start) * 1000
                rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
                results.append((request_id, ttft_ms, rate, len(stamps)))
        return results

    results = run(go())
    for _, ttft_ms, rate, n in results[1:]:
        assert 40 <= ttft_ms <= 150 and 140 <= rate <= 280 and n == 40
    entries = log_entries(chunk_log, {r[0] for r in results})
    assert set(entries) == {r[0] for r in results}
    for request_id, _, _, n in results:
        entry = entries[request_id]
        assert entry["n_content_chunks"] == n == len(entry["chunk_ns"]) and entry["output_tokens"] == 40
        assert entry["dialect"] == "openai" and entry["model"] == "gpt-4.1" and entry["completed"]
        assert entry["received_ns"] < entry["headers_sent_ns"] < entry["first_content_ns"] <= entry["last_content_ns"]
        server_ttft_ms = (entry["first_content_ns"] - entry["received_ns"]) / 1e6
        server_rate = (n - 1) / ((entry["last_content_ns"] - entry["first_content_ns"]) / 1e9)
        assert 49 <= server_ttft_ms <= 100 and 150 <= server_rate <= 205
    assert all(isinstance(t, int) for t in entries[results[0][0]]["chunk_ns"])
    # The same clock as ours: the server read each request after we started it.
    assert entries[results[-1][0]]["received_ns"] < time.perf_counter_ns()


def test_log_joins_every_dialect_by_the_id_the_client_sees(emu: EmulatorHandle, chunk_log: Path) -> None:
    async def go() -> set[str]:
        async with clients(emu) as c:
            g = c.groq
            o = c.openai
            a = c.anthropic
            ids = {(await g.chat.completions.create(model="openai/gpt-oss-20b", messages=MESSAGES, max_tokens=4, extra_headers=fast())).id}
            ids.add((await o.chat.completions.create(model="gpt-4.1", messages=MESSAGES, max_completion_tokens=4, extra_headers=fast())).id)
            ids.add((await a.messages.create(model="claude-opus-5-5", messages=MESSAGES, max_tokens=4, extra_headers=fast())).id)
            return ids

    ids = run(go())
    entries = log_entries(chunk_log, ids)
    assert {e["dialect"] for e in entries.values()} == {"groq", "openai", "anthropic"}
    assert all(e["stream"] is False and e["completed"] and e["retry_count"] == 0 for e in entries.values())


def test_seeded_requests_repeat(emu: EmulatorHandle) -> None:
    async def text(seed: int) -> tuple[str, int]:
        async with clients(emu) as c:
            g = c.groq
            completion = await g.chat.completions.create(
                model="llama-3.3-70b-versatile", messages=MESSAGES, max_tokens=300, extra_headers=fast(seed=seed, natural_tokens=40)
            )
            return completion.choices[0].message.content or "", completion.usage.completion_tokens

    first, again, other = run(text(123)), run(text(123)), run(text(124))
    assert first == again and first != other
    assert len(first[0].split()) == first[1]


def test_server_seed_makes_unseeded_runs_repeat() -> None:
    async def texts(seed: int) -> list[str]:
        server = EmulatorServer(ServerConfig(seed=seed))
        base = f"http://127.0.0.1:{await server.start()}/v1"
        try:
            async with sdk_clients(lambda _: base) as c:
                o = c.openai
                out = []
                for _ in range(2):
                    completion = await o.chat.completions.create(
                        model="gpt-4.1", messages=MESSAGES, max_completion_tokens=6, extra_headers=fast()
                    )
                    out.append(completion.choices[0].message.content or "")
                return out
        finally:
            await server.close()

    first = run(texts(5))
    assert run(texts(5)) == first and run(texts(6)) != first and first[0] != first[1]


# --------------------------------------------------------------------------- HTTP details


def _raw(port: int, payload: bytes) -> bytes:
    """Send raw bytes; everything the server sends back until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        while part := sock.recv(65536):
            data += part
        return data


def _post(path: str, body: bytes, headers: str = "", close: bool = True) -> bytes:
    connection = "connection: close\r\n" if close else ""
    return f"POST {path} HTTP/1.1\r\nhost: x\r\n{headers}{connection}content-length: {len(body)}\r\n\r\n".encode() + body


def test_keep_alive_and_chunked_framing(emu: EmulatorHandle) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": True, "max_completion_tokens": 3}).encode()
    header = f"x-bench-emulator: {fast()['x-bench-emulator']}\r\n"
    two = _post("/v1/chat/completions", body, header, close=False) + _post("/v1/chat/completions", body, header)
    data = _raw(emu.port, two)
    assert data.count(b"HTTP/1.1 200 OK") == 2 and data.count(b"data: [DONE]") == 2
    assert b"transfer-encoding: chunked" in data and data.endswith(b"0\r\n\r\n")
    assert b"connection: keep-alive" in data and b"connection: close" in data


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        (b"NONSENSE\r\n\r\n", 400, b"bad request line"),
        (b"POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 411, b"Content-Length"),
        (_post("/v1/chat/completions", b"{not json"), 400, b"could not parse"),
        (_post("/v1/chat/completions", b"[]"), 400, b"JSON object"),
        (_post("/v1/chat/completions", b'{"messages": []}'), 400, b"model parameter"),
        (_post("/v1/chat/completions", b'{"model": "m"}'), 400, b"at least one message"),
        (_post("/v1/chat/completions", b'{"model": "m", "messages": [{}], "max_tokens": 0}'), 400, b"max_tokens"),
        (_post("/v1/chat/completions", b'{"model": "m", "messages": [{}], "stream_options": 1}'), 400, b"stream_options"),
        (_post("/v1/messages", b'{"messages": [{}], "max_tokens": 5}'), 400, b"model: Field required"),
        (_post("/v1/messages", b'{"model": "m", "max_tokens": 5}'), 400, b"messages: Field required"),
        (_post("/v1/messages", b'{"model": "m", "max_tokens": 5, "messages": [{}], "thinking": {"type": "enabled"}}'), 400, b"budget"),
        (_post("/v1/chat/completions", b"{}", "x-bench-emulator: {bad\r\n"), 400, b"x-bench-emulator"),
        (_post("/v1/chat/completions", b"{}", 'x-bench-emulator: {"speed": 1}\r\n'), 400, b"unknown key"),
        (_post("/v1/chat/completions", b"{}", "x-bench-fault: meteor\r\n"), 400, b"unknown fault kind"),
        (_post("/v2/whatever", b"{}"), 404, b"Invalid URL"),
        (_post("/v1/models", b"{}"), 405, b"not allowed"),
        (b"GET /v1/chat/completions HTTP/1.1\r\nconnection: close\r\n\r\n", 405, b"not allowed"),
        (b"GET /nothing HTTP/1.1\r\nanthropic-version: 1\r\nconnection: close\r\n\r\n", 404, b"not_found_error"),
        (b"GET /openai/v1/models/nope HTTP/1.1\r\nconnection: close\r\n\r\n", 404, b"model_not_found"),
        (b"GET /v1/models HTTP/1.1\r\nx-bench-fault: auth\r\nconnection: close\r\n\r\n", 401, b"invalid_api_key"),
    ],
)
def test_bad_requests_get_provider_shaped_errors(emu: EmulatorHandle, payload: bytes, status: int, needle: bytes) -> None:
    data = _raw(emu.port, payload)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:200]
    assert needle in data


def test_client_going_away_mid_stream_is_logged(emu: EmulatorHandle, chunk_log: Path) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": True, "max_completion_tokens": 400, "ignore_eos": True}).encode()
    override = json.dumps({"ttft_ms": 5, "tokens_per_s": 400, "jitter": 0, "seed": 777001})
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(_post("/v1/chat/completions", body, f"x-bench-emulator: {override}\r\n"))
        seen = b""
        while seen.count(b"data: ") < 5:
            seen += sock.recv(65536)
    deadline = time.monotonic() + 5
    entry = None
    while entry is None and time.monotonic() < deadline:
        entry = next((json.loads(x) for x in chunk_log.read_text().splitlines() if '"seed":777001' in x), None)
        time.sleep(0.05)
    assert entry is not None and not entry["completed"] and 1 <= entry["output_tokens"] < 400
    assert entry["end_ns"] - entry["received_ns"] < 0.9e9  # it stopped, it did not stream for a second


def test_strict_models_answer_like_the_real_apis() -> None:
    async def go(emu: EmulatorHandle) -> None:
        async with clients(emu) as c:
            g = c.groq
            o = c.openai
            a = c.anthropic
            with pytest.raises(groq.BadRequestError) as retired:
                await g.chat.completions.create(model="llama3-8b-8192", messages=MESSAGES, max_tokens=3)
            assert "decommissioned" in str(retired.value)
            with pytest.raises(openai.NotFoundError):
                await o.chat.completions.create(model="gpt-3", messages=MESSAGES, max_tokens=3)
            with pytest.raises(anthropic.BadRequestError):
                await a.messages.create(model="claude-3-opus-20240229", messages=MESSAGES, max_tokens=3)
            listed = {m.id for m in (await g.models.list()).data}
            assert "openai/gpt-oss-120b" in listed and "llama3-8b-8192" not in listed
            ok = await a.messages.create(model="claude-haiku-5-5", messages=MESSAGES, max_tokens=2, extra_headers=fast())
            assert ok.usage.output_tokens <= 2

    with start_emulator(strict_models=True) as strict:
        run(go(strict))


def test_a_bug_in_one_request_does_not_stop_the_server(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def get(self, provider: str, model: str) -> None:
            raise RuntimeError("catalogue exploded")

        def default_profile(self, provider: str) -> None:
            raise RuntimeError("catalogue exploded")

        def models(self, provider: str | None = None) -> list[Any]:
            return []

    async def go() -> None:
        server = EmulatorServer(ServerConfig(), catalogue=Broken())  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{await server.start()}/v1"
        try:
            async with sdk_clients(lambda _: base) as c:
                o = c.openai
                with pytest.raises(openai.APIConnectionError):
                    await o.chat.completions.create(model="gpt-4.1", messages=MESSAGES, max_completion_tokens=2)
                assert [m async for m in o.models.list()] == []  # still serving
        finally:
            await server.close()
            await server.close()  # twice is fine

    run(go())
    assert "emulator bug" in caplog.text and "catalogue exploded" in caplog.text


def _find(chunk_log: Path, seed: int, timeout_s: float = 5.0) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in chunk_log.read_text().splitlines():
            if f'"seed":{seed},' in line:
                return json.loads(line)
        time.sleep(0.05)
    return None


def test_stall_ends_when_bounded_and_odd_headers_are_tolerated(emu: EmulatorHandle, chunk_log: Path) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": True, "max_completion_tokens": 5}).encode()
    override = json.dumps({"ttft_ms": 1, "stall_s": 0.3, "seed": 777002})
    headers = f"x-bench-emulator: {override}\r\nx-bench-fault: timeout\r\nx-stainless-retry-count: x\r\n"
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(_post("/v1/chat/completions", body, headers, close=False))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        sock.sendall(b"ignored while stalled")
        while sock.recv(65536):
            pass  # the server closes the connection when the stall ends
    assert 0.25 < time.monotonic() - start < 3
    entry = _find(chunk_log, 777002)
    assert entry is not None and entry["fault"] == "timeout" and entry["retry_count"] is None and entry["chunk_ns"] == []


def test_client_leaving_before_the_first_byte(emu: EmulatorHandle, chunk_log: Path) -> None:
    for stream, seed in ((True, 777003), (False, 777004)):
        body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "stream": stream, "max_completion_tokens": 5}).encode()
        override = json.dumps({"ttft_ms": 200, "jitter": 0, "seed": seed})
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
            sock.sendall(_post("/v1/chat/completions", body, f"x-bench-emulator: {override}\r\n"))
        entry = _find(chunk_log, seed)
        assert entry is not None and entry["headers_sent_ns"] is None and not entry["completed"]


# ----------------------------------------------------------------------- process handling


def test_handle_urls_and_stop(emu: EmulatorHandle) -> None:
    assert emu.base_url == f"http://127.0.0.1:{emu.port}"
    assert emu.provider_base_url("groq") == emu.base_url == emu.provider_base_url("anthropic")
    assert emu.provider_base_url("openai") == emu.provider_base_url("openai-compatible") == emu.base_url + "/v1"
    with pytest.raises(ValueError, match="unknown provider"):
        emu.provider_base_url("mistral")
    assert emu.running and emu.pid > 0


def test_start_failure_is_reported(emu: EmulatorHandle) -> None:
    with pytest.raises(EmulatorError, match="did not start"):
        start_emulator(port=emu.port)  # taken


def test_stop_kills_what_ignores_sigterm_and_passes_stderr_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.emulator.handle import _cleanup, _terminate

    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 30"])
    time.sleep(0.1)
    start = time.monotonic()
    _terminate(stubborn, timeout_s=0.2)
    assert stubborn.returncode == -signal.SIGKILL and time.monotonic() - start < 5

    (tmp_path / "stderr").write_text("Traceback: emulator bug\n")
    _cleanup(subprocess.Popen(["true"]), str(tmp_path))
    assert "emulator bug" in capsys.readouterr().err and not tmp_path.exists()
    _cleanup(subprocess.Popen(["true"]), str(tmp_path / "never-made"))  # nothing to pass on
    assert capsys.readouterr().err == ""


def test_cli_banner_and_clean_exit_on_signals(tmp_path: Path) -> None:
    for signum in (signal.SIGINT,):  # SIGTERM: every handle.stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator", "--port", "0", "--strict-models"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("bench emulator listening on http://127.0.0.1:")
        port = int(banner.rsplit(":", 1)[1])
        assert b"200 OK" in _raw(port, b"GET /v1/models HTTP/1.1\r\nconnection: close\r\n\r\n")
        with httpx.Client() as idle:  # a kept-alive connection, idle when the signal comes
            idle.get(f"http://127.0.0.1:{port}/v1/models").raise_for_status()
            slow = socket.create_connection(("127.0.0.1", port))  # and a request in flight
            body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
            slow.sendall(_post("/v1/chat/completions", body, 'x-bench-emulator: {"ttft_ms": 60000}\r\n'))
            time.sleep(0.2)
            process.send_signal(signum)
            _, err = process.communicate(timeout=10)
            slow.close()
        assert process.returncode == 0 and "Traceback" not in err and "Exception" not in err, err


def test_exits_with_its_parent(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    script = f"{sys.executable} -m bench.emulator --port 0 --port-file {port_file} --parent-pid $$ >/dev/null 2>&1 & echo $!"
    parent = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20, check=True)
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
            return stat.read().split(")")[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_every_fault_kind_is_accepted_by_the_header(emu: EmulatorHandle) -> None:
    payload = json.dumps({"faults": {kind: 0.0 for kind in FAULT_KINDS}, "ttft_ms": 1, "tokens_per_s": 5000})
    body = json.dumps({"model": "gpt-4.1", "messages": MESSAGES, "max_completion_tokens": 2}).encode()
    assert _raw(emu.port, _post("/v1/chat/completions", body, f"x-bench-emulator: {payload}\r\n")).startswith(b"HTTP/1.1 200 OK")
