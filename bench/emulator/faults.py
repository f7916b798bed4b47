"""Fault injection: which faults exist, how one is chosen, and what each provider answers.

Kinds are named after the error kinds of docs/metrics.md so a scenario's ``faults = {rate_limited = 0.05}``
reads the same as the ``error_kind`` column the harness should record for it. Two kinds have
no error_kind of their own: ``timeout`` (a stall; the harness sees its own timeout) and
``midstream_error`` (an error event inside a 200 stream, which the harness records as
``server_error``, or ``overloaded`` for Anthropic: see :func:`expected_error_kind`).

The status codes, types and codes follow reference/provider-protocols.md, so each one lands on
the exception class the SDK raises for the real thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bench.schema import ERROR_KINDS, FAULT_KINDS, STREAM_FAULTS

#: Stream faults that are not error kinds themselves (see :func:`expected_error_kind`).
_NOT_ERROR_KINDS: Final = ("midstream_error",)
assert all(k in ERROR_KINDS for k in STREAM_FAULTS if k not in _NOT_ERROR_KINDS), "faults and schema.ERROR_KINDS drifted"


@dataclass(frozen=True)
class ErrorSpec:
    """One error answer, before a dialect formats it: status, ``type``, ``code`` and message."""

    status: int
    type: str
    code: str | None
    message: str


# (status, type, code, message) per dialect; "{model}" is filled in.
_OPENAI: Final[dict[str, tuple[int, str, str | None, str]]] = {
    "rate_limited": (429, "requests", "rate_limit_exceeded",
                     "Rate limit reached for {model} in organization org-bench on requests per min "
                     "(RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms."),
    "auth": (401, "invalid_request_error", "invalid_api_key",
             "Incorrect API key provided: sk-bench****. You can find your API key at "
             "https://platform.openai.com/account/api-keys."),
    "permission": (403, "invalid_request_error", None,
                   "You are not allowed to sample from this model"),
    "quota": (429, "insufficient_quota", "insufficient_quota",
              "You exceeded your current quota, please check your plan and billing details."),
    "model_not_found": (404, "invalid_request_error", "model_not_found",
                        "The model `{model}` does not exist or you do not have access to it."),
    "model_decommissioned": (400, "invalid_request_error", "model_decommissioned",
                             "The model `{model}` has been decommissioned and is no longer supported."),
    "bad_request": (400, "invalid_request_error", None,
                    "Invalid value for 'messages': the emulator was asked to reject this request."),
    "server_error": (500, "server_error", None,
                     "The server had an error while processing your request. Sorry about that!"),
    "overloaded": (503, "service_unavailable_error", "server_is_overloaded",
                   "The server is overloaded or not ready yet."),
}  # fmt: skip
_GROQ: Final[dict[str, tuple[int, str, str | None, str]]] = {
    **_OPENAI,
    "rate_limited": (429, "tokens", "rate_limit_exceeded",
                     "Rate limit reached for model `{model}` in organization `org_bench` service tier "
                     "`on_demand` on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. "
                     "Please try again in 5.289s."),
    "auth": (401, "invalid_request_error", "invalid_api_key", "Invalid API Key"),
    "permission": (403, "permissions_error", "permission_denied",
                   "Access to model `{model}` is not allowed for this organization."),
    "model_decommissioned": (400, "invalid_request_error", "model_decommissioned",
                             "The model `{model}` has been decommissioned and is no longer supported. "
                             "Please refer to https://console.groq.com/docs/deprecations for a "
                             "recommendation on which model to use instead."),
    "server_error": (500, "internal_server_error", "internal_server_error", "Internal Server Error"),
    "overloaded": (503, "internal_server_error", "service_unavailable",
                   "Service Unavailable: over capacity, please retry"),
}  # fmt: skip
# Anthropic's "code" is its details.error_code (the SDK's e.error_code). The API has no
# documented answer for a retired model; the emulator says 400 with error_code
# "model_decommissioned" so the harness can tell it from an unknown id (404).
_ANTHROPIC: Final[dict[str, tuple[int, str, str | None, str]]] = {
    "rate_limited": (429, "rate_limit_error", None,
                     "This request would exceed the rate limit for your organization of 50 requests "
                     "per minute. Please try again later."),
    "auth": (401, "authentication_error", None, "invalid x-api-key"),
    "permission": (403, "permission_error", None,
                   "Your API key does not have permission to use the specified resource."),
    "quota": (402, "billing_error", None,
              "Your credit balance is too low to access the Anthropic API."),
    "model_not_found": (404, "not_found_error", None, "model: {model}"),
    "model_decommissioned": (400, "invalid_request_error", "model_decommissioned",
                             "model: {model} has been retired and is no longer available."),
    "bad_request": (400, "invalid_request_error", None,
                    "messages: the emulator was asked to reject this request"),
    "server_error": (500, "api_error", None, "Internal server error"),
    "overloaded": (529, "overloaded_error", None, "Overloaded"),
}  # fmt: skip
_TABLES: Final = {"openai": _OPENAI, "groq": _GROQ, "anthropic": _ANTHROPIC}

#: The error inside a 200 stream (``midstream_error``), per dialect.
MIDSTREAM: Final[dict[str, ErrorSpec]] = {
    "openai": ErrorSpec(200, "server_error", None, _OPENAI["server_error"][3]),
    "groq": ErrorSpec(200, "internal_server_error", "internal_server_error", "Internal Server Error"),
    "anthropic": ErrorSpec(200, "overloaded_error", None, "Overloaded"),
}


def http_error(kind: str, dialect: str, model: str) -> ErrorSpec:
    """The error a provider answers for an HTTP fault ``kind``."""
    status, type_, code, message = _TABLES[dialect][kind]
    return ErrorSpec(status, type_, code, message.replace("{model}", model))


def choose_fault(shares: Mapping[str, float], draw: float) -> str | None:
    """The fault whose share covers ``draw`` (uniform on [0, 1)), or None for a clean answer.

    Shares are laid end to end in FAULT_KINDS order, so a given draw always picks the same kind.
    """
    edge = 0.0
    for kind in FAULT_KINDS:
        edge += shares.get(kind, 0.0)
        if draw < edge:
            return kind
    return None


def expected_error_kind(fault: str, dialect: str) -> str:
    """The ``error_kind`` (docs/metrics.md) a harness should record for a fault (for its own tests)."""
    if fault == "midstream_error":
        return "overloaded" if dialect == "anthropic" else "server_error"
    return fault
