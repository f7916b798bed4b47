"""The one provider interface: a request in, a stream of provider-neutral events out.

A provider knows its wire format and SDK, nothing of load, metrics, clocks or files. The
measuring code (``bench.run.measure``) stamps each event as the provider yields it, so every
provider is timed the same way. A leaner client path (no SDK) is just another ``Provider``
registered under another ``client`` name: nothing else changes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class Usage:
    """Server-reported counts and timings; None where the server did not say."""

    output_tokens: int | None = None
    input_tokens: int | None = None
    reasoning_tokens: int | None = None
    queue_ms: float | None = None
    prompt_ms: float | None = None
    completion_ms: float | None = None
    #: Parts of ``input_tokens``: read from the provider's prompt cache, and written to it
    #: (Anthropic bills cache writes apart; docs/metrics.md).
    cached_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None


@dataclass(slots=True)
class StreamEvent:
    """One wire event, reduced to what timing and token counting need.

    ``answer``/``reasoning`` are None when the field is absent and "" when present but empty
    (a byte-fallback token still counts as a token, but not as a content event for timing).
    A non-streaming response is one event carrying the whole text.
    """

    answer: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    response_id: str | None = None
    #: Reasoning the provider billed but never streamed (Anthropic ``redacted_thinking``).
    hidden_reasoning: bool = False
    #: When the bytes carrying this event were read from the socket (``timing.now_ns``), where
    #: the client path stamps reads itself; 0 means "stamp it as it is yielded".
    received_ns: int = 0
    #: A tool call's streamed text: its name where the call opens, then its arguments' JSON
    #: fragments. The answer of a response that calls a tool, so content for first-token time
    #: (docs/metrics.md); None when the event carries none.
    tool_call: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    stream: bool = True
    temperature: float | None = None
    include_usage: bool = True
    system: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: The messages are this request's alone and nobody reads them after it is sent: a provider
    #: may empty the list once it has encoded the body, so a long prompt waits for its first
    #: token as one copy, not as its text beside its body (docs/scale.md, "Memory of a long
    #: prompt"). False wherever the caller goes on with them (a conversation's history).
    hand_over: bool = False


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to build a provider's client; secrets live here only in memory."""

    base_url: str | None
    api_key: str | None
    pool_size: int
    timeout_s: float
    max_retries: int
    #: Never through a proxy from the environment: bench's own servers on loopback (the
    #: emulator, the warm-up answer), which no proxy elsewhere could reach.
    direct: bool = False


def with_extras(params: dict[str, Any], extra_body: dict[str, Any], extra_headers: dict[str, str]) -> dict[str, Any]:
    """Add the SDK pass-through arguments every provider uses, only when there are any."""
    if extra_body:
        params["extra_body"] = extra_body
    if extra_headers:
        params["extra_headers"] = extra_headers
    return params


class Provider(Protocol):
    #: Which client path measures ("sdk" or a leaner one): recorded per request.
    client: str

    def events(self, request: ProviderRequest) -> AsyncGenerator[StreamEvent, None]:
        """Send the request and yield its events as they arrive (one for non-streaming)."""
        ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
