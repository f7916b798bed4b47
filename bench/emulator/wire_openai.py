"""OpenAI and Groq chat completions on the wire (reference/provider-protocols.md §1, §2).

The two dialects share the chunk shape and differ in the details an SDK or a harness reads:

* OpenAI: ``service_tier``, ``obfuscation`` on each chunk, ``usage: null`` on every chunk and a
  final ``choices: []`` usage chunk only with ``stream_options.include_usage``; reasoning
  models think silently (counted in ``reasoning_tokens``), and they refuse ``max_tokens``.
* Groq: ``x_groq`` (id and seed on the first chunk, ``usage`` with queue/prompt/completion
  times on the finish chunk, always); with ``include_usage`` the totals are mirrored into a
  top-level ``usage`` and a ``choices: []`` chunk with ``service_tier: "on_demand"``. gpt-oss
  streams ``delta.reasoning`` (``channel: "analysis"``) before the answer.

Both: cached prompt tokens in ``usage.prompt_tokens_details.cached_tokens`` (OpenAI always,
Groq only when some were cached, as its captures show); a tool call streams as
``delta.tool_calls`` — the first fragment after a chunk with the call's id, type and name and
empty arguments — and finishes with ``finish_reason: "tool_calls"``.

Each content chunk is a pre-serialised template with the token's JSON string spliced in: the
server writes up to ~13 000 of them a second.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any, Final

from bench.emulator.faults import MIDSTREAM, ErrorSpec
from bench.emulator.http11 import sse
from bench.emulator.profiles import Plan
from bench.emulator.prompt_cache import PrefixHasher, PromptShape
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

_DONE: Final = sse("[DONE]")
#: Prefill speed behind Groq's ``prompt_time`` (tokens per second).
_PREFILL_TOKENS_PER_S: Final = 40_000.0
_obfuscation_rng = random.Random()  # cosmetic only: never part of a seeded response


def fingerprint(model: str) -> str:
    """A stable ``system_fingerprint`` per model, as the real services send."""
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


class ChatDialect:
    """Chat completions as OpenAI (``/v1``) or Groq (``/openai/v1``) speak them."""

    cache_rule = "automatic"

    def __init__(self, name: str) -> None:
        self.name = name
        self.models_path = "/openai/v1/models" if name == "groq" else "/v1/models"

    def parse(self, body: dict[str, Any], info: ModelInfo) -> Call:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("'messages' must contain at least one message.")
        max_tokens = positive_int(body, "max_tokens")
        max_completion = positive_int(body, "max_completion_tokens")
        if self.name == "openai" and info.reasoning and max_tokens is not None:
            raise invalid(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                code="unsupported_parameter",
            )
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise invalid("Invalid type for 'stream_options': expected an object.")
        hidden = body.get("include_reasoning") is False or body.get("reasoning_format") == "hidden"
        tools, choice = _tools(body)
        prompt = _prompt(messages, body.get("tools"))
        return Call(
            model=model,
            stream=body.get("stream") is True,
            budget=max_completion if max_completion is not None else max_tokens,
            ignore_eos=body.get("ignore_eos") is True,
            prompt_chars=prompt.chars,
            prompt=prompt,
            tools=tools,
            tool_choice=choice,
            think=None,
            stream_reasoning=self.name == "groq" and not hidden,
            include_usage=options.get("include_usage") is True,
            include_obfuscation=options.get("include_obfuscation") is not False,
        )

    def wire(self, call: Call, ids: Ids, seed: int, plan: Plan, prompt: PromptUse, tool: Tool | None) -> ChatWire:
        return ChatWire(self.name, call, ids, seed, plan, prompt, tool)

    def headers(self, ids: Ids, served: int, processing_ms: int) -> list[tuple[str, str]]:
        """Request id and rate-limit headers (Groq: requests per day and tokens per minute)."""
        if self.name == "groq":
            return [
                ("x-request-id", ids.http_request_id),
                ("x-ratelimit-limit-requests", "14400"),
                ("x-ratelimit-limit-tokens", "250000"),
                ("x-ratelimit-remaining-requests", str(14399 - served % 14400)),
                ("x-ratelimit-remaining-tokens", "249000"),
                ("x-ratelimit-reset-requests", "6s"),
                ("x-ratelimit-reset-tokens", "240ms"),
            ]
        return [
            ("x-request-id", ids.http_request_id),
            ("openai-processing-ms", str(processing_ms)),
            ("openai-version", "2020-10-01"),
            ("openai-organization", "org-bench"),
            ("openai-project", "proj_bench"),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-limit-tokens", "30000000"),
            ("x-ratelimit-remaining-requests", str(9999 - served % 10000)),
            ("x-ratelimit-remaining-tokens", "29999000"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-reset-tokens", "0s"),
        ]

    def error_body(self, spec: ErrorSpec, ids: Ids) -> bytes:
        return _error_json(spec, self.name)

    def model_object(self, info: ModelInfo, created: int) -> dict[str, Any]:
        """One entry of ``GET /models``; Groq adds its capacity fields and ``active``."""
        entry: dict[str, Any] = {
            "id": info.id,
            "object": "model",
            "created": created,
            "owned_by": info.owned_by or ("Groq" if self.name == "groq" else "system"),
        }
        if self.name == "groq":
            entry.update(
                active=not info.retired,
                context_window=info.context_window,
                public_apps=None,
                max_completion_tokens=info.max_completion_tokens,
            )
        return entry

    def models_body(self, entries: list[dict[str, Any]]) -> bytes:
        return compact({"object": "list", "data": entries}).encode()


def _tools(body: dict[str, Any]) -> tuple[tuple[Tool, ...], ToolChoice]:
    """The request's function tools and what ``tool_choice`` allows, checked as OpenAI does."""
    raw = body.get("tools")
    choice = body.get("tool_choice")
    if raw is None:
        if choice is not None:
            raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
        return (), ToolChoice()
    if not isinstance(raw, list):
        raise invalid("Invalid type for 'tools': expected an array of objects.")
    tools = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise invalid(f"Invalid type for 'tools[{i}]': expected an object.")
        if entry.get("type", "function") != "function":
            continue  # custom or hosted tools: the emulator never calls them
        function = entry.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise invalid(f"Missing required parameter: 'tools[{i}].function.name'.")
        parameters = function.get("parameters") if isinstance(function, dict) else None
        tools.append(Tool(name, parameters if isinstance(parameters, dict) else {}))
    if choice is None or choice == "auto":
        return tuple(tools), ToolChoice("auto")
    if choice == "none":
        return tuple(tools), ToolChoice("none")
    if choice == "required":
        return tuple(tools), ToolChoice("force")
    function = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise invalid("Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.")
    if name not in {t.name for t in tools}:
        raise invalid(f"Invalid value for 'tool_choice': function '{name}' is not among the tools.")
    return tuple(tools), ToolChoice("force", name)


def _prompt(messages: list[Any], tools: Any) -> PromptShape:
    """The prompt in the order the model reads it: tool definitions, then the messages."""
    hasher = PrefixHasher()
    for tool in tools if isinstance(tools, list) else []:
        hasher.kind("tool")
        hasher.text(compact(tool))
        hasher.end_block()
    for message in messages:
        if not isinstance(message, dict):
            continue
        hasher.kind(str(message.get("role")))
        feed_text_parts(hasher, message.get("content"))
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                hasher.kind("tool_call")
                for key in ("name", "arguments"):
                    if isinstance(function.get(key), str):
                        hasher.text(function[key])
        hasher.end_block()
    return hasher.shape()


def _error_json(spec: ErrorSpec, dialect: str) -> bytes:
    """``{"error": {...}}``; OpenAI also has ``param``."""
    error: dict[str, Any] = {"message": spec.message, "type": spec.type}
    if dialect == "openai":
        error["param"] = None
    error["code"] = spec.code
    return compact({"error": error}).encode()


class ChatWire:
    """One chat completion, streamed or whole, in the OpenAI or Groq dialect."""

    def __init__(self, dialect: str, call: Call, ids: Ids, seed: int, plan: Plan, prompt: PromptUse, tool: Tool | None) -> None:
        self.dialect = dialect
        self.request_id = "chatcmpl-" + (ids.hex if dialect == "openai" else _uuid_form(ids.hex))
        self.prompt_tokens = prompt.tokens
        self.cached_tokens = prompt.cache.read
        self.tool: ToolCall | None = None if tool is None else make_call(tool, plan, "call_" + ids.hex[8:32])
        self._call = call
        self._ids = ids
        self._seed = seed
        self._groq = dialect == "groq"
        self._obfuscate = not self._groq and call.include_obfuscation
        self._usage_null = not self._groq and call.include_usage
        head: dict[str, Any] = {
            "id": self.request_id,
            "object": "chat.completion.chunk",
            "created": ids.created,
            "model": call.model,
        }
        if not self._groq:
            head["service_tier"] = "default"
        head["system_fingerprint"] = fingerprint(call.model)
        self._head = head
        self._content = self._template({"content": MARK})
        self._reasoning = self._template({"reasoning": MARK, "channel": "analysis"})
        self._arguments = self._template({"tool_calls": [{"index": 0, "function": {"arguments": MARK}}]})
        self._pads = [_pad() for _ in range(8)]
        self._n = 0
        self._fragments = 0  # tool-call fragments written so far

    def _chunk(self, choices: list[Any], **extra: Any) -> dict[str, Any]:
        data = {**self._head, "choices": choices}
        if self._usage_null:
            data["usage"] = None
        data.update(extra)
        if self._obfuscate and choices:
            data["obfuscation"] = MARK
        return data

    def _template(self, delta: dict[str, Any]) -> tuple[str, str, str]:
        text = compact(self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]))
        before, after = text.split(MARK_JSON, 1)
        middle, _, end = after.partition(MARK_JSON) if self._obfuscate else (after, "", "")
        return before, middle, end

    def _event(self, data: dict[str, Any]) -> bytes:
        text = compact(data)
        if self._obfuscate and MARK_JSON in text:
            text = text.replace(MARK_JSON, json.dumps(self._next_pad()))
        return sse(text)

    def _next_pad(self) -> str:
        self._n += 1
        return self._pads[self._n % len(self._pads)]

    def opening(self) -> bytes:
        delta: dict[str, Any] = {"role": "assistant", "content": None if self.tool else ""}
        if not self._groq:
            delta["refusal"] = None
        extra = {"x_groq": {"id": self._ids.http_request_id, "seed": self._seed}} if self._groq else {}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._event(self._chunk([choice], **extra))

    def token(self, text: str, reasoning: bool) -> bytes:
        if self.tool is not None and not reasoning:
            return self._tool_token()
        before, middle, end = self._reasoning if reasoning else self._content
        if self._obfuscate:
            return sse(before + json.dumps(text) + middle + json.dumps(self._next_pad()) + end)
        return sse(before + json.dumps(text) + middle)

    def _tool_token(self) -> bytes:
        """One fragment of the call's arguments; the first comes after the call's header chunk."""
        assert self.tool is not None
        fragments = self.tool.fragments
        fragment = fragments[min(self._fragments, len(fragments) - 1)]
        self._fragments += 1
        out = b""
        if self._fragments == 1:
            call = {"index": 0, "id": self.tool.id, "type": "function", "function": {"name": self.tool.name, "arguments": ""}}
            out = self._event(
                self._chunk([{"index": 0, "delta": {"tool_calls": [call]}, "logprobs": None, "finish_reason": None}])
            )
        before, middle, end = self._arguments
        if self._obfuscate:
            return out + sse(before + json.dumps(fragment) + middle + json.dumps(self._next_pad()) + end)
        return out + sse(before + json.dumps(fragment) + middle)

    def finish_reason(self, plan: Plan) -> str:
        """``tool_calls`` when a call ended by itself; otherwise the plan's stop or length."""
        return "tool_calls" if self.tool is not None and plan.finish == "stop" else plan.finish

    def usage(self, outcome: Outcome) -> dict[str, Any]:
        """Usage as this dialect reports it (Groq adds its timings, in seconds)."""
        plan = outcome.plan
        prompt, completion = self.prompt_tokens, plan.completion_tokens
        if not self._groq:
            return {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": plan.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        # The prompt's reading time as planned (prefill_tokens_per_s), else Groq's typical speed.
        prompt_s = round(plan.prefill_s or prompt / _PREFILL_TOKENS_PER_S, 9)
        completion_s = round(outcome.completion_s, 9)
        usage: dict[str, Any] = {
            "queue_time": round(plan.queue_s, 9),
            "prompt_tokens": prompt,
            "prompt_time": prompt_s,
            "completion_tokens": completion,
            "completion_time": completion_s,
            "total_tokens": prompt + completion,
            "total_time": round(prompt_s + completion_s, 9),
        }
        if plan.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": plan.reasoning_tokens}
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage

    def closing(self, outcome: Outcome) -> bytes:
        finish = [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": self.finish_reason(outcome.plan)}]
        report = self._call.include_usage and not outcome.omit_usage
        usage = None if outcome.omit_usage else self.usage(outcome)
        if self._groq:
            x_groq: dict[str, Any] = {"id": self._ids.http_request_id}
            if usage is not None:
                x_groq["usage"] = usage
            extra: dict[str, Any] = {"x_groq": x_groq}
            if report:
                extra["usage"] = usage
            out = self._event(self._chunk(finish, **extra))
            if report:
                out += self._event({**self._head, "choices": [], "usage": usage, "service_tier": "on_demand"})
        else:
            out = self._event(self._chunk(finish))
            if report:
                out += self._event({**self._head, "choices": [], "usage": usage})
        return out if outcome.omit_done else out + _DONE

    def error_event(self) -> bytes:
        spec = MIDSTREAM[self.dialect]
        text = _error_json(spec, self.dialect).decode()
        return sse(text, "error") if self._groq else sse(text)

    def body(self, outcome: Outcome) -> bytes:
        plan = outcome.plan
        message: dict[str, Any] = {"role": "assistant", "content": plan.answer_text}
        if self.tool is not None:
            function = {"name": self.tool.name, "arguments": self.tool.arguments_text}
            message.update(content=None, tool_calls=[{"id": self.tool.id, "type": "function", "function": function}])
        if self._groq:
            if plan.n_streamed_reasoning:
                message["reasoning"] = plan.reasoning_text
        else:
            message.update(refusal=None, annotations=[])
        data: dict[str, Any] = {
            "id": self.request_id,
            "object": "chat.completion",
            "created": self._ids.created,
            "model": self._call.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason(plan)}],
            "usage": self.usage(outcome),
        }
        if self._groq:
            data.update(
                usage_breakdown=None,
                system_fingerprint=fingerprint(self._call.model),
                x_groq={"id": self._ids.http_request_id, "seed": self._seed},
                service_tier="on_demand",
            )
        else:
            data.update(service_tier="default", system_fingerprint=fingerprint(self._call.model))
        return compact(data).encode()


def _uuid_form(hex_: str) -> str:
    """Groq's completion ids are UUID-shaped."""
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:32]}"


def _pad() -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(_obfuscation_rng.choice(letters) for _ in range(_obfuscation_rng.randint(2, 12)))


OPENAI: Final = ChatDialect("openai")
GROQ: Final = ChatDialect("groq")
