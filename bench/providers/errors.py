"""The project's own failure types, raised by the lean client path and shared wire code.

``bench.providers.classify.classify`` maps these by type (not by class-name strings) onto the closed set
of error kinds, beside the SDKs' and transports' exceptions. Each carries what the mapping
reads: ``status_code``, and ``body``/``code``/``type`` from the provider's error JSON.
"""

from __future__ import annotations

import errno
from typing import Any

from bench.errors import BenchException

#: OSError numbers that mean the client machine ran out of something (open files, ports, memory).
CLIENT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM})


class ProviderFailure(BenchException):
    """Base class: a provider answered or behaved in a way that ends the request."""

    status_code: int | None = None
    body: Any = None
    code: str | None = None
    type: str | None = None


class StatusError(ProviderFailure):
    """An HTTP error status (4xx/5xx) with the provider's error body."""

    def __init__(self, status_code: int, body: Any, text: str) -> None:
        self.status_code = status_code
        self.body = body
        inner = body.get("error") if isinstance(body, dict) else None
        if isinstance(inner, dict):
            self.code = inner.get("code") if isinstance(inner.get("code"), str) else None
            self.type = inner.get("type") if isinstance(inner.get("type"), str) else None
        super().__init__(f"Error code: {status_code} - {text}")


class StreamErrorEvent(ProviderFailure):
    """An error event inside a 200 stream (Anthropic ``event: error``, OpenAI/Groq ``{"error": …}``).

    ``status_code`` is the response's (200); ``bench.providers.classify`` reads the status the error's
    body names, so the record says what the provider said."""

    def __init__(self, error: Any) -> None:
        self.body = error
        self.status_code = 200
        if isinstance(error, dict):
            self.code = error.get("code") if isinstance(error.get("code"), str) else None
            self.type = error.get("type") if isinstance(error.get("type"), str) else None
        message = error.get("message") if isinstance(error, dict) else None
        super().__init__(f"error event in the stream: {message or error}")


class StreamNotSupported(ProviderFailure, ValueError):
    """The server sent a whole JSON body to a streaming request (classified as ``protocol``)."""


class ProtocolViolation(ProviderFailure):
    """Bytes that are not the wire format: bad HTTP, bad JSON in an event, unknown encoding."""


class StreamCut(ProviderFailure):
    """The connection closed before the response ended (mid-stream: ``stream_interrupted``)."""


class ConnectFailed(ProviderFailure):
    """Could not open a connection (refused, unreachable, DNS)."""


class ClientResourceError(ProviderFailure):
    """The client machine ran out of something (file descriptors, ephemeral ports): not the provider."""
