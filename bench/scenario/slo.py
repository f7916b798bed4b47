"""SLO rules parsed from a scenario's ``[slo]`` table (docs/scenarios.md).

Keys are ``<column>_<stat>[_ms]`` (``ttft_p50_ms``, ``output_tps_p50``, ``response_100_ms_p50``),
``error_rate_max``, and ``request_<column>[_ms]`` for per-request goodput thresholds. Latencies
are upper bounds and speeds lower bounds, so the direction follows from the column and the
file never has to say it. Kept apart from ``scenario`` so metrics can evaluate rules without
importing the scenario loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from bench.scenario.shapes import parse
from bench.schema import TABLE, higher_is_better

STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "mean")
Stat = Literal["p50", "p90", "p95", "p99", "mean"]

#: Columns an SLO may name: numeric per-request measurements (``schema.Column.slo``).
SLO_COLUMNS: tuple[str, ...] = tuple(c.name for c in TABLE if c.slo)


def _is_stat(name: str) -> TypeGuard[Stat]:
    return name in STATS


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


#: The keys of a ``[slo.class.NAME]`` that say which request shapes it covers.
SELECTORS: tuple[str, ...] = ("input_tokens", "max_tokens", "cache")


def _within(values: tuple[int, ...], span: tuple[float, float] | None) -> bool:
    return not values or (span is not None and any(span[0] <= v <= span[1] for v in values))


@dataclass(frozen=True)
class SloClass:
    """``[slo.class.NAME]`` (bench/scenario/slo_class.py): the rules ``table`` hold for groups
    whose shape label it covers — a rung equal to one of its lengths, a bin containing one, the
    cache state it names — over the scenario's and the target's own rules."""

    name: str
    input_tokens: tuple[int, ...] = ()
    max_tokens: tuple[int, ...] = ()
    cache: str | None = None
    table: tuple[tuple[str, float], ...] = ()

    def covers(self, shape: str) -> bool:
        if not shape:
            return False
        parts = parse(shape)
        return (
            _within(self.input_tokens, parts.input_range)
            and _within(self.max_tokens, parts.output_range)
            and (self.cache is None or self.cache == parts.cache)
        )


@dataclass(frozen=True)
class SloSpec:
    """The scenario-wide rules, plus each target's own rules where it has a ``[target.slo]``.

    ``targets`` holds, per target label, the *merged* spec (scenario-wide table overridden and
    extended by the target's table), so :meth:`for_target` is a lookup, never a merge.
    """

    aggregate: tuple[AggregateSlo, ...] = ()
    per_request: tuple[RequestSlo, ...] = ()
    error_rate_max: float | None = None
    targets: tuple[tuple[str, SloSpec], ...] = ()
    classes: tuple[SloClass, ...] = ()

    @property
    def empty(self) -> bool:
        """No rule at all, scenario-wide or for any target."""
        return not (self._has_rules or self.classes or any(not spec.empty for _, spec in self.targets))

    @property
    def has_checks(self) -> bool:
        """Some rule gives a verdict (per-request rules only feed goodput)."""
        return (
            self._has_checks
            or any(spec.has_checks for _, spec in self.targets)
            or any(key == "error_rate_max" or not key.startswith("request_") for c in self.classes for key, _ in c.table)
        )

    @property
    def has_per_request(self) -> bool:
        return (
            bool(self.per_request)
            or any(spec.per_request for _, spec in self.targets)
            or any(key.startswith("request_") for c in self.classes for key, _ in c.table)
        )

    @property
    def _has_rules(self) -> bool:
        return bool(self.aggregate or self.per_request or self.error_rate_max is not None)

    @property
    def _has_checks(self) -> bool:
        return bool(self.aggregate) or self.error_rate_max is not None

    def for_target(self, label: str) -> SloSpec:
        """The rules that apply to one target: its merged table, else the scenario-wide one."""
        for name, spec in self.targets:
            if name == label:
                return spec
        return SloSpec(self.aggregate, self.per_request, self.error_rate_max)

    def for_group(self, target: str, shape: str = "") -> SloSpec:
        """The rules for one group: its target's, with the rules of the class that covers its
        request shape (if one does) in place of the same keys."""
        spec = self.for_target(target)
        for klass in self.classes:
            if klass.covers(shape):
                own = slo_from_table(dict(klass.table))
                aggregate = {r.key: r for r in spec.aggregate} | {r.key: r for r in own.aggregate}
                per_request = {r.key: r for r in spec.per_request} | {r.key: r for r in own.per_request}
                rate = own.error_rate_max if own.error_rate_max is not None else spec.error_rate_max
                spec = SloSpec(tuple(aggregate.values()), tuple(per_request.values()), rate)
        return spec


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
    if not _is_stat(stat) or not base:
        return None
    column = _column_for(base, ms)
    return AggregateSlo(key, column, stat, float(value)) if column else None


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


def merged_table(scenario_wide: dict[str, float] | None, own: dict[str, float] | None) -> dict[str, float]:
    """A target's effective ``[slo]`` table: the scenario-wide one, overridden and extended by its own."""
    return {**(scenario_wide or {}), **(own or {})}


def slo_for_scenario(scenario: dict[str, Any] | None) -> SloSpec:
    """Every SLO of a resolved scenario (run.json's ``scenario``): ``slo`` and each target's ``slo``.

    A run recorded before per-target tables existed simply has none: its scenario-wide table
    applies to every target, as it did then.
    """
    scenario = scenario if isinstance(scenario, dict) else {}
    wide = scenario.get("slo") if isinstance(scenario.get("slo"), dict) else None
    base = slo_from_table(wide)
    per_target: list[tuple[str, SloSpec]] = []
    for target in scenario.get("targets") or ():
        if not isinstance(target, dict):
            continue
        own = target.get("slo")
        label = target.get("label")
        if isinstance(own, dict) and own and label:
            per_target.append((str(label), slo_from_table(merged_table(wide, own))))
    classes = scenario.get("slo_classes")
    return SloSpec(
        base.aggregate,
        base.per_request,
        base.error_rate_max,
        tuple(per_target),
        classes_from_tables(classes if isinstance(classes, dict) else {}),
    )


def classes_from_tables(tables: dict[str, Any]) -> tuple[SloClass, ...]:
    """``slo_classes`` as run.json records them (bench/scenario/slo_class.py writes them)."""
    out = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            continue
        lengths = {k: tuple(int(v) for v in table.get(k) or ()) for k in ("input_tokens", "max_tokens")}
        rules = tuple((k, float(v)) for k, v in table.items() if k not in SELECTORS and isinstance(v, (int, float)))
        out.append(SloClass(str(name), lengths["input_tokens"], lengths["max_tokens"], table.get("cache"), rules))
    return tuple(out)
