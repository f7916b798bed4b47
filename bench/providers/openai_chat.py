"""Chat Completions through the official SDKs: OpenAI, Groq, and any OpenAI-compatible server.

One wire format (``bench.providers.chat_wire``), two SDKs: ``AsyncGroq`` (built on httpx) for
Groq and ``AsyncOpenAI`` (built on httpx2) for OpenAI and OpenAI-compatible servers (vLLM,
llama.cpp, Ollama, Together …). The per-chunk loop reads SDK objects by attribute (the
fastest way through them); everything else is shared with the lean path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from bench.providers import chat_wire
from bench.providers.base import ClientSettings, ProviderRequest, StreamEvent, with_extras
from bench.providers.errors import StreamNotSupported
from bench.providers.network import api_url, note_proxy
from bench.providers.sdk_client import build_sdk, sdk_proxy


class ChatCompletionsProvider:
    """OpenAI-style chat completions via an official SDK client."""

    client = "sdk"

    def __init__(self, provider: str, settings: ClientSettings) -> None:
        self.provider = provider
        self.flavour = chat_wire.FLAVOURS[provider]
        url = chat_wire.base_url(self.flavour, settings.base_url) if settings.base_url else None
        sdk = "groq" if provider == "groq" else "openai"
        self._sdk: Any = build_sdk(sdk, settings, url, settings.api_key or chat_wire.NO_KEY)
        self.proxy = sdk_proxy(provider, settings, api_url(provider, settings.base_url))

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        params, extra_body = chat_wire.params(self.flavour, request)
        return with_extras(params, extra_body, request.extra_headers)

    async def events(self, request: ProviderRequest) -> AsyncGenerator[StreamEvent, None]:
        try:
            response = await self._sdk.chat.completions.create(**self._params(request))
        except Exception as exc:
            note_proxy(exc, self.proxy)
            raise
        if not request.stream:
            yield chat_wire.whole_event(response)
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
                        event.answer = None if content == "" and delta.role else content
                        event.reasoning = chat_wire.reasoning(delta)
                        calls = delta.tool_calls
                        if calls:
                            event.tool_call = chat_wire.tool_call_text(calls)
                    event.finish_reason = choice.finish_reason
                x_groq = chat_wire.get(chunk, "x_groq")
                usage = chunk.usage
                if usage is not None or x_groq is not None:
                    event.usage = chat_wire.usage(usage, chat_wire.get(x_groq, "usage"))
                yield event
        finally:
            await response.close()

    async def list_models(self) -> list[str]:
        try:
            page = await self._sdk.models.list()
        except Exception as exc:
            note_proxy(exc, self.proxy)
            raise
        return sorted(model.id for model in page.data)

    async def aclose(self) -> None:
        await self._sdk.close()
