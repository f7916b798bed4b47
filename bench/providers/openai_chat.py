"""Chat Completions through the official SDKs: OpenAI, Groq, and any OpenAI-compatible server.

One wire format, two SDKs: ``AsyncGroq`` (built on httpx) for Groq and ``AsyncOpenAI`` (built
on httpx2) for OpenAI and OpenAI-compatible servers (vLLM, llama.cpp, Ollama, Together …).
Quirks handled here and nowhere else:

- Groq's SDK has no ``stream_options`` parameter: it goes through ``extra_body``.
- Groq reports server timings in ``x_groq.usage`` on the finish chunk (seconds), always.
- Reasoning arrives as ``delta.reasoning`` (Groq) or ``delta.reasoning_content`` (vLLM …).
- OpenAI's own API wants ``max_completion_tokens``; compatible servers widely accept only
  ``max_tokens``.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from bench.providers.base import ClientSettings, ProviderRequest, StreamEvent, Usage, with_extras
from bench.timing import EVENT_HOOKS, instrument, instrument

_NO_KEY = "not-needed"  # the SDK insists on a string; compatible servers without auth ignore it


def _get(obj: Any, name: str) -> Any:
    """Attribute or key: SDK models keep unknown fields as extras, raw JSON is a dict."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _usage(raw: Any, server: Any) -> Usage | None:
    """Merge top-level ``usage`` with Groq's ``x_groq.usage`` (the only one with timings)."""
    if raw is None and server is None:
        return None
    source = server if server is not None else raw
    out = Usage(
        output_tokens=_get(source, "completion_tokens"),
        input_tokens=_get(source, "prompt_tokens"),
    )
    details = _get(raw, "completion_tokens_details") or _get(server, "completion_tokens_details")
    out.reasoning_tokens = _get(details, "reasoning_tokens")
    # Groq puts timings in x_groq.usage when streaming and in the top-level usage otherwise.
    timed = server if _get(server, "completion_time") is not None else raw
    if _get(timed, "completion_time") is not None:
        for field, key in (("queue_ms", "queue_time"), ("prompt_ms", "prompt_time"), ("completion_ms", "completion_time")):
            seconds = _get(timed, key)
            if seconds is not None:
                setattr(out, field, float(seconds) * 1000.0)
    return out


def _reasoning(delta: Any) -> str | None:
    value = _get(delta, "reasoning")
    return value if value is not None else _get(delta, "reasoning_content")


class StreamNotSupported(ValueError):
    """The server sent a whole JSON body to a streaming request (classified as ``protocol``)."""


class ChatCompletionsProvider:
    """OpenAI-style chat completions via an official SDK client."""

    client = "sdk"

    def __init__(self, provider: str, settings: ClientSettings) -> None:
        self.provider = provider
        kwargs: dict[str, Any] = {
            "api_key": settings.api_key or _NO_KEY,
            "max_retries": settings.max_retries,
            "timeout": settings.timeout_s,
        }
        if settings.base_url:
            # The groq SDK appends /openai/v1 itself; accept the OpenAI-style URL people copy too.
            url = settings.base_url.rstrip("/")
            kwargs["base_url"] = url.removesuffix("/openai/v1") if provider == "groq" else url
        if provider == "groq":
            import groq
            import httpx

            limits = httpx.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size)
            kwargs["http_client"] = instrument(groq.DefaultAsyncHttpxClient(limits=limits, event_hooks=EVENT_HOOKS))
            self._sdk: Any = groq.AsyncGroq(**kwargs)
        else:
            import httpx2
            import openai

            limits = httpx2.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size)
            kwargs["http_client"] = instrument(openai.DefaultAsyncHttpxClient(limits=limits, event_hooks=EVENT_HOOKS))
            self._sdk = openai.AsyncOpenAI(**kwargs)

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        messages = list(request.messages)
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        params: dict[str, Any] = {"model": request.model, "messages": messages, "stream": request.stream}
        if self.provider == "openai":
            params["max_completion_tokens"] = request.max_tokens
        else:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        extra_body = dict(request.extra_body)
        if request.stream and request.include_usage:
            if self.provider == "groq":
                extra_body.setdefault("stream_options", {"include_usage": True})
            else:
                params["stream_options"] = {"include_usage": True}
        return with_extras(params, extra_body, request.extra_headers)

    async def events(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        params = self._params(request)
        response = await self._sdk.chat.completions.create(**params)
        if not request.stream:
            yield self._whole(response)
            return
        try:
            content_type = response.response.headers.get("content-type", "")
            if "json" in content_type and "event-stream" not in content_type:
                # Some servers ignore stream=true: timing a whole body as a stream would be a lie.
                raise StreamNotSupported(
                    f"the server answered stream=true with {content_type}, not an event stream; "
                    "set [request] stream = false for this server"
                )
            async for chunk in response:
                event = StreamEvent(response_id=chunk.id)
                choices = chunk.choices
                if choices:
                    choice = choices[0]
                    delta = choice.delta
                    if delta is not None:
                        content = delta.content
                        # The role-only opener ({"role":"assistant","content":""}) is no token;
                        # a later empty string is (a byte-fallback piece of a character).
                        event.answer = None if content == "" and delta.role else content
                        event.reasoning = _reasoning(delta)
                    event.finish_reason = choice.finish_reason
                x_groq = _get(chunk, "x_groq")
                usage = chunk.usage
                if usage is not None or x_groq is not None:
                    event.usage = _usage(usage, _get(x_groq, "usage"))
                yield event
        finally:
            await response.close()

    @staticmethod
    def _whole(completion: Any) -> StreamEvent:
        event = StreamEvent(response_id=completion.id)
        if completion.choices:
            choice = completion.choices[0]
            event.answer = choice.message.content or ""
            event.reasoning = _reasoning(choice.message)
            event.finish_reason = choice.finish_reason
        x_groq = _get(completion, "x_groq")
        event.usage = _usage(completion.usage, _get(x_groq, "usage"))
        return event

    async def list_models(self) -> list[str]:
        page = await self._sdk.models.list()
        return sorted(model.id for model in page.data)

    async def aclose(self) -> None:
        await self._sdk.close()
