"""Chat Completions, the wire format shared by Groq, OpenAI and OpenAI-compatible servers.

Both client paths (the official SDKs and the lean one) build the same request and read the
same fields from here, so they cannot drift apart. Quirks, each in one place:

- Groq's SDK has no ``stream_options`` parameter: it travels in the body as an extra field.
- Groq reports server timings in ``x_groq.usage`` on the finish chunk (seconds), always.
- Reasoning arrives as ``delta.reasoning`` (Groq) or ``delta.reasoning_content`` (vLLM …).
- OpenAI's own API wants ``max_completion_tokens``; compatible servers widely accept only
  ``max_tokens``.
- The role-only opener (``{"role":"assistant","content":""}``) is no token; a later empty
  string is (a byte-fallback piece of a character).
- Groq compound systems stream their tool use as reasoning text (``<tool>…</tool>``, then the
  tool's ``<output>…</output>``, tens of KB in one chunk) beside ``delta.executed_tools``;
  the reasoning counts as reasoning, the structured copy is not read. The warm-up's canned
  answer (``bench.run.warm``) has these shapes, so the SDK path never builds their
  types mid-stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.providers.base import ProviderRequest, StreamEvent, Usage
from bench.providers.errors import StreamErrorEvent

#: The SDK insists on a key string; compatible servers without auth ignore it.
NO_KEY = "not-needed"


@dataclass(frozen=True, slots=True)
class ChatFlavour:
    """What differs between the providers that speak Chat Completions."""

    name: str
    #: Path the request goes to, relative to the base URL as the user gives it.
    path: str
    #: Suffix people copy into a base URL that the SDK adds itself (stripped).
    strip_suffix: str
    max_tokens_field: str
    #: ``stream_options`` as an extra body field (the SDK has no parameter for it).
    stream_options_in_extra: bool
    default_base_url: str


FLAVOURS: dict[str, ChatFlavour] = {
    "groq": ChatFlavour("groq", "/openai/v1/chat/completions", "/openai/v1", "max_tokens", True, "https://api.groq.com"),
    "openai": ChatFlavour("openai", "/chat/completions", "", "max_completion_tokens", False, "https://api.openai.com/v1"),
    "openai-compatible": ChatFlavour("openai-compatible", "/chat/completions", "", "max_tokens", False, ""),
}


def base_url(flavour: ChatFlavour, url: str | None) -> str:
    """The base URL the SDK expects (Groq: without ``/openai/v1``, which its SDK appends)."""
    if not url:
        return flavour.default_base_url
    url = url.rstrip("/")
    return url.removesuffix(flavour.strip_suffix) if flavour.strip_suffix else url


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """A message whose text blocks carry Anthropic's ``cache_control`` marks (a warm shared
    prefix) as one string: chat APIs cache any identical opening without marks, and not every
    OpenAI-compatible server takes content blocks or an unknown key in them."""
    content = message.get("content")
    if not (isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content)):
        return message
    if all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return {**message, "content": "".join(str(p.get("text", "")) for p in content)}
    return {
        **message,
        "content": [{k: v for k, v in p.items() if k != "cache_control"} if isinstance(p, dict) else p for p in content],
    }


def params(flavour: ChatFlavour, request: ProviderRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SDK keyword arguments, extra body fields): the request both client paths send."""
    messages = [_plain(m) for m in request.messages]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    out: dict[str, Any] = {"model": request.model, "messages": messages, "stream": request.stream}
    out[flavour.max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        out["temperature"] = request.temperature
    extra_body = dict(request.extra_body)
    if request.stream and request.include_usage:
        if flavour.stream_options_in_extra:
            extra_body.setdefault("stream_options", {"include_usage": True})
        else:
            out["stream_options"] = {"include_usage": True}
    return out, extra_body


def get(obj: Any, name: str) -> Any:
    """Attribute or key: SDK models keep unknown fields as extras, raw JSON is a dict."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def usage(raw: Any, server: Any) -> Usage | None:
    """Merge top-level ``usage`` with Groq's ``x_groq.usage`` (the only one with timings)."""
    if raw is None and server is None:
        return None
    source = server if server is not None else raw
    out = Usage(output_tokens=get(source, "completion_tokens"), input_tokens=get(source, "prompt_tokens"))
    details = get(raw, "completion_tokens_details") or get(server, "completion_tokens_details")
    out.reasoning_tokens = get(details, "reasoning_tokens")
    # Cached prompt tokens: OpenAI always says (0 included), Groq only when some were cached.
    prompt_details = get(raw, "prompt_tokens_details") or get(server, "prompt_tokens_details")
    out.cached_input_tokens = get(prompt_details, "cached_tokens")
    # Groq puts timings in x_groq.usage when streaming and in the top-level usage otherwise.
    timed = server if get(server, "completion_time") is not None else raw
    if get(timed, "completion_time") is not None:
        for field, key in (("queue_ms", "queue_time"), ("prompt_ms", "prompt_time"), ("completion_ms", "completion_time")):
            seconds = get(timed, key)
            if seconds is not None:
                setattr(out, field, float(seconds) * 1000.0)
    return out


def reasoning(delta: Any) -> str | None:
    value = get(delta, "reasoning")
    return value if value is not None else get(delta, "reasoning_content")


def chunk_event(chunk: dict[str, Any], received_ns: int = 0) -> StreamEvent:
    """One decoded ``chat.completion.chunk`` (a dict) → the neutral event. Runs per chunk, so
    it reads each field once into a local and builds the event in one call."""
    field = chunk.get
    error = field("error")
    if error is not None:
        raise StreamErrorEvent(error)
    answer = reasoning_text = finish_reason = calls = None
    choices = field("choices")
    if choices:
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            answer = delta.get("content")
            if answer == "" and delta.get("role"):
                answer = None
            reasoning_text = delta.get("reasoning")
            if reasoning_text is None:
                reasoning_text = delta.get("reasoning_content")
            calls = delta.get("tool_calls")
        finish_reason = choice.get("finish_reason")
    x_groq = field("x_groq")
    raw_usage = field("usage")
    merged = usage(raw_usage, get(x_groq, "usage")) if raw_usage is not None or x_groq is not None else None
    return StreamEvent(
        answer, reasoning_text, finish_reason, merged, field("id"), False, received_ns, tool_call_text(calls) if calls else None
    )


def tool_call_text(calls: Any) -> str:
    """The text a ``tool_calls`` delta streams: each call's name (where it opens) and argument fragment."""
    out = []
    for call in calls:
        function = get(call, "function")
        out.append((get(function, "name") or "") + (get(function, "arguments") or ""))
    return "".join(out)


def whole_event(completion: Any, received_ns: int = 0) -> StreamEvent:
    """A non-streaming completion (SDK object or dict) → one event with the whole text."""
    error = get(completion, "error")
    if error is not None:  # a 200 whose body is an error, as some compatible servers send
        raise StreamErrorEvent(error)
    event = StreamEvent(response_id=get(completion, "id"), received_ns=received_ns)
    choices = get(completion, "choices")
    if choices:
        choice = choices[0]
        message = get(choice, "message")
        event.answer = get(message, "content") or ""
        event.reasoning = reasoning(message)
        calls = get(message, "tool_calls")
        event.tool_call = tool_call_text(calls) if calls else None
        event.finish_reason = get(choice, "finish_reason")
    event.usage = usage(get(completion, "usage"), get(get(completion, "x_groq"), "usage"))
    return event
