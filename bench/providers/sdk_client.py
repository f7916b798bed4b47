"""The one place an official SDK client is built: pool sized to the level, timing hooks in.

Each SDK rides a different HTTP library (groq on httpx, openai and anthropic on httpx2), but
they are built the same way: a connection pool as large as the level's concurrency (so no
request waits for a connection after t0), bench's event hooks, and the instrumented network
backend that stamps when a request leaves (``bench.timing``).
"""

from __future__ import annotations

import sys
from typing import Any

from bench.errors import BenchError
from bench.providers.base import ClientSettings
from bench.providers.network import Network
from bench.timing import EVENT_HOOKS, instrument


def _known_platform(client: Any) -> Any:
    """A fresh SDK client works out its platform headers on its first request, through a worker
    thread (``asyncify(get_platform)``): a thread hop billed to that request's latency, on every
    level's fresh client. Set it up front instead (a private attribute; without it, the SDK
    simply does it itself as before)."""
    if getattr(client, "_platform", "absent") is None:
        module = sys.modules.get(type(client).__module__.split(".")[0] + "._base_client")
        get_platform = getattr(module, "get_platform", None)
        if get_platform is not None:
            try:
                client._platform = get_platform()
            except Exception:  # noqa: BLE001 - only an optimisation; the SDK falls back to its own way
                pass
    return client


def build_sdk(sdk: str, settings: ClientSettings, base_url: str | None, api_key: str | None) -> Any:
    """An ``AsyncGroq``, ``AsyncOpenAI`` or ``AsyncAnthropic`` client for ``settings``.

    A client its HTTP library cannot build from the environment (a SOCKS proxy without
    ``socksio``, a proxy URL of an unknown scheme) is bad input: one line, not a traceback."""
    try:
        client = _build(sdk, settings, base_url, api_key)
    except (ImportError, ValueError) as exc:
        raise BenchError(f"cannot build the {sdk} SDK client: {exc}") from None
    return _known_platform(client)


def _build(sdk: str, settings: ClientSettings, base_url: str | None, api_key: str | None) -> Any:
    kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": settings.max_retries, "timeout": settings.timeout_s}
    if base_url:
        kwargs["base_url"] = base_url
    http: dict[str, Any] = {"event_hooks": EVENT_HOOKS}
    if settings.direct:
        # Bench's own server on loopback: mounts that override the environment's proxies and
        # change nothing else (trust_env=False would also drop SSL_CERT_* and take other code
        # paths than the measured client's, which the warm-up is there to exercise).
        http["mounts"] = dict.fromkeys(("all://", "http://", "https://"))
    if sdk == "groq":
        import groq
        import httpx

        limits: Any = httpx.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size)
        kwargs["http_client"] = instrument(groq.DefaultAsyncHttpxClient(limits=limits, **http))
        return groq.AsyncGroq(**kwargs)
    import httpx2

    limits = httpx2.Limits(max_connections=settings.pool_size, max_keepalive_connections=settings.pool_size)
    if sdk == "anthropic":
        import anthropic

        kwargs["http_client"] = instrument(anthropic.DefaultAsyncHttpxClient(limits=limits, **http))
        return anthropic.AsyncAnthropic(**kwargs)
    import openai

    kwargs["http_client"] = instrument(openai.DefaultAsyncHttpxClient(limits=limits, **http))
    return openai.AsyncOpenAI(**kwargs)


def sdk_proxy(provider: str, settings: ClientSettings, url: str) -> str | None:
    """The proxy the SDK's HTTP library will send requests to ``url`` through (None: direct),
    so failures can name it: the SDK's own errors do not."""
    return Network.for_provider(provider, trust_env=not settings.direct).proxy_url(url)


def sdk_headers(client: Any) -> dict[str, str]:
    """The headers the SDK sends on every request (its defaults and auth), for the lean path."""
    headers = {**client.default_headers, **client.auth_headers}
    return {name: value for name, value in headers.items() if isinstance(value, str)}
