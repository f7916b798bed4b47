"""Map whatever a provider raised onto the closed set of error kinds (docs/metrics.md).

The three SDKs share class names (``RateLimitError``, ``APIConnectionError`` …) but not
classes, and the transports raise httpx/httpx2 errors of their own, so classification is by
status code, the error body's code/type, and class name — one table for every provider.
Messages are recorded for people, so they are cut short and scrubbed of anything that
looks like a key.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from bench.providers.errors import (
    CLIENT_ERRNOS,
    ClientResourceError,
    ConnectFailed,
    ProtocolViolation,
    ProviderFailure,
    StreamCut,
    StreamNotSupported,
)

MAX_MESSAGE = 300

_KEYISH = re.compile(r"(?i)(bearer\s+)[^\s,'\"}]+|\b(gsk|sk|sk-ant|sk-proj|xai)[-_][A-Za-z0-9_\-]{6,}")


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    http_status: int | None
    message: str


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Drop secrets and key-shaped strings; keep the message short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _KEYISH.sub(lambda m: (m.group(1) or "") + "***", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _body_codes(exc: Any) -> str:
    """Codes and types from the error body, lower-cased, for matching."""
    parts: list[str] = []
    for attr in ("code", "type"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            parts.append(value)
    body = getattr(exc, "body", None)
    if isinstance(body, (dict, list)):
        parts.append(json.dumps(body))
    elif isinstance(body, str):
        parts.append(body)
    return " ".join(parts).lower()


_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "auth",
    402: "quota",
    403: "permission",
    404: "model_not_found",
    408: "timeout",
    413: "bad_request",
    422: "bad_request",
    429: "rate_limited",
    498: "overloaded",
    503: "overloaded",
    529: "overloaded",
}


def _from_codes(codes: str) -> str | None:
    if "model_decommissioned" in codes or "decommissioned" in codes:
        return "model_decommissioned"
    if "insufficient_quota" in codes or "billing" in codes or "spend_limit" in codes:
        return "quota"
    if "model_not_found" in codes:
        return "model_not_found"
    if "overloaded" in codes or "capacity" in codes or "service_unavailable" in codes:
        return "overloaded"
    if "rate_limit" in codes:
        return "rate_limited"
    if "authentication" in codes or "invalid_api_key" in codes:
        return "auth"
    if "permission" in codes:
        return "permission"
    if "timeout" in codes:
        return "timeout"
    if "invalid_request" in codes:
        return "bad_request"
    if "server_error" in codes or "api_error" in codes or "internal" in codes:
        return "server_error"
    return None


#: Anthropic error types → the HTTP status the same error has as a response.
_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _status_in_body(exc: BaseException) -> int | None:
    """The HTTP status an in-stream error's body names: an integer ``code``/``status`` (vLLM and
    others), or an Anthropic error type."""
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        for key in ("code", "status"):
            value = inner.get(key)
            if isinstance(value, int) and 400 <= value < 600:
                return value
        kind = inner.get("type")
        if isinstance(kind, str) and kind in _TYPE_STATUS:
            return _TYPE_STATUS[kind]
    kind = getattr(exc, "type", None)
    return _TYPE_STATUS.get(kind) if isinstance(kind, str) else None


def _from_status(status: int, codes: str) -> str:
    """The status decides; the body only refines where providers overload one status."""
    if status == 400:
        if "decommissioned" in codes:
            return "model_decommissioned"
        return "model_not_found" if "model_not_found" in codes else "bad_request"
    if status in (402, 429):
        if "insufficient_quota" in codes or "billing" in codes or "spend_limit" in codes or status == 402:
            return "quota"
        return "rate_limited"
    if status == 403:
        return "quota" if "insufficient_quota" in codes else "permission"
    if status == 404:
        # A wrong path (say, a base_url without /v1) is a 404 too: only a model 404 is model_not_found.
        return "model_not_found" if "model" in codes or not codes else "other"
    if status >= 500 and "overloaded" in codes:
        return "overloaded"
    return _BY_STATUS.get(status) or ("server_error" if status >= 500 else "other")


def _client_limit(exc: BaseException) -> OSError | None:
    """The OSError anywhere in ``exc``'s chain that says the client ran out of something."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in CLIENT_ERRNOS:
            return current
        current = current.__cause__ or current.__context__
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first — also past a ``raise … from None``, with
    which httpcore tidies its tracebacks (and hides the cause)."""
    seen: set[int] = set()
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _cause(exc: BaseException, text: str) -> str | None:
    """What lies under a wrapper's message ("Connection error."), unless ``text`` says it
    already: the innermost error that says something — TLS, DNS, an errno by its name, a
    proxy's answer, a redirect loop with where it led."""
    for inner in reversed(_chain(exc)[1:]):
        detail = str(inner)
        if isinstance(inner, OSError) and not isinstance(inner, ssl.SSLError | socket.gaierror) and inner.errno:
            name = os.strerror(inner.errno)
            detail = name if detail in text else f"{name}: {detail}"
            return None if name in text else detail
        if type(inner).__name__ in ("TooManyRedirects", "UnsupportedProtocol"):
            url = getattr(getattr(inner, "_request", None), "url", None)
            detail = f"{detail} (to {url})" if url is not None else detail
        if detail:
            return None if detail in text else detail
    return None


def _message(exc: BaseException, status: int | None, secrets: tuple[str, ...]) -> str:
    """``Type: message``; for another library's failure without an answer, its cause where the
    message hides it; any notes (the proxy it went through). The project's own errors say
    their cause, and an answer's status and body say what went wrong."""
    text = f"{type(exc).__name__}: {exc}"
    cause = None if isinstance(exc, ProviderFailure) or status is not None else _cause(exc, text)
    if cause:
        text += f" ({cause})"
    for note in getattr(exc, "__notes__", ()):
        text += f"; {note}"
    return scrub(text, secrets)


def classify(exc: BaseException, *, streaming_started: bool, secrets: tuple[str, ...] = ()) -> Failure:
    """The error kind for ``exc``; ``streaming_started`` tells a cut stream from a failed connect."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = None
    message = _message(exc, status, secrets)
    codes = _body_codes(exc)

    limit = exc if isinstance(exc, ClientResourceError) else _client_limit(exc)
    if limit is not None:
        detail = scrub(str(limit), secrets)
        return Failure("client_resources", None, f"client ran out of resources, not a provider error: {detail}")
    if isinstance(exc, StreamNotSupported | ProtocolViolation):
        return Failure("protocol", status, message)
    if isinstance(exc, StreamCut):
        return Failure("stream_interrupted" if streaming_started else "connection", status, message)
    if isinstance(exc, ConnectFailed):
        return Failure("connection", status, message)
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return Failure("timeout", status, message)
    if status is not None and status != 200:
        return Failure(_from_status(status, codes), status, message)
    if status == 200 or (name == "APIError" and codes):
        # An error event inside a 200 stream (Anthropic `event: error`, Groq/OpenAI {"error":…}):
        # the record carries the status the error's body names, where it names one.
        return Failure(_from_codes(codes) or "server_error", _status_in_body(exc) or 200, message)
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) or name in (
        "APIResponseValidationError",
        "DecodingError",
        "LocalProtocolError",
    ):
        return Failure("protocol", status, message)
    transport_cut = name in ("RemoteProtocolError", "ReadError", "StreamClosed", "ClosedResourceError") or (
        "APIConnectionError" in name
    )
    if transport_cut:
        cause = exc.__cause__ or exc.__context__
        if cause is not None and "Timeout" in type(cause).__name__:
            return Failure("timeout", status, message)
        return Failure("stream_interrupted" if streaming_started else "connection", status, message)
    if name in ("ConnectError", "ConnectionRefusedError", "OSError", "ConnectionError"):
        return Failure("connection", status, message)
    return Failure("other", status, message)
