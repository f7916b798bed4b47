"""The lean client path (``client = "fast"``): each wire format without the SDK on the hot path.

It sends the request the SDK would send — same URL, same headers (read from an SDK client
built once, never used to send), same body (``chat_wire``/``messages_wire`` build it for both
paths) — over ``bench.providers.lean_http``, and reads the stream with minimal per-chunk work.
It goes the SDK's way (proxies, trusted certificates, redirects) and retries when and after
how long the SDK would (``bench.providers.retries``). One difference, on purpose: it asks for
an uncompressed body. Tests drive both paths against the same servers and require the same
outcome.
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
from bench.providers.lean_http import LeanClient
from bench.providers.lean_protocol import DONE, Connection, Decoder, Response
from bench.providers.network import Network, note_proxy
from bench.providers.retries import RetryPolicy

#: The header in which the SDKs number a request's attempts (0 for the first).
RETRY_COUNT = "x-stainless-retry-count"
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


def _sdk_client(sdk: str, api_key: str | None, timeout_s: float, max_retries: int) -> tuple[Any, Any, Any]:
    """The official SDK client, built once and never used to send (its transport sends nothing
    and reads no environment): it says which headers the SDK sends and decides retries as the
    SDK does. Returns the client, its ``FinalRequestOptions`` class and its headers class."""
    if sdk == "anthropic":
        import anthropic
        import anthropic._models
        import httpx2

        http: Any = httpx2.AsyncClient(transport=httpx2.AsyncBaseTransport())
        client: Any = anthropic.AsyncAnthropic(
            api_key=api_key, base_url="http://localhost", timeout=timeout_s, max_retries=max_retries, http_client=http
        )
        return client, anthropic._models.FinalRequestOptions, httpx2.Headers
    if sdk == "groq":
        import groq
        import groq._models
        import httpx

        http = httpx.AsyncClient(transport=httpx.AsyncBaseTransport())
        client = groq.AsyncGroq(
            api_key=api_key, base_url="http://localhost", timeout=timeout_s, max_retries=max_retries, http_client=http
        )
        return client, groq._models.FinalRequestOptions, httpx.Headers
    import httpx2
    import openai
    import openai._models

    http = httpx2.AsyncClient(transport=httpx2.AsyncBaseTransport())
    client = openai.AsyncOpenAI(
        api_key=api_key, base_url="http://localhost", timeout=timeout_s, max_retries=max_retries, http_client=http
    )
    return client, openai._models.FinalRequestOptions, httpx2.Headers


def _sdk_headers(client: Any, options_type: Any) -> dict[str, str]:
    """The headers the official SDK sends (identity, platform, auth, API version, timeouts),
    built by the SDK itself for a first attempt, so they match it value for value."""
    try:
        # Per request the SDKs add x-stainless-retry-count, x-stainless-read-timeout (and
        # Anthropic's x-stainless-timeout) to their default headers: take them from the SDK.
        built = client._build_headers(options_type.construct(method="post", url="/"), retries_taken=0)
        headers = dict(built.items())
    except Exception:  # noqa: BLE001 - a private SDK method changed, or no key: the public defaults
        headers = {**client.default_headers, **client.auth_headers}
        headers[RETRY_COUNT] = "0"
    return {name: value for name, value in headers.items() if isinstance(value, str)}


class _LeanProvider:
    """What both wire formats share: send (with the SDK's retries), check the answer, stream or read the body."""

    client = "fast"

    def __init__(
        self, provider: str, sdk: str, api_key: str | None, base_url: str, settings: ClientSettings, path: str, models_path: str
    ) -> None:
        network = Network.for_provider(provider, trust_env=not settings.direct)
        sdk_client, options_type, headers_type = _sdk_client(sdk, api_key, settings.timeout_s, settings.max_retries)
        headers = _sdk_headers(sdk_client, options_type)
        # The SDK numbers its attempts in a header: sent per attempt, not with the fixed ones.
        self._count_attempts = headers.pop(RETRY_COUNT, None) is not None
        self._retries = RetryPolicy(settings.max_retries, sdk_client, options_type, headers_type)
        self._client = LeanClient(base_url, headers, settings.pool_size, network)
        #: The proxy this path's requests go through (None: direct), named in failures and run.json.
        self.proxy = self._client.proxy.url if self._client.proxy is not None else None
        self._path = path
        self._models_path = models_path

    def _body(self, request: ProviderRequest) -> bytes:
        raise NotImplementedError

    def _encoded(self, request: ProviderRequest) -> bytes:
        """The body, and a handed-over request's messages let go: from here the body is the
        prompt's only copy (docs/scale.md, "Memory of a long prompt")."""
        body = self._body(request)
        if request.hand_over:
            request.messages.clear()
        return body

    def _decoder(self) -> Decoder:
        raise NotImplementedError

    def _whole(self, body: Any, received_ns: int) -> StreamEvent:
        raise NotImplementedError

    async def _attempt(
        self, method: str, path: str, body: bytes, extra_headers: dict[str, str], decoder: Decoder | None, retry: int
    ) -> tuple[Connection, Response]:
        """One attempt: the request (through any redirects) up to its final answer's headers —
        and, for a whole (non-streamed) answer, its body, which the SDK reads inside the attempt."""
        if self._count_attempts and not any(name.lower() == RETRY_COUNT for name in extra_headers):
            extra_headers = {RETRY_COUNT: str(retry), **extra_headers}
        conn, response = await self._client.open(method, path, body, extra_headers, decoder)
        if decoder is None and response.status < 300:
            try:
                await response.read_body()
            except BaseException:
                self._client.release(conn, response)
                raise
        return conn, response

    async def _open(
        self, method: str, path: str, body: bytes, extra_headers: dict[str, str], decoder: Decoder | None
    ) -> tuple[Connection, Response]:
        """Send as the SDK does: attempts that got no answer, and answers the SDK retries, go
        again after the SDK's wait, ``max_retries`` times at most. t0 stays at the first attempt
        and every further one is counted (``retries``), as on the SDK path."""
        retries = self._retries
        retry = 0
        while True:
            try:
                conn, response = await self._attempt(method, path, body, extra_headers, decoder, retry)
            except ProviderFailure as exc:
                if retry >= retries.max_retries:
                    note_proxy(exc, self.proxy)
                    raise
                delay = retries.delay_s(retry, None)
            else:
                if response.status < 300 or retry >= retries.max_retries:
                    return conn, response
                if not retries.should_retry(response.status, response.headers):
                    return conn, response
                timing.mark_response(response.headers_ns, response.status, _request_id(response))
                self._client.release(conn, response)  # unread, as the SDK closes it: not kept
                delay = retries.delay_s(retry, response.headers)
            await anyio.sleep(delay)
            retry += 1
            timing.next_attempt()

    async def events(self, request: ProviderRequest) -> AsyncGenerator[StreamEvent, None]:
        decoder = self._decoder() if request.stream else None
        # The encoded body is handed over, not kept: it is freed once the response headers are
        # in, so a long prompt is not held twice for the whole stream (docs/scale.md).
        conn, response = await self._open("POST", self._path, self._encoded(request), request.extra_headers, decoder)
        try:
            timing.mark_response(response.headers_ns, response.status, _request_id(response))
            if response.status >= 300:
                parsed, text = _error_body(await response.read_body())
                raise note_proxy(StatusError(response.status, parsed, text), self.proxy)
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
        conn, response = await self._open("GET", self._models_path, b"", {}, None)
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
        path = self.flavour.path
        models = path.removesuffix("/chat/completions") + "/models"
        super().__init__(provider, sdk, settings.api_key or chat_wire.NO_KEY, base, settings, path, models)

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
        super().__init__(provider, "anthropic", settings.api_key, base, settings, messages_wire.PATH, "/v1/models")

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
