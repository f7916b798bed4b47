"""Anthropic Messages on the wire (reference/provider-protocols.md §3).

Every event carries an ``event:`` line (the SDK drops events without one). ``message_start``
carries ``message.usage`` and ``message_delta`` carries ``usage.output_tokens``: the SDK's
``messages.stream()`` helper crashes without either. With ``thinking`` enabled, a thinking
block (``thinking_delta`` events, then a ``signature_delta``) comes before the text block.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from bench.emulator.faults import MIDSTREAM, ErrorSpec
from bench.emulator.http11 import sse
from bench.emulator.profiles import prompt_tokens
from bench.emulator.wire import (
    MARK,
    MARK_JSON,
    Call,
    Ids,
    Outcome,
    compact,
    invalid,
    message_chars,
    positive_int,
    text_chars,
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
        return Call(
            model=model,
            stream=body.get("stream") is True,
            budget=max_tokens,
            ignore_eos=body.get("ignore_eos") is True,
            prompt_chars=message_chars(messages) + text_chars(body.get("system")),
            think=think and info.reasoning_tokens > 0,
            stream_reasoning=True,
        )

    def wire(self, call: Call, ids: Ids, seed: int) -> MessagesWire:
        return MessagesWire(call, ids)

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


class MessagesWire:
    """One Messages response, streamed or whole."""

    def __init__(self, call: Call, ids: Ids) -> None:
        self.request_id = "msg_01" + ids.hex[:22]
        self.prompt_tokens = prompt_tokens(call.prompt_chars)
        self._call = call
        self._in_thinking = bool(call.think)  # a thinking block comes first, then the text
        self._index = 0
        self._text = self._template("text_delta", "text")
        self._thought = self._template("thinking_delta", "thinking")

    def _template(self, delta_type: str, key: str) -> tuple[str, str]:
        data = {"type": "content_block_delta", "index": self._index, "delta": {"type": delta_type, key: MARK}}
        before, after = sse(compact(data), "content_block_delta").decode().split(MARK_JSON)
        return before, after

    def _usage(self, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": self.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        }

    def message(self, outcome: Outcome | None, content: list[dict[str, Any]]) -> dict[str, Any]:
        """The message object: whole (non-streaming) or as message_start announces it."""
        usage = self._usage(outcome.plan.completion_tokens if outcome else 1)
        usage.update(
            cache_creation={"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
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
            "stop_reason": STOP_REASONS[outcome.plan.finish] if outcome else None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": usage,
        }

    def _event(self, data: dict[str, Any]) -> bytes:
        return sse(compact(data), data["type"])

    def _block_start(self) -> bytes:
        block = {"type": "thinking", "thinking": "", "signature": ""} if self._in_thinking else {"type": "text", "text": ""}
        return self._event({"type": "content_block_start", "index": self._index, "content_block": block})

    def _block_stop(self) -> bytes:
        return self._event({"type": "content_block_stop", "index": self._index})

    def opening(self) -> bytes:
        return (
            self._event({"type": "message_start", "message": self.message(None, [])})
            + self._block_start()
            + self._event({"type": "ping"})
        )

    def _leave_thinking(self) -> bytes:
        """Close the thinking block (with its signature) and open the text block."""
        signature = {"type": "signature_delta", "signature": _SIGNATURE}
        out = self._event({"type": "content_block_delta", "index": self._index, "delta": signature})
        out += self._block_stop()
        self._index += 1
        self._in_thinking = False
        self._text = self._template("text_delta", "text")
        return out + self._block_start()

    def token(self, text: str, reasoning: bool) -> bytes:
        prefix = self._leave_thinking() if self._in_thinking and not reasoning else b""
        before, after = self._thought if reasoning else self._text
        return prefix + (before + json.dumps(text) + after).encode()

    def closing(self, outcome: Outcome) -> bytes:
        out = self._leave_thinking() if self._in_thinking else b""
        delta = {"stop_reason": STOP_REASONS[outcome.plan.finish], "stop_sequence": None,
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
        content.append({"type": "text", "text": plan.answer_text, "citations": None})
        return compact(self.message(outcome, content)).encode()


ANTHROPIC: Final = MessagesDialect()
