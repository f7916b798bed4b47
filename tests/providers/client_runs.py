"""One request driven through either client path (``sdk`` or ``fast``), and the two compared.

Both paths must record the same statuses, error kinds and counts for the same bytes
(docs/method.md, "Client paths"); these helpers measure a request the way a run does
(``bench.run.measure``) and assert the fields that must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from bench.providers import ClientSettings, ProviderRequest, make_provider
from bench.results.records import RequestRecord
from bench.run.measure import measure_request
from bench.run.runner import loop_options
from tests.providers.raw_server import Answer, RawServer

CLIENTS = ("sdk", "fast")
KEY = "test-key-123"
#: Headers the two paths set differently on purpose (see bench/providers/fast.py): the fast path
#: asks for an uncompressed body.
TRANSPORT_HEADERS = {"accept-encoding", "connection"}


# ---------------------------------------------------------------------------- driving a request


def request(
    provider: str, *, stream: bool = True, max_tokens: int = 8, extra_headers: dict[str, str] | None = None, model: str = "m"
) -> ProviderRequest:
    return ProviderRequest(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=max_tokens,
        stream=stream,
        temperature=0.0,
        system="Be brief." if provider == "anthropic" else None,
        extra_headers=extra_headers or {},
    )


def base_url(provider: str, root: str) -> str:
    return root + "/v1" if provider in ("openai", "openai-compatible") else root


def settings(provider: str, root: str, *, timeout_s: float = 5.0, pool: int = 4) -> ClientSettings:
    return ClientSettings(base_url(provider, root), KEY, pool, timeout_s, 0)


def new_record(client: str, provider: str, index: int = 0) -> RequestRecord:
    return RequestRecord(
        run_id="t",
        target=provider,
        provider=provider,
        model="m",
        load_mode="concurrency",
        load_level=1.0,
        request_index=index,
        warmup=False,
        stream=True,
        client=client,
    )


def measure_n(
    client: str,
    provider: str,
    root: str,
    n: int = 1,
    *,
    stream: bool = True,
    timeout_s: float = 5.0,
    between: Callable[[], None] | None = None,
    max_tokens: int = 8,
    extra_headers: dict[str, str] | None = None,
    model: str = "m",
    sent: ProviderRequest | None = None,
) -> list[RequestRecord]:
    """``n`` requests one after another through one provider (one client, as a level has):
    ``sent`` each time when given, else one built from the keywords."""

    async def go() -> list[RequestRecord]:
        p = make_provider(provider, settings(provider, root, timeout_s=timeout_s), client)
        records = []
        try:
            for i in range(n):
                if i and between is not None:
                    await anyio.to_thread.run_sync(between)
                record = new_record(client, provider, i)
                record.stream = stream
                req = sent or request(provider, stream=stream, max_tokens=max_tokens, extra_headers=extra_headers, model=model)
                records.append(await measure_request(p, req, record, timeout_s=timeout_s, secrets=(KEY,)))
        finally:
            await p.aclose()
        return records

    return anyio.run(go, backend_options=loop_options())


def measure(client: str, provider: str, root: str, **kwargs: Any) -> RequestRecord:
    return measure_n(client, provider, root, 1, **kwargs)[0]


#: Fields both client paths must agree on exactly for the same bytes.
EXACT = (
    "status",
    "error_kind",
    "http_status",
    "output_tokens",
    "input_tokens",
    "reasoning_tokens",
    "token_source",
    "content_chunks",
    "finish_reason",
    "request_id",
    "queue_ms",
    "prompt_ms",
    "completion_ms",
)


def both(provider: str, answer: Answer, raw: Callable[[Answer], RawServer], **kwargs: Any) -> dict[str, RequestRecord]:
    """The same answer measured through each client path; asserts they agree on every count."""
    records = {}
    for client in CLIENTS:
        server = raw(answer)
        records[client] = measure(client, provider, server.url, **kwargs)
    sdk, fast = records["sdk"], records["fast"]
    assert fast.client == "fast" and sdk.client == "sdk"
    for name in EXACT:
        assert getattr(fast, name) == getattr(sdk, name), (
            name,
            getattr(sdk, name),
            getattr(fast, name),
            sdk.error_message,
            fast.error_message,
        )
    assert (fast.ttfa_ms is None) == (sdk.ttfa_ms is None)
    assert len(fast.itl_ms) == len(sdk.itl_ms)
    return records
