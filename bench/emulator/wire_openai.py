"""OpenAI and Groq chat completions on the wire (reference/provider-protocols.md §1, §2).

The two dialects share the chunk shape and differ in the details an SDK or a harness reads:

* OpenAI: ``service_tier``, ``obfuscation`` on each chunk, ``usage: null`` on every chunk and a
  final ``choices: []`` usage chunk only with ``stream_options.include_usage``; reasoning
  models think silently (counted in ``reasoning_tokens``), and they refuse ``max_tokens``.
* Groq: ``x_groq`` (id and seed on the first chunk, ``usage`` with queue/prompt/completion
  times on the finish chunk, always); with ``include_usage`` the totals are mirrored into a
  top-level ``usage`` and a ``choices: []`` chunk with ``service_tier: "on_demand"``. gpt-oss
  streams ``delta.reasoning`` (``channel: "analysis"``) before the answer.

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
from bench.emulator.profiles import prompt_tokens
from bench.emulator.wire import MARK, MARK_JSON, Call, Ids, Outcome, compact, invalid, message_chars, positive_int
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
        return Call(
            model=model,
            stream=body.get("stream") is True,
            budget=max_completion if max_completion is not None else max_tokens,
            ignore_eos=body.get("ignore_eos") is True,
            prompt_chars=message_chars(messages),
            think=None,
            stream_reasoning=self.name == "groq" and not hidden,
            include_usage=options.get("include_usage") is True,
            include_obfuscation=options.get("include_obfuscation") is not False,
        )

    def wire(self, call: Call, ids: Ids, seed: int) -> ChatWire:
        return ChatWire(self.name, call, ids, seed)

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


def _error_json(spec: ErrorSpec, dialect: str) -> bytes:
    """``{"error": {...}}``; OpenAI also has ``param``."""
    error: dict[str, Any] = {"message": spec.message, "type": spec.type}
    if dialect == "openai":
        error["param"] = None
    error["code"] = spec.code
    return compact({"error": error}).encode()


class ChatWire:
    """One chat completion, streamed or whole, in the OpenAI or Groq dialect."""

    def __init__(self, dialect: str, call: Call, ids: Ids, seed: int) -> None:
        self.dialect = dialect
        self.request_id = "chatcmpl-" + (ids.hex if dialect == "openai" else _uuid_form(ids.hex))
        self.prompt_tokens = prompt_tokens(call.prompt_chars)
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
        self._pads = [_pad() for _ in range(8)]
        self._n = 0

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
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        if not self._groq:
            delta["refusal"] = None
        extra = {"x_groq": {"id": self._ids.http_request_id, "seed": self._seed}} if self._groq else {}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._event(self._chunk([choice], **extra))

    def token(self, text: str, reasoning: bool) -> bytes:
        before, middle, end = self._reasoning if reasoning else self._content
        if self._obfuscate:
            return sse(before + json.dumps(text) + middle + json.dumps(self._next_pad()) + end)
        return sse(before + json.dumps(text) + middle)

    def usage(self, outcome: Outcome) -> dict[str, Any]:
        """Usage as this dialect reports it (Groq adds its timings, in seconds)."""
        plan = outcome.plan
        prompt, completion = self.prompt_tokens, plan.completion_tokens
        if not self._groq:
            return {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": plan.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        prompt_s = round(prompt / _PREFILL_TOKENS_PER_S, 9)
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
        return usage

    def closing(self, outcome: Outcome) -> bytes:
        finish = [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": outcome.plan.finish}]
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
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish}],
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
