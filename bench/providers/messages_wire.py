"""Anthropic Messages, the wire format both client paths share (request and events).

Quirks handled here: SDK 2.x takes no ``temperature`` argument (it travels as an extra body
field); system text is a top-level field, not a message; ``message_delta.usage`` holds running
totals that replace earlier ones; input tokens are input + cache read + cache creation;
``redacted_thinking`` blocks are reasoning the stream never shows (their tokens are billed in
``output_tokens`` but never streamed, so they must not count towards output speed); a
``compaction`` block (context management) opens the answer with the whole summary in one
``compaction_delta``: context for the next request, not content of this one (its tokens are
in ``usage.iterations``, not ``output_tokens``), so it is read as nothing, like the blocks of
server tools, tool use and citations (docs/metrics.md). Every shape here is also in the
warm-up's canned answer (``bench.run.warm``), so the SDK path never meets one first
mid-stream.
"""

from __future__ import annotations

import json
from typing import Any

from bench.providers.base import ProviderRequest, StreamEvent, Usage
from bench.providers.chat_wire import get
from bench.providers.errors import StreamErrorEvent

PATH = "/v1/messages"
DEFAULT_BASE_URL = "https://api.anthropic.com"


def base_url(url: str | None) -> str:
    """The SDK appends /v1/messages itself; accept a base URL written with /v1 too."""
    return url.rstrip("/").removesuffix("/v1") if url else DEFAULT_BASE_URL


def params(request: ProviderRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SDK keyword arguments, extra body fields): the request both client paths send."""
    system_parts = [request.system] if request.system else []
    messages = []
    for message in request.messages:
        if message.get("role") == "system":
            system_parts.append(str(message.get("content", "")))
        else:
            messages.append(message)
    out: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
        "stream": request.stream,
    }
    if system_parts:
        out["system"] = "\n\n".join(system_parts)
    extra_body = dict(request.extra_body)
    if request.temperature is not None:
        extra_body.setdefault("temperature", request.temperature)
    return out, extra_body


def input_tokens(usage: Any) -> int | None:
    if usage is None or get(usage, "input_tokens") is None:
        return None
    return (
        (get(usage, "input_tokens") or 0)
        + (get(usage, "cache_read_input_tokens") or 0)
        + (get(usage, "cache_creation_input_tokens") or 0)
    )


class EventReader:
    """Turns one stream's events into neutral events; keeps the running usage totals."""

    __slots__ = ("server_blocks", "usage")

    def __init__(self) -> None:
        self.usage = Usage()
        #: Indexes of server-tool blocks: their input streams too, but the server runs them.
        self.server_blocks: set[int] = set()

    def event(self, kind: str, ev: Any, received_ns: int = 0) -> StreamEvent | None:
        """One event (SDK object or dict) → a neutral event, or None for events that carry nothing."""
        if kind == "content_block_delta":
            delta = get(ev, "delta")
            dtype = get(delta, "type")
            if dtype == "text_delta":
                return StreamEvent(answer=get(delta, "text"), received_ns=received_ns)
            if dtype == "thinking_delta":
                return StreamEvent(reasoning=get(delta, "thinking"), received_ns=received_ns)
            if dtype == "input_json_delta" and get(ev, "index") not in self.server_blocks:
                return StreamEvent(tool_call=get(delta, "partial_json") or "", received_ns=received_ns)
            return None
        if kind == "content_block_start":
            block = get(ev, "content_block")
            btype = get(block, "type")
            if btype == "redacted_thinking":
                return StreamEvent(hidden_reasoning=True, received_ns=received_ns)
            if btype == "tool_use":  # the client's tool: its call is the answer
                return StreamEvent(tool_call=get(block, "name") or "", received_ns=received_ns)
            if btype == "server_tool_use":
                self.server_blocks.add(get(ev, "index"))
            return None  # text and thinking come as deltas; compaction, server-tool and result blocks are no content
        usage = self.usage
        if kind == "message_start":
            message = get(ev, "message")
            raw = get(message, "usage")
            usage.input_tokens = input_tokens(raw)
            usage.output_tokens = get(raw, "output_tokens")
            usage.cached_input_tokens = get(raw, "cache_read_input_tokens")
            usage.cache_write_input_tokens = get(raw, "cache_creation_input_tokens")
            return StreamEvent(
                response_id=get(message, "id"),
                usage=Usage(
                    input_tokens=usage.input_tokens,
                    cached_input_tokens=usage.cached_input_tokens,
                    cache_write_input_tokens=usage.cache_write_input_tokens,
                ),
                received_ns=received_ns,
            )
        if kind == "message_delta":
            raw = get(ev, "usage")
            if raw is not None:
                usage.output_tokens = get(raw, "output_tokens")
                usage.input_tokens = input_tokens(raw) or usage.input_tokens
            return StreamEvent(
                finish_reason=get(get(ev, "delta"), "stop_reason"),
                usage=Usage(output_tokens=usage.output_tokens, input_tokens=usage.input_tokens),
                received_ns=received_ns,
            )
        if kind == "error":
            error = get(ev, "error")
            raise StreamErrorEvent(error)
        return None


def whole_event(message: Any, received_ns: int = 0) -> StreamEvent:
    """A non-streaming message (SDK object or dict) → one event with the whole text."""
    if get(message, "type") == "error":  # a 200 whose body is an error
        raise StreamErrorEvent(get(message, "error"))
    blocks = get(message, "content") or []
    text = "".join(get(b, "text") or "" for b in blocks if get(b, "type") == "text")
    calls = "".join((get(b, "name") or "") + json.dumps(get(b, "input") or {}) for b in blocks if get(b, "type") == "tool_use")
    thinking = "".join(get(b, "thinking") or "" for b in blocks if get(b, "type") == "thinking")
    raw = get(message, "usage")
    return StreamEvent(
        answer=text,
        reasoning=thinking or None,
        finish_reason=get(message, "stop_reason"),
        response_id=get(message, "id"),
        usage=Usage(
            output_tokens=get(raw, "output_tokens"),
            input_tokens=input_tokens(raw),
            cached_input_tokens=get(raw, "cache_read_input_tokens"),
            cache_write_input_tokens=get(raw, "cache_creation_input_tokens"),
        ),
        hidden_reasoning=any(get(b, "type") == "redacted_thinking" for b in blocks),
        received_ns=received_ns,
        tool_call=calls or None,
    )
