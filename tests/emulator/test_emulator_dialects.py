"""The emulator's three dialects (Groq, OpenAI, Anthropic) and its models endpoints, through the
unmodified official SDKs over real loopback HTTP (no mocks). One emulator serves the session
(``emu`` in conftest.py); requests ask for a fast profile through ``x-bench-emulator``.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from bench.emulator import EmulatorHandle
from tests.emulator_clients import (
    MESSAGES,
    clients,
    fast,
    run,
)

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
                model="openai/gpt-oss-20b",
                messages=MESSAGES,
                max_tokens=30,
                extra_headers=fast(),
                extra_body={"ignore_eos": True},
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
