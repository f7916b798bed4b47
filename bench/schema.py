"""The per-request results schema (docs/metrics.md): one place that names every column and its dtype.

Writers (the runner), readers (``load_results``), metrics, reports and the CI gate all use
these names, so a column is spelled once. Dtypes are pandas extension-free on purpose:
floats with NaN for "does not apply", so vectorised maths never meets ``pd.NA``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

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
#: The closed set of error kinds (docs/metrics.md). Anything a provider raises maps onto one of these.
ErrorKind = Literal[HttpErrorKind, ClientErrorKind]
HTTP_ERROR_KINDS: Final[tuple[str, ...]] = get_args(HttpErrorKind)
ERROR_KINDS: Final[tuple[str, ...]] = get_args(ErrorKind)

Unit = Literal["", "ms", "ns", "tok/s", "tokens"]


@dataclass(frozen=True)
class Column:
    """Everything the harness knows about one per-request column, said once.

    The frame's dtypes, the statistics ``metrics.aggregate`` computes, the SLO keys and
    ``bench compare --metric`` choices, the report's labels and headers, the run summary's and
    the sweep's terse names, and the gate's units all read this table.
    """

    name: str
    dtype: str
    unit: Unit = ""
    #: What a reader calls it in prose, SLO rules and chart labels ("first token").
    label: str = ""
    #: The report's table header when it differs from ``label`` ("e2e" for "end-to-end").
    header: str = ""
    #: The terse name of terminal lines and sweep answers ("TTFT"); the column name if empty.
    abbrev: str = ""
    #: Speeds improve upwards and their bad tail is the low end; latencies the other way.
    higher_is_better: bool = False
    #: May be named by an SLO (``ttft_p99_ms``) and compared by the CI gate.
    slo: bool = False
    #: Summarised with p50/p90/p95/p99/mean by ``metrics.aggregate`` (a latency).
    stats: bool = False
    #: Its median gets a bootstrap CI in ``metrics.aggregate``.
    ci: bool = False

    @property
    def heading(self) -> str:
        """The name a report table's header starts with."""
        return self.header or self.label or self.name


def _latency(name: str, label: str, **kw: Any) -> Column:
    return Column(name, "float64", "ms", label, slo=True, **kw)


def _speed(name: str, label: str, **kw: Any) -> Column:
    return Column(name, "float64", "tok/s", label, higher_is_better=True, slo=True, **kw)


#: Every column of a results frame, in the order a frame presents them (``RequestRecord``'s
#: field order: ``records`` asserts the two agree).
TABLE: Final[tuple[Column, ...]] = (
    Column("run_id", "string"),
    Column("target", "string"),
    Column("provider", "string"),
    Column("model", "string"),
    Column("load_mode", "string"),
    Column("load_level", "float64"),
    Column("request_index", "int64"),
    Column("warmup", "bool"),
    Column("stream", "bool"),
    Column("client", "string"),
    # The request shape's group: a ladder's rung, a length bin, a cache state (or "").
    Column("shape", "string"),
    Column("status", "string"),
    Column("error_kind", "string"),
    Column("error_message", "string"),
    Column("http_status", "float64"),
    Column("retries", "int64"),
    Column("started_at_ns", "int64", "ns"),
    _latency("sdk_prep_ms", "SDK preparation", abbrev="SDK prep"),
    _latency("ttfb_ms", "first byte (headers)", abbrev="TTFB", stats=True),
    _latency("ttft_ms", "first token", abbrev="TTFT", stats=True, ci=True),
    _latency("ttfa_ms", "first answer token", abbrev="TTFA", stats=True, ci=True),
    _latency("e2e_ms", "end-to-end", header="e2e", abbrev="e2e", stats=True, ci=True),
    Column("output_tokens", "float64", "tokens"),
    Column("reasoning_tokens", "float64", "tokens"),
    Column("input_tokens", "float64", "tokens"),
    Column("cached_input_tokens", "float64", "tokens"),
    Column("cache_write_input_tokens", "float64", "tokens"),
    Column("token_source", "string"),
    Column("content_chunks", "int64"),
    Column("tool_call_chunks", "int64"),
    # A list of every gap of the request: pooled over requests, never an SLO of its own.
    Column("itl_ms", "object", "ms", "inter-token gap", header="ITL", abbrev="ITL", stats=True),
    _speed("output_tps", "tokens/s", abbrev="output tokens/s", ci=True),
    _latency("tpot_ms", "time per output token", abbrev="TPOT", stats=True, ci=True),
    _latency("response_100_ms", "100-token answer", abbrev="100-token answer", stats=True, ci=True),
    Column("finish_reason", "string"),
    Column("request_id", "string"),
    _latency("queue_ms", "server queue", abbrev="server queue"),
    _latency("prompt_ms", "server prompt processing"),
    _latency("completion_ms", "server completion"),
    _speed("server_output_tps", "server tokens/s", abbrev="server tokens/s"),
    # When an open-loop request was due: a schedule, not a measurement.
    Column("scheduled_ms", "float64", "ms"),
    _latency("start_lag_ms", "start lag", abbrev="start lag"),
    # What the request asked for (the provider's count of the prompt is input_tokens).
    Column("input_tokens_asked", "float64", "tokens"),
    Column("max_tokens_asked", "float64", "tokens"),
    Column("conversation", "float64"),
    Column("turn", "float64"),
    Column("worker", "int64"),
)

#: Name -> column.
BY_NAME: Final[dict[str, Column]] = {c.name: c for c in TABLE}
#: Column name -> pandas dtype, in the order a frame presents them.
COLUMNS: Final[dict[str, str]] = {c.name: c.dtype for c in TABLE}


def higher_is_better(column: str) -> bool:
    """Speeds improve upwards, everything else (latencies) downwards."""
    col = BY_NAME.get(column)
    return col is not None and col.higher_is_better


def label(column: str) -> str:
    """A column's name in prose ("first token"); the name itself when it has none."""
    col = BY_NAME.get(column)
    return col.label if col is not None and col.label else column


def abbrev(column: str) -> str:
    """A column's terse name ("TTFT"); the name itself when it has none."""
    col = BY_NAME.get(column)
    return col.abbrev if col is not None and col.abbrev else column


def unit(column: str) -> Unit:
    col = BY_NAME.get(column)
    return col.unit if col is not None else ""


#: Faults answered with an HTTP error status instead of a response: one per error kind that
#: a provider says with a status (``schema.HttpErrorKind``), named the same.
HTTP_FAULTS: Final[tuple[str, ...]] = HTTP_ERROR_KINDS


#: Faults that start a 200 response and then break it.
STREAM_FAULTS: Final[tuple[str, ...]] = ("stream_interrupted", "timeout", "protocol", "midstream_error")


#: Every fault kind a scenario or the ``x-bench-fault`` header may name, in the (fixed) order
#: shares are laid out on [0, 1) when one is drawn.
FAULT_KINDS: Final[tuple[str, ...]] = HTTP_FAULTS + STREAM_FAULTS


#: How a level's load is offered: closed loop (``concurrency``: streams held open at once) or
#: open loop (``rate``: Poisson arrivals per second). docs/scenarios.md.
LoadMode = Literal["concurrency", "rate"]
LOAD_MODES: Final[tuple[str, ...]] = get_args(LoadMode)


@dataclass(frozen=True, slots=True)
class LoadLevel:
    """One load level: its mode and value. ``text`` is the one way a level is written, in
    every output (summary, report, gate, sweep, plugin): ``concurrency 4``, ``2.5 req/s``."""

    mode: LoadMode
    value: float

    @classmethod
    def of(cls, mode: object, value: Any) -> LoadLevel:
        """A level as read back from results, where the mode is text (a foreign or older file
        may hold another word: it is printed as written, never refused here)."""
        return cls(cast(LoadMode, str(mode)), float(value))

    @property
    def open_loop(self) -> bool:
        return self.mode == "rate"

    @property
    def number(self) -> str:
        """The value alone: whole numbers without a decimal point (``4``, ``2.5``)."""
        value = float(self.value)
        return f"{int(value)}" if value.is_integer() else f"{value:g}"

    @property
    def text(self) -> str:
        if self.mode == "rate":
            return f"{self.number} req/s"
        return f"{self.mode} {self.number}".strip()

    def __str__(self) -> str:
        return self.text
