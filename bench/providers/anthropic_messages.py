"""Anthropic's Messages API through ``AsyncAnthropic``: the native event stream, not a shim.

Quirks handled here: SDK 2.x takes no ``temperature`` argument (it goes through
``extra_body``); system text is a top-level field, not a message; ``message_delta.usage``
holds running totals that replace earlier ones; input tokens are input + cache read +
cache creation (DESIGN §3).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from bench.providers.base import ClientSettings, ProviderRequest, StreamEvent, Usage, with_extras
from bench.timing import EVENT_HOOKS, instrument


def _input_tokens(usage: Any) -> int | None:
    if usage is None or getattr(usage, "input_tokens", None) is None:
        return None
    return (
        (usage.input_tokens or 0)
        + (getattr(usage, "cache_read_input_tokens", None) or 0)
        + (getattr(usage, "cache_creation_input_tokens", None) or 0)
    )


class MessagesProvider:
    client = "sdk"

    def __init__(self, provider: str, settings: ClientSettings) -> None:
        import anthropic
        import httpx2

        self.provider = provider
        limits = httpx2.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size)
        kwargs: dict[str, Any] = {
            "api_key": settings.api_key,
            "max_retries": settings.max_retries,
            "timeout": settings.timeout_s,
            "http_client": instrument(anthropic.DefaultAsyncHttpxClient(limits=limits, event_hooks=EVENT_HOOKS)),
        }
        if settings.base_url:
            # The SDK appends /v1/messages itself; accept a base URL written with /v1 too.
            kwargs["base_url"] = settings.base_url.rstrip("/").removesuffix("/v1")
        self._sdk = anthropic.AsyncAnthropic(**kwargs)

    @staticmethod
    def _params(request: ProviderRequest) -> dict[str, Any]:
        system_parts = [request.system] if request.system else []
        messages = []
        for message in request.messages:
            if message.get("role") == "system":
                system_parts.append(str(message.get("content", "")))
            else:
                messages.append(message)
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": messages,
            "stream": request.stream,
        }
        if system_parts:
            params["system"] = "\n\n".join(system_parts)
        extra_body = dict(request.extra_body)
        if request.temperature is not None:
            extra_body.setdefault("temperature", request.temperature)
        return with_extras(params, extra_body, request.extra_headers)

    async def events(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        response = await self._sdk.messages.create(**self._params(request))
        if not request.stream:
            yield self._whole(response)
            return
        usage = Usage()
        try:
            async for ev in response:
                kind = ev.type
                if kind == "content_block_delta":
                    delta = ev.delta
                    dtype = delta.type
                    if dtype == "text_delta":
                        yield StreamEvent(answer=delta.text)
                    elif dtype == "thinking_delta":
                        yield StreamEvent(reasoning=delta.thinking)
                elif kind == "message_start":
                    message = ev.message
                    usage.input_tokens = _input_tokens(message.usage)
                    usage.output_tokens = getattr(message.usage, "output_tokens", None)
                    yield StreamEvent(response_id=message.id, usage=Usage(input_tokens=usage.input_tokens))
                elif kind == "message_delta":
                    if ev.usage is not None:
                        usage.output_tokens = ev.usage.output_tokens
                        usage.input_tokens = _input_tokens(ev.usage) or usage.input_tokens
                    yield StreamEvent(finish_reason=ev.delta.stop_reason, usage=Usage(**_fields(usage)))
        finally:
            await response.close()

    @staticmethod
    def _whole(message: Any) -> StreamEvent:
        text = "".join(getattr(block, "text", "") for block in message.content if getattr(block, "type", "") == "text")
        thinking = "".join(
            getattr(block, "thinking", "") for block in message.content if getattr(block, "type", "") == "thinking"
        )
        return StreamEvent(
            answer=text,
            reasoning=thinking or None,
            finish_reason=message.stop_reason,
            response_id=message.id,
            usage=Usage(output_tokens=message.usage.output_tokens, input_tokens=_input_tokens(message.usage)),
        )

    async def list_models(self) -> list[str]:
        page = await self._sdk.models.list()
        return sorted(model.id for model in page.data)

    async def aclose(self) -> None:
        await self._sdk.close()


def _fields(usage: Usage) -> dict[str, Any]:
    return {name: getattr(usage, name) for name in Usage.__slots__}  # type: ignore[attr-defined]
