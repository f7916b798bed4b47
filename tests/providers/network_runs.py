"""Driving one network case through both client paths, and the origin answers the cases use.

``both`` runs a case through the SDK path and the lean path and requires the same status, error
kind, HTTP status and retries (docs/method.md, "Network: proxies, TLS, redirects, retries").
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from bench.providers import ClientSettings, make_provider
from bench.results.records import RequestRecord
from bench.run.measure import measure_request
from bench.run.runner import loop_options
from tests.providers.client_runs import KEY, base_url, new_record, request
from tests.providers.raw_server import (
    LAST,
    Answer,
    Seen,
    chat,
    chunked,
    head,
    keep_alive_stream,
)

CLIENTS = ("sdk", "fast")
PROVIDERS = ("groq", "openai", "anthropic")
#: What both paths must record alike.
OUTCOME = ("status", "error_kind", "http_status", "retries")


# ---------------------------------------------------------------------------- driving both paths


def measure(
    client: str,
    provider: str,
    root: str,
    *,
    max_retries: int = 0,
    n: int = 1,
    stream: bool = True,
    between: Callable[[], None] | None = None,
) -> list[RequestRecord]:
    """``n`` requests one after another through one client (as a level has); ``between`` runs
    on the event loop's own thread, so it can hold the loop."""

    async def go() -> list[RequestRecord]:
        settings = ClientSettings(base_url(provider, root), KEY, 4, 5.0, max_retries)
        p = make_provider(provider, settings, client)
        records = []
        try:
            for i in range(n):
                if i and between is not None:
                    between()
                record = new_record(client, provider, i)
                record.stream = stream
                req = request(provider, stream=stream)
                records.append(await measure_request(p, req, record, timeout_s=5.0, secrets=(KEY,)))
        finally:
            await p.aclose()
        return records

    return anyio.run(go, backend_options=loop_options())


def both(
    provider: str, make_origin: Callable[[], Any], *, must_name: tuple[str, ...] = (), **kwargs: Any
) -> dict[str, tuple[RequestRecord, Any]]:
    """The case through each path (a fresh origin each); asserts the same outcome on both and
    that both error messages name what ``must_name`` lists."""
    results = {}
    for client in CLIENTS:
        origin = make_origin()
        records = measure(client, provider, origin.url, **kwargs)
        results[client] = (records[-1], origin)
    sdk, fast = results["sdk"][0], results["fast"][0]
    assert [getattr(sdk, f) for f in OUTCOME] == [getattr(fast, f) for f in OUTCOME], (
        [getattr(sdk, f) for f in OUTCOME],
        [getattr(fast, f) for f in OUTCOME],
        sdk.error_message,
        fast.error_message,
    )
    for record, _ in results.values():
        for text in must_name:
            assert text in (record.error_message or ""), (record.client, text, record.error_message)
        assert KEY not in (record.error_message or "")
    return results


def outcome(record: RequestRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, f) for f in OUTCOME)


# ---------------------------------------------------------------------------- answers


def stream_answer(seen: Seen, sock: socket.socket) -> bool:
    return keep_alive_stream(seen, sock)


Step = Callable[[Seen, socket.socket], None]


def answer_status(status: int, body: bytes = b"", *, extra: str = "") -> Step:
    def send(seen: Seen, sock: socket.socket) -> None:
        sock.sendall(head(status, "application/json", length=len(body), extra=extra.format(path=seen.path)) + body)

    return send


def redirect(status: int, location: str) -> Step:
    """A redirect; ``{path}`` in ``location`` is the request's own path."""
    return answer_status(status, extra=f"location: {location}")


def in_turn(*steps: Step | None) -> Callable[[], Answer]:
    """An origin that answers its n-th request with ``steps[n]`` (the last repeats); None means
    a stream (chat or messages, by the path)."""

    def make() -> Answer:
        count = 0

        def answer(seen: Seen, sock: socket.socket) -> bool:
            nonlocal count
            step = steps[min(count, len(steps) - 1)]
            count += 1
            if step is None:
                return stream_answer(seen, sock)
            step(seen, sock)
            return True

        return answer

    return make


def error_json(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}}).encode()


def hang_up(seen: Seen, sock: socket.socket) -> None:
    sock.close()


def nothing_usable(seen: Seen, sock: socket.socket) -> None:
    sock.sendall(head() + chunked(b"hello, not an event stream\n\n") + LAST)


def cut_after_one_event(seen: Seen, sock: socket.socket) -> None:
    sock.sendall(head() + chunked(chat({"content": "Hi"})))
    sock.close()


def scenario_file(tmp_path: Path, targets: str, *, emulate: bool) -> Path:
    """A scenario file with these targets, live or emulated, two requests at concurrency 1."""
    path = tmp_path / "s.toml"
    path.write_text(
        f'[scenario]\nname = "net"\nemulate = {"true" if emulate else "false"}\n{targets}\n'
        "[request]\nmax_tokens = 8\n\n[load]\nconcurrency = [1]\nrequests = 2\ntimeout_s = 5\n"
    )
    return path
