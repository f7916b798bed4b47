"""The per-request results schema (DESIGN §3): one place that names every column and its dtype.

Writers (the runner), readers (``load_results``), metrics, reports and the CI gate all use
these names, so a column is spelled once. Dtypes are pandas extension-free on purpose:
floats with NaN for "does not apply", so vectorised maths never meets ``pd.NA``.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: Error kinds a provider answers with an HTTP error status (or an error event naming one):
#: the emulator injects exactly these as its HTTP faults (``bench.emulator.faults``).
HttpErrorKind = Literal[
    "rate_limited",
    "auth",
    "permission",
    "quota",
    "model_not_found",
    "model_decommissioned",
    "bad_request",
    "server_error",
    "overloaded",
]
#: Error kinds the client itself observes: no HTTP status says them.
ClientErrorKind = Literal[
    "timeout",
    "connection",
    "stream_interrupted",
    "protocol",
    "cancelled",
    "client_resources",
    "other",
]
#: The closed set of error kinds (DESIGN §3). Anything a provider raises maps onto one of these.
ErrorKind = Literal[HttpErrorKind, ClientErrorKind]
HTTP_ERROR_KINDS: Final[tuple[str, ...]] = get_args(HttpErrorKind)
ERROR_KINDS: Final[tuple[str, ...]] = get_args(ErrorKind)

#: Column name -> pandas dtype, in the order a frame presents them.
COLUMNS: Final[dict[str, str]] = {
    "run_id": "string",
    "target": "string",
    "provider": "string",
    "model": "string",
    "load_mode": "string",
    "load_level": "float64",
    "request_index": "int64",
    "warmup": "bool",
    "stream": "bool",
    "client": "string",
    "status": "string",
    "error_kind": "string",
    "error_message": "string",
    "http_status": "float64",
    "retries": "int64",
    "started_at_ns": "int64",
    "sdk_prep_ms": "float64",
    "ttfb_ms": "float64",
    "ttft_ms": "float64",
    "ttfa_ms": "float64",
    "e2e_ms": "float64",
    "output_tokens": "float64",
    "reasoning_tokens": "float64",
    "input_tokens": "float64",
    "token_source": "string",
    "content_chunks": "int64",
    "itl_ms": "object",
    "output_tps": "float64",
    "tpot_ms": "float64",
    "response_100_ms": "float64",
    "finish_reason": "string",
    "request_id": "string",
    "queue_ms": "float64",
    "prompt_ms": "float64",
    "completion_ms": "float64",
    "server_output_tps": "float64",
    "scheduled_ms": "float64",
    "start_lag_ms": "float64",
    "worker": "int64",
}

#: Speed columns: larger is better, the bad tail is the low end.
SPEED_COLUMNS: Final[tuple[str, ...]] = ("output_tps", "server_output_tps")


def higher_is_better(column: str) -> bool:
    """Speeds improve upwards, everything else (latencies) downwards."""
    return column in SPEED_COLUMNS
