"""SLO rules parsed from a scenario's ``[slo]`` table (DESIGN §4).

Keys are ``<column>_<stat>[_ms]`` (``ttft_p50_ms``, ``output_tps_p50``, ``response_100_ms_p50``),
``error_rate_max``, and ``request_<column>[_ms]`` for per-request goodput thresholds. Latencies
are upper bounds and speeds lower bounds, so the direction follows from the column and the
file never has to say it. Kept apart from ``scenario`` so metrics can evaluate rules without
importing the scenario loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.schema import COLUMNS, higher_is_better

STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "mean")
Stat = Literal["p50", "p90", "p95", "p99", "mean"]

#: Columns an SLO may name: numeric per-request measurements.
SLO_COLUMNS: tuple[str, ...] = tuple(
    name
    for name, dtype in COLUMNS.items()
    if dtype == "float64"
    and name
    not in {"load_level", "http_status", "scheduled_ms", "output_tokens", "reasoning_tokens", "input_tokens"}
)


@dataclass(frozen=True)
class AggregateSlo:
    """A bound on one statistic of one column over a (target, load level)."""

    key: str
    column: str
    stat: Stat
    threshold: float

    @property
    def at_least(self) -> bool:
        return higher_is_better(self.column)

    def passes(self, measured: float) -> bool:
        return measured >= self.threshold if self.at_least else measured <= self.threshold


@dataclass(frozen=True)
class RequestSlo:
    """A per-request bound; a request meeting every one counts towards goodput."""

    key: str
    column: str
    threshold: float

    @property
    def at_least(self) -> bool:
        return higher_is_better(self.column)


@dataclass(frozen=True)
class SloSpec:
    aggregate: tuple[AggregateSlo, ...] = ()
    per_request: tuple[RequestSlo, ...] = ()
    error_rate_max: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.aggregate or self.per_request or self.error_rate_max is not None)


def _column_for(base: str, ms_suffix: bool) -> str | None:
    candidates = [base + "_ms", base] if ms_suffix else [base, base + "_ms"]
    for name in candidates:
        if name in SLO_COLUMNS:
            return name
    return None


def valid_keys() -> list[str]:
    """Every key a user may write, for "did you mean" suggestions."""
    keys = ["error_rate_max"]
    for column in SLO_COLUMNS:
        bare = column[:-3] if column.endswith("_ms") else column
        for stat in STATS:
            keys.append(f"{bare}_{stat}_ms" if column.endswith("_ms") else f"{column}_{stat}")
            if column.endswith("_ms"):
                keys.append(f"{column}_{stat}")
        keys.append(f"request_{column}")
    return keys


def parse_key(key: str, value: float) -> AggregateSlo | RequestSlo | None:
    """Turn one ``[slo]`` entry into a rule, or None when the key means nothing."""
    if key.startswith("request_"):
        rest = key[len("request_") :]
        ms = rest.endswith("_ms")
        column = _column_for(rest[:-3] if ms else rest, ms)
        return RequestSlo(key, column, float(value)) if column else None
    ms = key.endswith("_ms")
    stem = key[:-3] if ms else key
    base, _, stat = stem.rpartition("_")
    if stat not in STATS or not base:
        return None
    column = _column_for(base, ms)
    return AggregateSlo(key, column, stat, float(value)) if column else None  # type: ignore[arg-type]


def slo_from_table(table: dict[str, float] | None) -> SloSpec:
    """Build an SloSpec from a validated ``[slo]`` table (as stored in run.json's scenario).

    Unknown keys were rejected when the scenario was loaded; here they are skipped so an old
    run.json never breaks a report.
    """
    aggregate: list[AggregateSlo] = []
    per_request: list[RequestSlo] = []
    error_rate_max: float | None = None
    for key, value in (table or {}).items():
        if key == "error_rate_max":
            error_rate_max = float(value)
            continue
        rule = parse_key(key, value)
        if isinstance(rule, AggregateSlo):
            aggregate.append(rule)
        elif isinstance(rule, RequestSlo):
            per_request.append(rule)
    return SloSpec(tuple(aggregate), tuple(per_request), error_rate_max)
