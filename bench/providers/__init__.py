"""Provider registry: (wire protocol, client path) → Provider class.

Adding a provider or a leaner client path is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.providers.base import ClientSettings, Provider, ProviderRequest, StreamEvent, Usage

Factory = Callable[[str, ClientSettings], Provider]


def _chat(provider: str, settings: ClientSettings) -> Provider:
    from bench.providers.openai_chat import ChatCompletionsProvider

    return ChatCompletionsProvider(provider, settings)


def _messages(provider: str, settings: ClientSettings) -> Provider:
    from bench.providers.anthropic_messages import MessagesProvider

    return MessagesProvider(provider, settings)


def _fast_chat(provider: str, settings: ClientSettings) -> Provider:
    from bench.providers.fast import FastChatProvider

    return FastChatProvider(provider, settings)


def _fast_messages(provider: str, settings: ClientSettings) -> Provider:
    from bench.providers.fast import FastMessagesProvider

    return FastMessagesProvider(provider, settings)


REGISTRY: dict[tuple[str, str], Factory] = {
    ("groq", "sdk"): _chat,
    ("openai", "sdk"): _chat,
    ("openai-compatible", "sdk"): _chat,
    ("anthropic", "sdk"): _messages,
    ("groq", "fast"): _fast_chat,
    ("openai", "fast"): _fast_chat,
    ("openai-compatible", "fast"): _fast_chat,
    ("anthropic", "fast"): _fast_messages,
}


def make_provider(provider: str, settings: ClientSettings, client: str = "sdk") -> Provider:
    try:
        factory = REGISTRY[(provider, client)]
    except KeyError:
        raise ValueError(f"no {client!r} client for provider {provider!r}") from None
    return factory(provider, settings)


__all__ = ["ClientSettings", "Provider", "ProviderRequest", "StreamEvent", "Usage", "make_provider", "REGISTRY"]
