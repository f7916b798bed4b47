"""What every dialect provides, and the little the dialects share.

A :class:`Dialect` (``openai``, ``groq``, ``anthropic``) turns a request body into a :class:`Call`
and a planned response into bytes through a :class:`Wire`. The server drives the timing and
never looks inside a dialect's JSON; a dialect never sleeps or writes.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bench.emulator.faults import ErrorSpec
from bench.emulator.profiles import Plan
from bench.emulator.prompt_cache import CacheUse, PrefixHasher, PromptShape
from bench.emulator.tools import Tool, ToolChoice
from bench.errors import EmulatorRequestError
from bench.scenario.catalogue import ModelInfo

#: A placeholder a chunk template is serialised with, then split on: each token's JSON string is
#: spliced in between, so the hot path never serialises a whole chunk.
MARK: Final = "\x00"
MARK_JSON: Final = json.dumps(MARK)


def compact(value: Any) -> str:
    """JSON without spaces, as the providers send it."""
    return json.dumps(value, separators=(",", ":"))


class RequestError(EmulatorRequestError):
    """A request the real API would refuse with a 4xx: carries the error to send."""

    def __init__(self, spec: ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


def invalid(message: str, code: str | None = None) -> RequestError:
    """A 400 ``invalid_request_error``, the type all three providers use for a bad body."""
    return RequestError(ErrorSpec(400, "invalid_request_error", code, message))


@dataclass(frozen=True)
class Call:
    """What the server needs from a request body, whatever the dialect.

    ``think`` None means "as the model does" (the catalogue's ``reasoning``); Anthropic sets it
    from the request's ``thinking``. ``stream_reasoning`` says whether reasoning is sent
    (Groq, Anthropic) or only counted (OpenAI, Groq with ``include_reasoning: false``).
    """

    model: str
    stream: bool
    budget: int | None
    ignore_eos: bool
    prompt_chars: int
    think: bool | None
    stream_reasoning: bool
    include_usage: bool = False
    include_obfuscation: bool = True
    #: The prompt's prefixes, for the prompt cache (``prompt_chars`` is its length).
    prompt: PromptShape = PromptShape()
    #: The function tools the request declares, and what its ``tool_choice`` allows.
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()


@dataclass(frozen=True)
class PromptUse:
    """The prompt as usage reports it: the emulator's token estimate and the cache's share."""

    tokens: int
    cache: CacheUse = CacheUse()


@dataclass(frozen=True)
class Outcome:
    """A finished response, for the closing events or the non-streaming body."""

    plan: Plan
    completion_s: float
    omit_usage: bool = False
    omit_done: bool = False


class Wire(Protocol):
    """Serialises one response in one dialect. Stateful: Anthropic tracks its open block."""

    request_id: str
    prompt_tokens: int

    def opening(self) -> bytes:
        """Events sent with the headers (role chunk, message_start …)."""
        ...

    def token(self, text: str, reasoning: bool) -> bytes:
        """The event carrying one token."""
        ...

    def closing(self, outcome: Outcome) -> bytes:
        """Finish reason, usage and the end marker, as one write."""
        ...

    def error_event(self) -> bytes:
        """An error event inside the 200 stream (the ``midstream_error`` fault)."""
        ...

    def body(self, outcome: Outcome) -> bytes:
        """The whole non-streaming JSON body."""
        ...


class Dialect(Protocol):
    """One provider's API: how it reads a request and how it answers, errors and lists models."""

    name: str  # "openai", "groq" or "anthropic": also the catalogue provider it serves
    models_path: str  # GET here lists models; GET here + "/{id}" retrieves one
    cache_rule: str  # "automatic" (OpenAI, Groq) or "explicit" (Anthropic's cache_control)

    def parse(self, body: dict[str, Any], info: ModelInfo) -> Call:
        """Check a request body as the provider would (RequestError for a 4xx)."""
        ...

    def wire(self, call: Call, ids: Ids, seed: int, plan: Plan, prompt: PromptUse, tool: Tool | None) -> Wire:
        """The serialiser for one response (``tool``: the tool it calls, if any)."""
        ...

    def headers(self, ids: Ids, served: int, processing_ms: int) -> list[tuple[str, str]]:
        """Request-id and rate-limit headers, on every answer."""
        ...

    def error_body(self, spec: ErrorSpec, ids: Ids) -> bytes:
        """The provider's JSON error shape."""
        ...

    def model_object(self, info: ModelInfo, created: int) -> dict[str, Any]:
        """One entry of the models list (also the body of a retrieve)."""
        ...

    def models_body(self, entries: list[dict[str, Any]]) -> bytes:
        """The models list page around the entries."""
        ...


@dataclass(frozen=True)
class Ids:
    """One request's identifiers, from one random hex so server logs join any of them."""

    hex: str
    created: int

    @classmethod
    def new(cls) -> Ids:
        return cls(hex=uuid.uuid4().hex, created=int(time.time()))

    @property
    def http_request_id(self) -> str:
        """``x-request-id`` / ``request-id`` / Groq's ``x_groq.id``."""
        return "req_" + self.hex[:26]


def message_chars(messages: Any) -> int:
    """Characters of text in a messages list (string contents or text parts), for a token guess."""
    total = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        total += text_chars(content)
    return total


def text_chars(content: Any) -> int:
    """Characters in a content value: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return 0


def feed_text_parts(hasher: PrefixHasher, content: Any) -> None:
    """A content value into the prompt hash: a string, or the ``text`` of each part (as
    :func:`text_chars` counts them), each part's type hashed with it."""
    if isinstance(content, str):
        hasher.text(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                hasher.kind(str(part.get("type")))
                if isinstance(part.get("text"), str):
                    hasher.text(part["text"])


def positive_int(body: dict[str, Any], key: str) -> int | None:
    """An optional positive integer field, or a 400 naming it."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(f"Invalid '{key}': expected an integer of at least 1.")
    return value
