"""Anthropic's Messages API through ``AsyncAnthropic``: the native event stream, not a shim.

The request and the meaning of each event live in ``bench.providers.messages_wire``, shared
with the lean client path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from bench.providers import messages_wire
from bench.providers.base import ClientSettings, ProviderRequest, StreamEvent, with_extras
from bench.providers.network import api_url, note_proxy
from bench.providers.sdk_client import build_sdk, sdk_proxy


class MessagesProvider:
    client = "sdk"

    def __init__(self, provider: str, settings: ClientSettings) -> None:
        self.provider = provider
        url = messages_wire.base_url(settings.base_url) if settings.base_url else None
        self._sdk: Any = build_sdk("anthropic", settings, url, settings.api_key)
        self.proxy = sdk_proxy(provider, settings, api_url(provider, settings.base_url))

    async def events(self, request: ProviderRequest) -> AsyncGenerator[StreamEvent, None]:
        params, extra_body = messages_wire.params(request)
        try:
            response = await self._sdk.messages.create(**with_extras(params, extra_body, request.extra_headers))
        except Exception as exc:
            note_proxy(exc, self.proxy)
            raise
        if not request.stream:
            yield messages_wire.whole_event(response)
            return
        reader = messages_wire.EventReader()
        whole = False
        try:
            async for ev in response:
                if ev.type == "message_stop":
                    whole = True  # read on to the body's end, so the connection can be reused
                    continue
                event = reader.event(ev.type, ev)
                if event is not None:
                    yield event
        except Exception:
            if not whole:  # a cut after message_stop does not undo a whole message
                raise
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
