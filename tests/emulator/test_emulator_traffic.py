"""Traffic shaped like real use, through the unmodified SDKs: prefill time that grows with the
prompt, the prompt cache in each provider's usage shape, and streamed tool calls.

Timing is checked on the emulator's own plan (the chunk log's ``prefill_ns``, exact arithmetic)
and, where the wall clock is read, only as a lower bound a busy machine cannot break.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import anthropic
import groq
import openai
import pytest

from bench.emulator import EmulatorHandle
from bench.emulator.profiles import Profile, plan_response, prompt_tokens
from bench.emulator.prompt_cache import BLOCK_CHARS, BLOCK_TOKENS, PrefixHasher, PromptCache
from tests.emulator_clients import clients, log_entries, run

PREFIX = "".join(random.Random(5).choice("abcdefgh ") for _ in range(8000))  # 2,000 tokens, shared
PREFILL = 20_000.0
SPEEDUP = 4.0
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather at a place",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "days", "unit"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def profile(**more: Any) -> dict[str, str]:
    payload = {"ttft_ms": 5, "tokens_per_s": 4000, "jitter": 0, "prefill_tokens_per_s": PREFILL, "cache_speedup": SPEEDUP}
    return {"x-bench-emulator": json.dumps({**payload, **more})}


def chat(suffix: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": PREFIX}, {"role": "user", "content": suffix}]


def expected_prefill_ns(prompt: int, cached: int) -> int:
    return round(((prompt - cached) + cached / SPEEDUP) / PREFILL * 1e9)


# ------------------------------------------------------------------------------ prefill


def test_prefill_delays_the_first_token_by_the_prompt_length() -> None:
    """Same seed, same draws: the first token moves by exactly the prefill time, the headers and
    everything after the first token's own gap do not."""
    base = Profile(ttft_ms=80, tokens_per_s=500, jitter=0.3, reasoning=False, reasoning_tokens=0)
    slow = Profile(**{**base.__dict__, "prefill_tokens_per_s": 10_000})
    assert slow.prefill_s(2000, 0) == pytest.approx(0.2) and base.prefill_s(2000, 0) == 0
    assert slow.prefill_s(2000, 1000) == pytest.approx((1000 + 1000 / 5) / 10_000)  # default speed-up 5
    args = {"budget": 32, "ignore_eos": True, "think": False, "stream_reasoning": True}
    plain = plan_response(base, random.Random(3), **args)  # type: ignore[arg-type]
    longer = plan_response(slow, random.Random(3), **args, prefill_s=slow.prefill_s(2000, 0))  # type: ignore[arg-type]
    assert longer.texts == plain.texts and longer.ttfb_s == plain.ttfb_s
    assert [b - a for a, b in zip(plain.offsets_s, longer.offsets_s, strict=True)] == pytest.approx([0.2] * 32)


def test_prefill_and_usage_agree_on_the_prompt(emu: EmulatorHandle, chunk_log: Path) -> None:
    async def go() -> tuple[list[Any], Any, Any]:
        async with clients(emu) as c:
            replies = []
            for n in (400, 4000):
                text = "".join(random.Random(n).choice("xyz ") for _ in range(n))
                replies.append(
                    await c.openai.chat.completions.create(
                        model="gpt-4.1", messages=[{"role": "user", "content": text}], max_completion_tokens=2,
                        extra_headers=profile(prefill_tokens_per_s=5000),
                    )
                )  # fmt: skip
            g = await c.groq.chat.completions.create(
                model="openai/gpt-oss-20b", messages=[{"role": "user", "content": "q" * 4000}], max_tokens=2,
                extra_headers=profile(prefill_tokens_per_s=5000),
            )  # fmt: skip
            a = await c.anthropic.messages.create(
                model="claude-haiku-5-5", system="s" * 2000, messages=[{"role": "user", "content": "q" * 2000}],
                max_tokens=2, extra_headers=profile(prefill_tokens_per_s=5000),
            )  # fmt: skip
            return replies, g, a

    replies, g, a = run(go())
    assert [r.usage.prompt_tokens for r in replies] == [100, 1000]
    entries = log_entries(chunk_log, {r.id for r in replies} | {g.id, a.id})
    for reply in replies:
        entry = entries[reply.id]
        assert entry["prompt_tokens"] == reply.usage.prompt_tokens
        assert entry["prefill_ns"] == round(reply.usage.prompt_tokens / 5000 * 1e9)
        # A lower bound only: the answer cannot come before the prompt was read.
        assert entry["headers_sent_ns"] - entry["received_ns"] >= entry["prefill_ns"]
    assert g.usage.prompt_tokens == 1000 and g.usage.prompt_time == pytest.approx(1000 / 5000)
    assert a.usage.input_tokens == 1000 and entries[a.id]["prefill_ns"] == round(1000 / 5000 * 1e9)


# ------------------------------------------------------------------------------ prompt cache


def test_openai_reports_cached_tokens_from_the_second_request_on(emu: EmulatorHandle, chunk_log: Path) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            out = []
            for suffix in ("first question", "second question", "third"):
                stream = await c.openai.chat.completions.create(
                    model="gpt-4.1-mini", messages=chat(suffix), stream=True, max_completion_tokens=3,
                    stream_options={"include_usage": True}, extra_headers=profile(),
                )  # fmt: skip
                out.append([chunk async for chunk in stream][-1])
            return out

    last = run(go())
    cached = [chunk.usage.prompt_tokens_details.cached_tokens for chunk in last]
    whole_blocks = len(PREFIX) // BLOCK_CHARS * BLOCK_TOKENS  # the blocks before the prompts differ
    assert cached == [0, whole_blocks, whole_blocks] and whole_blocks == 1920
    entries = log_entries(chunk_log, {chunk.id for chunk in last})
    for chunk, n in zip(last, cached, strict=True):
        assert chunk.usage.prompt_tokens == prompt_tokens(len(PREFIX) + len(chunk_suffix(chunk, last)))
        assert entries[chunk.id]["cached_tokens"] == n
        assert entries[chunk.id]["prefill_ns"] == expected_prefill_ns(chunk.usage.prompt_tokens, n)
    cold, warm = (entries[last[i].id]["prefill_ns"] for i in (0, 1))
    assert cold > 2.5 * warm  # prefill dominated by the cached prefix, read four times faster


def chunk_suffix(chunk: Any, chunks: list[Any]) -> str:
    return ("first question", "second question", "third")[chunks.index(chunk)]


def test_groq_reports_cached_tokens_only_when_some_were_cached(emu: EmulatorHandle) -> None:
    async def go() -> list[Any]:
        async with clients(emu) as c:
            out = []
            for model, suffix in (("openai/gpt-oss-120b", "a"), ("openai/gpt-oss-120b", "b"), ("openai/gpt-oss-20b", "b")):
                stream = await c.groq.chat.completions.create(
                    model=model, messages=chat(suffix), stream=True, max_tokens=3, extra_headers=profile()
                )
                out.append([chunk async for chunk in stream][-1].x_groq.usage)
            return out

    cold, warm, other_model = run(go())
    assert cold.prompt_tokens_details is None and other_model.prompt_tokens_details is None  # a cache per model
    assert warm.prompt_tokens_details.cached_tokens == 1920
    assert warm.prompt_time == pytest.approx(((warm.prompt_tokens - 1920) + 1920 / SPEEDUP) / PREFILL)


def test_anthropic_caches_at_cache_control_and_reports_reads_and_writes(emu: EmulatorHandle) -> None:
    def system(ttl: str | None = None) -> list[dict[str, Any]]:
        mark = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
        return [{"type": "text", "text": PREFIX, "cache_control": mark}]

    cases = [
        ("claude-haiku-5-5", PREFIX, "no mark"),  # nothing marked: nothing cached
        ("claude-haiku-5-5", system(), "first"),
        ("claude-haiku-5-5", system(), "second"),
        ("claude-sonnet-5-5", system("1h"), "first"),
    ]

    async def go() -> list[Any]:
        async with clients(emu) as c:
            out = []
            for model, sys_, question in cases:
                async with c.anthropic.messages.stream(
                    model=model, system=sys_, messages=[{"role": "user", "content": question}], max_tokens=3,
                    extra_headers=profile(),
                ) as stream:  # fmt: skip
                    out.append((await stream.get_final_message()).usage)
            return out

    usages = run(go())
    for usage, (_, _, question) in zip(usages, cases, strict=True):  # the parts add up to the estimate
        parts = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        assert parts == prompt_tokens(len(PREFIX) + len(question))
    plain, write, read, hour = usages
    assert (plain.cache_read_input_tokens, plain.cache_creation_input_tokens) == (0, 0)
    assert (write.cache_read_input_tokens, write.cache_creation_input_tokens) == (0, 2000)
    assert write.cache_creation.ephemeral_5m_input_tokens == 2000 and write.cache_creation.ephemeral_1h_input_tokens == 0
    assert (read.cache_read_input_tokens, read.cache_creation_input_tokens) == (2000, 0)
    assert read.input_tokens == prompt_tokens(len(PREFIX) + len("second")) - 2000
    assert hour.cache_creation.ephemeral_1h_input_tokens == 2000  # another model: its own cache


def test_anthropic_conversation_reads_the_previous_turn_through_the_look_back(emu: EmulatorHandle) -> None:
    """Turn 2 marks its last message; the prefix turn 1 marked is found by looking back."""

    def turn(*messages: tuple[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"role": r, "content": [{"type": "text", "text": t}]} for r, t in messages]
        out[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
        return out

    async def go() -> list[Any]:
        async with clients(emu) as c:
            usages = []
            for messages in (turn(("user", PREFIX)), turn(("user", PREFIX), ("assistant", "ok " * 100), ("user", "go on"))):
                reply = await c.anthropic.messages.create(
                    model="claude-opus-5-5", messages=messages, max_tokens=2, extra_headers=profile()
                )
                usages.append(reply.usage)
            return usages

    first, second = run(go())
    assert first.cache_creation_input_tokens == 2000 and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == 2000
    assert second.cache_creation_input_tokens == prompt_tokens(len(PREFIX) + 300 + 5) - 2000


def test_cache_knobs_hit_rate_and_minimum(emu: EmulatorHandle) -> None:
    async def go() -> list[int]:
        async with clients(emu) as c:
            cached = []
            for suffix, more in (("x", {}), ("y", {"cache_hit_rate": 0}), ("z", {"cache_min_tokens": 4096})):
                reply = await c.openai.chat.completions.create(
                    model="gpt-4o", messages=chat(suffix), max_completion_tokens=2, extra_headers=profile(**more)
                )
                cached.append(reply.usage.prompt_tokens_details.cached_tokens)
            return cached

    assert run(go()) == [0, 0, 0]  # cold; a miss by the hit rate; a prefix under the minimum


def test_prompt_cache_rules() -> None:
    def shape(*pieces: tuple[str, str], marks: tuple[int, ...] = ()) -> Any:
        hasher = PrefixHasher()
        for i, (kind, text) in enumerate(pieces):
            hasher.kind(kind)
            hasher.text(text)
            hasher.end_block({"type": "ephemeral"} if i in marks else None)
        return hasher.shape()

    cache = PromptCache(max_entries=1000)
    scope = ("openai", "m")
    long = "a" * 6000  # 1,500 tokens: 11 whole blocks
    assert cache.automatic(scope, shape(("user", long)), hit=True, min_tokens=1024).read == 0
    assert cache.automatic(scope, shape(("user", long + "b")), hit=True, min_tokens=1024).read == 11 * 128
    assert cache.automatic(scope, shape(("system", long)), hit=True, min_tokens=1024).read == 0  # another role: another prefix
    assert cache.automatic(("openai", "n"), shape(("user", long)), hit=True, min_tokens=1024).read == 0  # another model
    assert cache.automatic(scope, shape(("user", "a" * 3000)), hit=True, min_tokens=1024).read == 0  # under the minimum
    marked = shape(("system", long), ("user", "q"), marks=(0,))
    assert cache.explicit(("anthropic", "m"), marked, hit=True, min_tokens=1024).written == 1500
    again = cache.explicit(("anthropic", "m"), marked, hit=True, min_tokens=1024)
    assert (again.read, again.written) == (1500, 0)
    assert cache.explicit(("anthropic", "m"), marked, hit=False, min_tokens=1024).read == 0
    small = PromptCache(max_entries=3)
    for i in range(5):
        small.automatic(scope, shape(("user", str(i) * 2048)), hit=True, min_tokens=128)
    assert len(small) == 3  # least recently used evicted


def test_more_than_four_cache_marks_is_refused(emu: EmulatorHandle) -> None:
    async def go() -> None:
        blocks = [{"type": "text", "text": f"b{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
        async with clients(emu) as c:
            with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
                await c.anthropic.messages.create(
                    model="claude-haiku-5-5",
                    messages=[{"role": "user", "content": blocks}],
                    max_tokens=2,
                    extra_headers=profile(),
                )

    run(go())


# ------------------------------------------------------------------------------ tool calls


def _accumulate(chunks: list[Any]) -> tuple[dict[str, Any], list[str], str | None]:
    """OpenAI/Groq tool-call deltas joined as a client does: id/name, argument fragments."""
    call: dict[str, Any] = {}
    fragments: list[str] = []
    finish = None
    for chunk in chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            assert delta.index == 0
            if delta.id:
                call.update(id=delta.id, name=delta.function.name, type=delta.type)
            elif delta.function and delta.function.arguments is not None:
                fragments.append(delta.function.arguments)
        assert not choice.delta.content
    return call, fragments, finish


def test_openai_streams_tool_call_arguments(emu: EmulatorHandle, chunk_log: Path) -> None:
    async def go() -> tuple[list[Any], Any]:
        async with clients(emu) as c:
            stream = await c.openai.chat.completions.create(
                model="gpt-4.1", messages=chat("weather?"), tools=[CLOCK, WEATHER], stream=True,
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
                max_completion_tokens=200, stream_options={"include_usage": True}, extra_headers=profile(natural_tokens=12),
            )  # fmt: skip
            chunks = [chunk async for chunk in stream]
            async with c.openai.chat.completions.stream(
                model="gpt-4.1", messages=chat("weather?"), tools=[WEATHER], tool_choice="required",
                max_completion_tokens=200, extra_headers=profile(natural_tokens=12),
            ) as helper:  # fmt: skip
                final = await helper.get_final_completion()
            return chunks, final

    chunks, final = run(go())
    call, fragments, finish = _accumulate(chunks)
    assert call["name"] == "get_weather" and call["id"].startswith("call_") and call["type"] == "function"
    assert finish == "tool_calls"
    arguments = json.loads("".join(fragments))
    assert arguments["days"] == 1 and arguments["unit"] == "c" and isinstance(arguments["city"], str)
    assert len(fragments) == chunks[-1].usage.completion_tokens  # one fragment per output token
    entry = log_entries(chunk_log, {chunks[0].id})[chunks[0].id]
    assert entry["tool"] == "get_weather" and entry["n_content_chunks"] == len(fragments)
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls" and message.content is None
    assert json.loads(message.tool_calls[0].function.arguments)["days"] == 1


def test_groq_streams_tool_calls_after_its_reasoning(emu: EmulatorHandle) -> None:
    async def go() -> tuple[list[Any], Any]:
        async with clients(emu) as c:
            stream = await c.groq.chat.completions.create(
                model="openai/gpt-oss-120b", messages=chat("weather?"), tools=[WEATHER], stream=True,  # type: ignore[list-item]
                max_tokens=300, extra_headers=profile(natural_tokens=8),
            )  # fmt: skip
            chunks = [chunk async for chunk in stream]
            whole = await c.groq.chat.completions.create(
                model="openai/gpt-oss-120b", messages=chat("weather?"), tools=[WEATHER], max_tokens=300,  # type: ignore[list-item]
                extra_headers=profile(natural_tokens=8),
            )  # fmt: skip
            return chunks, whole

    chunks, whole = run(go())
    reasoning = [i for i, c in enumerate(chunks) if c.choices and getattr(c.choices[0].delta, "reasoning", None)]
    tools = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.tool_calls]
    assert reasoning and tools and max(reasoning) < min(tools)
    call, fragments, finish = _accumulate(chunks)
    assert call["name"] == "get_weather" and finish == "tool_calls"
    assert json.loads("".join(fragments))["unit"] == "c"
    assert (
        whole.choices[0].finish_reason == "tool_calls" and whole.choices[0].message.tool_calls[0].function.name == "get_weather"
    )


def test_anthropic_streams_tool_use_with_input_json_deltas(emu: EmulatorHandle) -> None:
    tool = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}  # type: ignore[index]

    async def go() -> tuple[list[Any], Any, Any]:
        async with clients(emu) as c:
            a = c.anthropic
            async with a.messages.stream(
                model="claude-opus-5-5", messages=[{"role": "user", "content": "weather?"}], max_tokens=300,
                tools=[tool], tool_choice={"type": "any"}, thinking={"type": "enabled", "budget_tokens": 100},  # type: ignore[list-item]
                extra_headers=profile(natural_tokens=10),
            ) as stream:  # fmt: skip
                events = [event async for event in stream]
                final = await stream.get_final_message()
            whole = await a.messages.create(
                model="claude-haiku-5-5", messages=[{"role": "user", "content": "weather?"}], max_tokens=300,
                tools=[tool], tool_choice={"type": "tool", "name": "get_weather"}, extra_headers=profile(natural_tokens=10),  # type: ignore[list-item]
            )  # fmt: skip
            return events, final, whole

    events, final, whole = run(go())
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "tool_use"] and final.stop_reason == "tool_use"
    use = final.content[1]
    assert use.name == "get_weather" and use.id.startswith("toolu_") and use.input["days"] == 1
    deltas = [e for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert len(deltas) == final.usage.output_tokens - sum(
        1 for e in events if e.type == "content_block_delta" and e.delta.type == "thinking_delta"
    )
    assert json.loads("".join(d.delta.partial_json for d in deltas)) == use.input
    assert whole.stop_reason == "tool_use" and whole.content[0].type == "tool_use"
    assert whole.content[0].input["days"] == 1 and whole.content[0].input["unit"] == "c"


def test_tool_choice_none_auto_share_and_a_cut_call(emu: EmulatorHandle) -> None:
    async def go() -> tuple[Any, Any, Any, Any]:
        async with clients(emu) as c:
            o = c.openai
            none = await o.chat.completions.create(
                model="gpt-4.1", messages=chat("hi"), tools=[WEATHER], tool_choice="none", max_completion_tokens=5,
                extra_headers=profile(),
            )  # fmt: skip
            never = await o.chat.completions.create(
                model="gpt-4.1", messages=chat("hi"), tools=[WEATHER], max_completion_tokens=5,
                extra_headers=profile(tool_call_share=0),
            )  # fmt: skip
            cut = await o.chat.completions.create(
                model="gpt-4.1", messages=chat("hi"), tools=[WEATHER], tool_choice="required", max_completion_tokens=4,
                extra_body={"ignore_eos": True}, extra_headers=profile(),
            )  # fmt: skip
            a = await c.anthropic.messages.create(
                model="claude-haiku-5-5", messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                tools=[{"name": "t", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
                tool_choice={"type": "any"}, extra_body={"ignore_eos": True}, extra_headers=profile(),
            )  # fmt: skip
            return none, never, cut, a

    none, never, cut, a = run(go())
    for reply in (none, never):
        assert reply.choices[0].message.tool_calls is None and reply.choices[0].message.content
    assert cut.choices[0].finish_reason == "length"
    arguments = cut.choices[0].message.tool_calls[0].function.arguments
    assert arguments.startswith('{"city":"') and not arguments.endswith("}")  # cut by the budget, unclosed
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)
    assert a.stop_reason == "max_tokens" and a.content[0].type == "tool_use" and len(a.content[0].input["q"].split()) == 4


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"tool_choice": "required"}, "only allowed when 'tools' are specified"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "'nope'"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": "x"}, "'tools'"),
    ],
)
def test_bad_tool_requests_are_refused_as_openai_does(emu: EmulatorHandle, body: dict[str, Any], needle: str) -> None:
    async def go() -> None:
        async with clients(emu) as c:
            with pytest.raises(openai.BadRequestError, match=needle.replace("[", r"\[").replace("]", r"\]")):
                await c.openai.chat.completions.create(
                    model="gpt-4.1", messages=chat("hi"), max_completion_tokens=2, extra_headers=profile(), extra_body=body
                )

    run(go())


def test_groq_sdk_reads_a_tool_call_whole(emu: EmulatorHandle) -> None:
    async def go() -> Any:
        async with clients(emu) as c:
            return await c.groq.chat.completions.create(
                model="llama-3.3-70b-versatile", messages=chat("hi"), tools=[CLOCK], max_tokens=50,  # type: ignore[list-item]
                extra_headers=profile(natural_tokens=3),
            )  # fmt: skip

    reply = run(go())
    call = reply.choices[0].message.tool_calls[0]
    assert isinstance(reply, groq.types.chat.ChatCompletion)
    assert call.function.name == "get_time" and json.loads(call.function.arguments) == {}


def test_prefix_marks_do_not_depend_on_how_the_text_is_fed() -> None:
    """A block's hash is the hash of everything before its end, however the text arrived."""
    rng = random.Random(1)
    for _ in range(200):
        text = "".join(rng.choice("ab") for _ in range(rng.randint(0, 3000)))
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(3, len(text) + 1)))
        whole, pieces = PrefixHasher(), PrefixHasher()
        whole.text(text)
        previous = 0
        for cut in [*cuts, len(text)]:
            pieces.text(text[previous:cut])
            previous = cut
        assert whole.shape() == pieces.shape()
        assert [m.chars for m in whole.shape().blocks] == list(range(BLOCK_CHARS, len(text) + 1, BLOCK_CHARS))
