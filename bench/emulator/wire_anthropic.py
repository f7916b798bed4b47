"""Anthropic Messages on the wire (reference/provider-protocols.md §3).

Every event carries an ``event:`` line (the SDK drops events without one). ``message_start``
carries ``message.usage`` and ``message_delta`` carries ``usage.output_tokens``: the SDK's
``messages.stream()`` helper crashes without either. With ``thinking`` enabled, a thinking
block (``thinking_delta`` events, then a ``signature_delta``) comes before the text block.

A tool call is a ``tool_use`` block (opened at its first token, with ``input: {}``) whose
arguments stream as ``input_json_delta`` fragments; the message stops with ``tool_use``. The
prompt cache shows in usage as Anthropic reports it: ``input_tokens`` counts only the tokens
after the last cache breakpoint, ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` the rest (the three add up to the emulator's prompt estimate).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from bench.emulator.faults import MIDSTREAM, ErrorSpec
from bench.emulator.http11 import sse
from bench.emulator.profiles import Plan
from bench.emulator.prompt_cache import MAX_BREAKPOINTS, PrefixHasher, PromptShape
from bench.emulator.tools import Tool, ToolCall, ToolChoice, make_call
from bench.emulator.wire import (
    MARK,
    MARK_JSON,
    Call,
    Ids,
    Outcome,
    PromptUse,
    compact,
    feed_text_parts,
    invalid,
    positive_int,
)
from bench.scenario.catalogue import ModelInfo

STOP_REASONS: Final = {"stop": "end_turn", "length": "max_tokens"}
_SIGNATURE: Final = "RW11bGF0ZWQgdGhpbmtpbmcgc2lnbmF0dXJl"  # base64 of "Emulated thinking signature"
_RATE_LIMITS: Final = (
    ("requests", 4000),
    ("tokens", 2_000_000),
    ("input-tokens", 1_600_000),
    ("output-tokens", 400_000),
)


class MessagesDialect:
    """Anthropic's Messages API (``/v1/messages``)."""

    name = "anthropic"
    models_path = "/v1/models"
    cache_rule = "explicit"

    def parse(self, body: dict[str, Any], info: ModelInfo) -> Call:
        """Check a Messages body as the API would (``max_tokens`` is required)."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("messages: Field required")
        max_tokens = positive_int(body, "max_tokens")
        if max_tokens is None:
            raise invalid("max_tokens: Field required")
        thinking = body.get("thinking") or {}
        think = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
        if think and thinking.get("type") == "enabled" and positive_int(thinking, "budget_tokens") is None:
            raise invalid("thinking.enabled.budget_tokens: Field required")
        tools, choice = _tools(body)
        prompt = _prompt(body, messages)
        return Call(
            model=model,
            stream=body.get("stream") is True,
            budget=max_tokens,
            ignore_eos=body.get("ignore_eos") is True,
            prompt_chars=prompt.chars,
            prompt=prompt,
            tools=tools,
            tool_choice=choice,
            think=think and info.reasoning_tokens > 0,
            stream_reasoning=True,
        )

    def wire(self, call: Call, ids: Ids, seed: int, plan: Plan, prompt: PromptUse, tool: Tool | None) -> MessagesWire:
        return MessagesWire(call, ids, plan, prompt, tool)

    def headers(self, ids: Ids, served: int, processing_ms: int) -> list[tuple[str, str]]:
        """``request-id`` and the ``anthropic-ratelimit-*`` family (resets are RFC 3339 times)."""
        reset = datetime.fromtimestamp(ids.created + 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = [("request-id", ids.http_request_id), ("anthropic-organization-id", "00000000-bench-emulator")]
        for name, limit in _RATE_LIMITS:
            remaining = limit - 1 - served % limit if name == "requests" else limit - 1000
            out += [
                (f"anthropic-ratelimit-{name}-limit", str(limit)),
                (f"anthropic-ratelimit-{name}-remaining", str(remaining)),
                (f"anthropic-ratelimit-{name}-reset", reset),
            ]
        return out

    def error_body(self, spec: ErrorSpec, ids: Ids) -> bytes:
        error: dict[str, Any] = {"type": spec.type, "message": spec.message}
        if spec.code is not None:
            error["details"] = {"error_code": spec.code}
        return compact({"type": "error", "error": error, "request_id": ids.http_request_id}).encode()

    def model_object(self, info: ModelInfo, created: int) -> dict[str, Any]:
        """One entry of ``GET /v1/models`` (an unknown release date is the epoch, as documented)."""
        released = info.released_on or "1970-01-01"
        lifecycle = "retired" if info.retired else ("deprecated" if info.status == "deprecated" else "active")
        return {
            "type": "model",
            "id": info.id,
            "display_name": info.display_name or info.id,
            "created_at": f"{released}T00:00:00Z",
            "lifecycle": lifecycle,
            "max_input_tokens": info.context_window,
            "max_tokens": info.max_completion_tokens,
        }

    def models_body(self, entries: list[dict[str, Any]]) -> bytes:
        first = entries[0]["id"] if entries else None
        last = entries[-1]["id"] if entries else None
        return compact({"data": entries, "has_more": False, "first_id": first, "last_id": last}).encode()


def _tools(body: dict[str, Any]) -> tuple[tuple[Tool, ...], ToolChoice]:
    """The client tools a request declares (server tools are never called) and its tool_choice."""
    raw = body.get("tools")
    if raw is None:
        return (), ToolChoice()
    if not isinstance(raw, list):
        raise invalid("tools: Input should be a valid list")
    tools = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise invalid(f"tools.{i}: Input should be a valid dictionary")
        if entry.get("type", "custom") != "custom":
            continue  # a server tool (web search, code execution …)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(f"tools.{i}.name: Field required")
        schema = entry.get("input_schema")
        tools.append(Tool(name, schema if isinstance(schema, dict) else {}))
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        return tuple(tools), ToolChoice("auto")
    if kind == "none":
        return tuple(tools), ToolChoice("none")
    if kind == "any":
        return tuple(tools), ToolChoice("force")
    if kind == "tool":
        name = choice.get("name")
        if name not in {t.name for t in tools}:
            raise invalid(f"tool_choice.name: no tool named {name!r} in tools")
        return tuple(tools), ToolChoice("force", name)
    raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")


def _prompt(body: dict[str, Any], messages: list[Any]) -> PromptShape:
    """The prompt in Anthropic's cache order (tools, system, messages), one content block at a
    time, with the blocks marked ``cache_control`` as breakpoints (at most four)."""
    hasher = PrefixHasher()
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            hasher.kind("tool")
            hasher.text(compact({k: v for k, v in tool.items() if k != "cache_control"}))
            hasher.end_block(tool.get("cache_control"))
    system = body.get("system")
    if isinstance(system, str):
        hasher.kind("system")
        hasher.text(system)
        hasher.end_block()
    for block in system if isinstance(system, list) else []:
        hasher.kind("system")
        _block(hasher, block)
    for message in messages:
        if not isinstance(message, dict):
            continue
        hasher.kind(str(message.get("role")))
        content = message.get("content")
        if isinstance(content, str):
            hasher.text(content)
            hasher.end_block()
        for block in content if isinstance(content, list) else []:
            _block(hasher, block)
    shape = hasher.shape()
    if len(shape.breakpoints) > MAX_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(shape.breakpoints)}."
        )
    return shape


def _block(hasher: PrefixHasher, block: Any) -> None:
    """One content block: its text (a tool call's name and input, a tool result's content)."""
    if not isinstance(block, dict):
        return
    kind = block.get("type")
    hasher.kind(str(kind))
    if isinstance(block.get("text"), str):
        hasher.text(block["text"])
    elif kind == "tool_use":
        hasher.text(str(block.get("name")))
        hasher.text(compact(block.get("input")))
    elif kind == "tool_result":
        feed_text_parts(hasher, block.get("content"))
    hasher.end_block(block.get("cache_control"))


class MessagesWire:
    """One Messages response, streamed or whole."""

    def __init__(self, call: Call, ids: Ids, plan: Plan, prompt: PromptUse, tool: Tool | None) -> None:
        self.request_id = "msg_01" + ids.hex[:22]
        self.prompt_tokens = prompt.tokens
        self.cached_tokens = prompt.cache.read
        self._cache = prompt.cache
        self.tool: ToolCall | None = None if tool is None else make_call(tool, plan, "toolu_01" + ids.hex[10:32])
        self._call = call
        # The open block: thinking comes first, then the answer (text, or the tool call, which
        # opens at its first token); None before the tool call's block opens.
        self._kind: str | None = "thinking" if call.think else (None if self.tool else "text")
        self._index = 0
        self._text = self._template("text_delta", "text")
        self._thought = self._template("thinking_delta", "thinking")
        self._json = self._template("input_json_delta", "partial_json")
        self._fragments = 0

    def _template(self, delta_type: str, key: str) -> tuple[str, str]:
        data = {"type": "content_block_delta", "index": self._index, "delta": {"type": delta_type, key: MARK}}
        before, after = sse(compact(data), "content_block_delta").decode().split(MARK_JSON)
        return before, after

    def _usage(self, output_tokens: int) -> dict[str, Any]:
        cache = self._cache
        return {
            "input_tokens": max(0, self.prompt_tokens - cache.read - cache.written),
            "cache_creation_input_tokens": cache.written,
            "cache_read_input_tokens": cache.read,
            "output_tokens": output_tokens,
        }

    def stop_reason(self, plan: Plan) -> str:
        """``tool_use`` when a call ended by itself; otherwise end_turn or max_tokens."""
        return "tool_use" if self.tool is not None and plan.finish == "stop" else STOP_REASONS[plan.finish]

    def message(self, outcome: Outcome | None, content: list[dict[str, Any]]) -> dict[str, Any]:
        """The message object: whole (non-streaming) or as message_start announces it."""
        usage = self._usage(outcome.plan.completion_tokens if outcome else 1)
        written = {"ephemeral_5m_input_tokens": self._cache.written_5m, "ephemeral_1h_input_tokens": self._cache.written_1h}
        usage.update(
            cache_creation=written,
            service_tier="standard",
            inference_geo="global",
        )
        return {
            "model": self._call.model,
            "id": self.request_id,
            "type": "message",
            "role": "assistant",
            "content": content,
            "container": None,
            "stop_reason": self.stop_reason(outcome.plan) if outcome else None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": usage,
        }

    def _event(self, data: dict[str, Any]) -> bytes:
        return sse(compact(data), data["type"])

    def _block_start(self) -> bytes:
        block: dict[str, Any]
        if self._kind == "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        elif self._kind == "tool_use":
            assert self.tool is not None
            block = {"type": "tool_use", "id": self.tool.id, "name": self.tool.name, "input": {}}
        else:
            block = {"type": "text", "text": ""}
        return self._event({"type": "content_block_start", "index": self._index, "content_block": block})

    def _block_stop(self) -> bytes:
        return self._event({"type": "content_block_stop", "index": self._index})

    def opening(self) -> bytes:
        start = self._block_start() if self._kind is not None else b""
        return self._event({"type": "message_start", "message": self.message(None, [])}) + start + self._event({"type": "ping"})

    def _open_answer(self) -> bytes:
        """Close the thinking block, if open (with its signature), and open the answer's block."""
        out = b""
        if self._kind == "thinking":
            signature = {"type": "signature_delta", "signature": _SIGNATURE}
            out = self._event({"type": "content_block_delta", "index": self._index, "delta": signature})
            out += self._block_stop()
            self._index += 1
        self._kind = "tool_use" if self.tool is not None else "text"
        self._text = self._template("text_delta", "text")
        self._json = self._template("input_json_delta", "partial_json")
        return out + self._block_start()

    def token(self, text: str, reasoning: bool) -> bytes:
        if reasoning:
            before, after = self._thought
            return (before + json.dumps(text) + after).encode()
        prefix = self._open_answer() if self._kind in ("thinking", None) else b""
        if self.tool is None:
            before, after = self._text
            return prefix + (before + json.dumps(text) + after).encode()
        fragments = self.tool.fragments
        fragment = fragments[min(self._fragments, len(fragments) - 1)]
        self._fragments += 1
        before, after = self._json
        return prefix + (before + json.dumps(fragment) + after).encode()

    def closing(self, outcome: Outcome) -> bytes:
        out = self._open_answer() if self._kind in ("thinking", None) else b""
        delta = {"stop_reason": self.stop_reason(outcome.plan), "stop_sequence": None,
                 "stop_details": None, "container": None}  # fmt: skip
        out += self._block_stop()
        usage = self._usage(outcome.plan.completion_tokens)
        out += self._event({"type": "message_delta", "delta": delta, "usage": usage})
        return out if outcome.omit_done else out + self._event({"type": "message_stop"})

    def error_event(self) -> bytes:
        spec = MIDSTREAM["anthropic"]
        return sse(compact({"type": "error", "error": {"type": spec.type, "message": spec.message}}), "error")

    def body(self, outcome: Outcome) -> bytes:
        plan = outcome.plan
        content: list[dict[str, Any]] = []
        if plan.n_streamed_reasoning:
            content.append({"type": "thinking", "thinking": plan.reasoning_text, "signature": _SIGNATURE})
        if self.tool is not None:
            content.append({"type": "tool_use", "id": self.tool.id, "name": self.tool.name, "input": self.tool.arguments})
        else:
            content.append({"type": "text", "text": plan.answer_text, "citations": None})
        return compact(self.message(outcome, content)).encode()


ANTHROPIC: Final = MessagesDialect()
