"""The lean client path (``client = "fast"``): each wire format without the SDK on the hot path.

It sends the request the SDK would send — same URL, same headers (read from an SDK client
built once, never used to send), same body (``chat_wire``/``messages_wire`` build it for both
paths) — over ``bench.providers.lean_http``, and reads the stream with minimal per-chunk work.
Two differences, both on purpose: it asks for an uncompressed body, and it never retries.
The SDK path stays the default and the reference; tests drive both against the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import orjson

from bench import timing
from bench.providers import chat_wire, messages_wire
from bench.providers.base import ClientSettings, ProviderRequest, StreamEvent
from bench.providers.errors import ProtocolViolation, ProviderFailure, StatusError, StreamNotSupported
from bench.providers.lean_http import DONE, Decoder, LeanClient, Response

#: After a stream's last event, how long to wait for the HTTP body's end so the connection can
#: be kept for the next request (the OpenAI SDK drains for the same 0.1 s).
_DRAIN_S = 0.1


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(f"malformed JSON from the server: {exc}") from None


def _error_body(raw: bytes) -> tuple[Any, str]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace")
        return text, text
    return body, raw.decode("utf-8", "replace")


def _sdk_headers(sdk: str, api_key: str | None, timeout_s: float) -> dict[str, str]:
    """The headers the official SDK sends (identity, platform, auth, API version, timeouts),
    built by the SDK itself for a first attempt, so they match it value for value."""
    client: Any
    options_type: Any  # each SDK's own FinalRequestOptions (private, the same shape in all three)
    if sdk == "anthropic":
        import anthropic
        import anthropic._models

        client = anthropic.AsyncAnthropic(api_key=api_key, base_url="http://localhost", timeout=timeout_s)
        options_type = anthropic._models.FinalRequestOptions
    elif sdk == "groq":
        import groq
        import groq._models

        client = groq.AsyncGroq(api_key=api_key, base_url="http://localhost", timeout=timeout_s)
        options_type = groq._models.FinalRequestOptions
    else:
        import openai
        import openai._models

        client = openai.AsyncOpenAI(api_key=api_key, base_url="http://localhost", timeout=timeout_s)
        options_type = openai._models.FinalRequestOptions
    try:
        # Per request the SDKs add x-stainless-retry-count, x-stainless-read-timeout (and
        # Anthropic's x-stainless-timeout) to their default headers: take them from the SDK.
        built = client._build_headers(options_type.construct(method="post", url="/"), retries_taken=0)
        headers = dict(built.items())
    except Exception:  # noqa: BLE001 - a private SDK method changed, or no key: the public defaults
        headers = {**client.default_headers, **client.auth_headers}
        headers["x-stainless-retry-count"] = "0"
    return {name: value for name, value in headers.items() if isinstance(value, str)}


class _LeanProvider:
    """What both wire formats share: send, check the answer, stream or read the body."""

    client = "fast"

    def __init__(self, base_url: str, headers: dict[str, str], settings: ClientSettings, path: str, models_path: str) -> None:
        if settings.max_retries:
            raise ValueError("the fast client never retries: set [request] max_retries = 0, or use the sdk client")
        self._client = LeanClient(base_url, headers, settings.pool_size)
        self._path = path
        self._models_path = models_path

    def _body(self, request: ProviderRequest) -> bytes:
        raise NotImplementedError

    def _decoder(self) -> Decoder:
        raise NotImplementedError

    def _whole(self, body: Any, received_ns: int) -> StreamEvent:
        raise NotImplementedError

    async def events(self, request: ProviderRequest) -> AsyncGenerator[StreamEvent, None]:
        body = self._body(request)
        decoder = self._decoder() if request.stream else None
        conn, response = await self._client.open("POST", self._path, body, request.extra_headers, decoder)
        try:
            timing.mark_response(response.headers_ns, response.status, _request_id(response))
            if response.status >= 300:
                parsed, text = _error_body(await response.read_body())
                raise StatusError(response.status, parsed, text)
            if not request.stream:
                whole = _json(await response.read_body())
                yield self._whole(whole, response.end_ns)
                return
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                if "json" in content_type:
                    raise StreamNotSupported(
                        f"the server answered stream=true with {content_type}, not an event stream; "
                        "set [request] stream = false for this server"
                    )
                raise ProtocolViolation(f"expected an event stream, got content-type {content_type or '(none)'}")
            # Response.stream()'s loop, inlined with its wait: no async generator or coroutine of
            # its own to create and resume per read.
            events = response.events
            loop = asyncio.get_running_loop()
            while True:
                while events:
                    yield events.popleft()
                if response.error is not None and not response.done:  # after its end event the stream is whole
                    raise response.error
                if response.finished:
                    break
                waiter = response._waiter = loop.create_future()
                await waiter
            if not response.complete:
                # The stream ended with its end event; the body's end only decides whether the
                # connection can be kept, so a connection lost meanwhile fails nothing.
                with anyio.move_on_after(_DRAIN_S), contextlib.suppress(ProviderFailure):
                    await response.read_body()
        finally:
            self._client.release(conn, response)

    async def list_models(self) -> list[str]:
        conn, response = await self._client.open("GET", self._models_path, b"", {}, None)
        try:
            raw = await response.read_body()
        finally:
            self._client.release(conn, response)
        if response.status >= 300:
            parsed, text = _error_body(raw)
            raise StatusError(response.status, parsed, text)
        data = _json(raw).get("data") or []
        return sorted(str(model.get("id")) for model in data if isinstance(model, dict))

    async def aclose(self) -> None:
        await self._client.aclose()


def _request_id(response: Response) -> str | None:
    headers = response.headers
    return headers.get("x-request-id") or headers.get("request-id")


class FastChatProvider(_LeanProvider):
    """Chat Completions (Groq, OpenAI, OpenAI-compatible) on the lean client."""

    def __init__(self, provider: str, settings: ClientSettings) -> None:
        self.flavour = chat_wire.FLAVOURS[provider]
        base = chat_wire.base_url(self.flavour, settings.base_url)
        sdk = "groq" if provider == "groq" else "openai"
        headers = _sdk_headers(sdk, settings.api_key or chat_wire.NO_KEY, settings.timeout_s)
        path = self.flavour.path
        models = path.removesuffix("/chat/completions") + "/models"
        super().__init__(base, headers, settings, path, models)

    def _body(self, request: ProviderRequest) -> bytes:
        params, extra_body = chat_wire.params(self.flavour, request)
        return orjson.dumps({**params, **extra_body})

    def _decoder(self) -> Decoder:
        return _decode_chat

    def _whole(self, body: Any, received_ns: int) -> StreamEvent:
        return chat_wire.whole_event(body, received_ns)


def _decode_chat(name: bytes | None, data: bytes, received_ns: int) -> StreamEvent | None:
    """Runs per chunk: orjson straight in, no helper layers."""
    if data == b"[DONE]":
        return DONE
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(f"malformed JSON from the server: {exc}") from None
    if type(chunk) is not dict:
        raise ProtocolViolation(f"expected a JSON object in the stream, got {type(chunk).__name__}")
    return _chunk_event(chunk, received_ns)


_chunk_event = chat_wire.chunk_event


class FastMessagesProvider(_LeanProvider):
    """Anthropic Messages on the lean client."""

    def __init__(self, provider: str, settings: ClientSettings) -> None:
        base = messages_wire.base_url(settings.base_url)
        headers = _sdk_headers("anthropic", settings.api_key, settings.timeout_s)
        super().__init__(base, headers, settings, messages_wire.PATH, "/v1/models")

    def _body(self, request: ProviderRequest) -> bytes:
        params, extra_body = messages_wire.params(request)
        return orjson.dumps({**params, **extra_body})

    def _decoder(self) -> Decoder:
        reader = messages_wire.EventReader()

        def decode(name: bytes | None, data: bytes, received_ns: int) -> StreamEvent | None:
            event = _json(data)
            if not isinstance(event, dict):
                raise ProtocolViolation(f"expected a JSON object in the stream, got {type(event).__name__}")
            kind = event.get("type") or (name.decode("latin-1") if name else "")
            if kind == "message_stop":
                return DONE
            return reader.event(kind, event, received_ns)

        return decode

    def _whole(self, body: Any, received_ns: int) -> StreamEvent:
        return messages_wire.whole_event(body, received_ns)
