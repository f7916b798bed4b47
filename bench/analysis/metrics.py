"""Frames → aggregates, bootstrap CIs, goodput and SLO verdicts: the one metrics module.

Reports, the CI gate and the run summary all read these functions, so a statistic is
defined once (docs/metrics.md):

* Percentiles are numpy's default (linear interpolation between order statistics, "type 7"),
  over successful (``status == "ok"``) measured requests; warm-up rows never count.
* Latency statistics: p50/p90/p95/p99 and mean. Speeds (``output_tps``): the bad tail is the
  *low* end, so p1/p10/p50 and mean; an SLO on ``output_tps_p90`` means "90 % of requests at
  least this fast", i.e. the 10th percentile (see :func:`stat_quantile`).
* ITL statistics pool every gap of every request in the group (vLLM's ITL). ``tpot_ms`` is
  what aiperf and guidellm call ITL.
* CIs are percentile-bootstrap intervals of the median (or another quantile), drawn by
  :mod:`bench.analysis.bootstrap` — the same draws the CI gate's ratio of medians uses.
* Aggregate output tokens/s and requests/s use the measured window: the first measured
  request's t0 (``started_at_ns``) to the last measured request's end (``started_at_ns +
  e2e_ms``). Wall clock is used here only because it is the one stamp comparable across
  requests; per-request latencies never use it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd

from bench.analysis.bootstrap import CONFIDENCE, MAX_SAMPLES, N_RESAMPLES, bootstrap_quantile_ci
from bench.fmt import target_name
from bench.scenario.slo import AggregateSlo, SloSpec
from bench.schema import TABLE, LoadLevel, abbrev, higher_is_better

GROUP_KEYS: Final[list[str]] = ["target", "load_mode", "load_level", "client", "shape"]


class GroupKey(NamedTuple):
    """What every statistic is grouped by (GROUP_KEYS): one target at one load level, measured
    by one client path. The metrics, the CI gate and the run summary all key their groups with
    it, so a target measured with both clients is two groups everywhere, never one mixed.
    ``client`` is "" where nothing says which client measured. ``shape`` is the request shape
    (a ladder's rung, a length bin, a cache state: bench/scenario/shapes.py), "" for a plain
    scenario and for results recorded before shapes existed."""

    target: str
    load_mode: str
    load_level: float
    client: str = ""
    shape: str = ""

    @property
    def name(self) -> str:
        """The target as this group names it: ``groq/llama`` or, measured by the SDK, ``groq/llama (sdk)``."""
        return target_name(self.target, self.client)

    @property
    def label(self) -> str:
        level = f"{self.name} @ {LoadLevel.of(self.load_mode, self.load_level).text}"
        return f"{level}, {self.shape}" if self.shape else level


#: Latency columns summarised with p50/p90/p95/p99/mean (``schema.Column.stats``): the
#: per-request figures first, then ``itl_ms``, which pools every gap of every request.
LATENCY_STAT_COLUMNS: Final[tuple[str, ...]] = tuple(
    [c.name for c in TABLE if c.stats and c.dtype != "object"] + [c.name for c in TABLE if c.stats and c.dtype == "object"]
)
LATENCY_PERCENTILES: Final[tuple[int, ...]] = (50, 90, 95, 99)
#: For speeds the bad tail is the low end.
SPEED_PERCENTILES: Final[tuple[int, ...]] = (1, 10, 50)
#: Columns whose median gets a bootstrap CI in ``aggregate`` (``schema.Column.ci``): latencies, then speeds.
CI_COLUMNS: Final[tuple[str, ...]] = tuple(sorted((c.name for c in TABLE if c.ci), key=higher_is_better))


def aggregate_columns() -> list[str]:
    """The columns of :func:`aggregate`'s frame, in order."""
    cols = [*GROUP_KEYS, "n", "ok", "errors", "error_rate"]
    for col in LATENCY_STAT_COLUMNS:
        cols += [f"{col}_p{p}" for p in LATENCY_PERCENTILES] + [f"{col}_mean"]
    cols += [f"output_tps_p{p}" for p in SPEED_PERCENTILES] + ["output_tps_mean"]
    for col in CI_COLUMNS:
        cols += [f"{col}_p50_ci_low", f"{col}_p50_ci_high"]
    cols += ["output_tokens_sum", "agg_output_tps", "rps", "window_s", "goodput_rps", "goodput_share"]
    return cols


# --------------------------------------------------------------------------- selection


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that count: warm-up rows are recorded but never enter a statistic, and neither
    are requests cancelled by Ctrl-C (the harness stopped them; the provider did not fail).

    Returns ``frame`` itself when there is nothing to drop (no copy: a million-row frame is
    filtered once, however many functions ask).
    """
    drop = frame["warmup"].to_numpy(dtype=bool, na_value=False)
    drop = drop | (frame["error_kind"] == "cancelled").to_numpy(dtype=bool, na_value=False)
    return frame.loc[~drop] if drop.any() else frame


def ok_mask(frame: pd.DataFrame) -> np.ndarray:
    """Per row: did the request succeed (``status == "ok"``)."""
    return (frame["status"] == "ok").to_numpy(dtype=bool, na_value=False)


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    return values[~np.isnan(values)]


def group_positions(frame: pd.DataFrame) -> list[tuple[GroupKey, np.ndarray]]:
    """(key, row positions) per GROUP_KEYS group, in order of first appearance."""
    if frame.empty:
        return []
    if "shape" not in frame.columns:  # a frame built before request shapes existed
        frame = frame.assign(shape="")
    codes = frame.groupby(GROUP_KEYS, sort=False, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    firsts = order[bounds[:-1]]  # each group's first row (codes follow first appearance)
    keys = frame[GROUP_KEYS].iloc[firsts]
    targets = keys["target"].astype("object").fillna("").tolist()
    modes = keys["load_mode"].astype("object").fillna("").tolist()
    levels = _floats(keys["load_level"]).tolist()
    clients = keys["client"].astype("object").fillna("").tolist()
    shapes = keys["shape"].astype("object").fillna("").tolist()
    return [
        (
            GroupKey(str(targets[g]), str(modes[g]), float(levels[g]), str(clients[g]), str(shapes[g])),
            order[bounds[g] : bounds[g + 1]],
        )
        for g in range(len(counts))
    ]


# --------------------------------------------------------------------------- statistics


def stat_quantile(column: str, stat: str) -> float | None:
    """The quantile (0–1) an SLO statistic names, or None for the mean.

    For speeds the bad tail is the low end: ``output_tps_p90`` is the speed 90 % of
    requests reach, i.e. the 10th percentile. ``p50`` is the median either way.
    """
    if stat == "mean":
        return None
    pct = float(stat.removeprefix("p"))
    return (100.0 - pct) / 100.0 if higher_is_better(column) else pct / 100.0


def percentiles(values: np.ndarray, pcts: tuple[int, ...] | list[float]) -> np.ndarray:
    """numpy's linear percentiles of the finite values; NaN when there are none."""
    x = _finite(values)
    if x.size == 0:
        return np.full(len(pcts), np.nan)
    return np.percentile(x, list(pcts))


def _mean(values: np.ndarray) -> float:
    x = _finite(values)
    return float(x.mean()) if x.size else math.nan


def bootstrap_median_ci(
    values: np.ndarray,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    max_samples: int = MAX_SAMPLES,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median (see :func:`bootstrap_quantile_ci`); NaN, NaN below 2 values.

    Groups larger than ``max_samples`` are subsampled (seeded) first, for speed; their
    interval is then conservative.
    """
    return bootstrap_quantile_ci(values, 0.5, n_resamples=n_resamples, confidence=confidence, seed=seed, max_samples=max_samples)


def _z(confidence: float) -> float:
    """Two-sided normal quantile (1.96 for 95 %); stdlib, because importing scipy.stats costs seconds."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def mean_ci(values: np.ndarray, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Normal-approximation CI of the mean (mean ± z·s/√n); NaN, NaN below 2 values."""
    x = _finite(values)
    if x.size < 2:
        return math.nan, math.nan
    half = _z(confidence) * float(x.std(ddof=1)) / math.sqrt(x.size)
    centre = float(x.mean())
    return centre - half, centre + half


def wilson_ci(successes: int, trials: int, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion (used for error rates); NaN, NaN without trials."""
    if trials <= 0:
        return math.nan, math.nan
    z = _z(confidence)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def pooled_itl(itl: pd.Series | np.ndarray) -> np.ndarray:
    """Every gap of every request, in one float array (vLLM's ITL pools them)."""
    seq: Iterable[Any]
    try:
        total = sum(map(len, itl))
        seq = itl
    except TypeError:  # a missing list (None or NaN) among them: drop those
        seq = [v for v in itl if v is not None and not isinstance(v, float)]
        total = sum(map(len, seq))
    if total == 0:
        return np.empty(0)
    return np.fromiter(itertools.chain.from_iterable(seq), dtype="float64", count=total)


def request_meets(frame: pd.DataFrame, slo: SloSpec) -> np.ndarray:
    """Per row: ok and within every per-request SLO. A value that is missing cannot meet a bound."""
    good = ok_mask(frame)
    for rule in slo.per_request:
        values = _floats(frame[rule.column])
        with np.errstate(invalid="ignore"):
            within = values >= rule.threshold if rule.at_least else values <= rule.threshold
        good = good & within & ~np.isnan(values)
    return good


# --------------------------------------------------------------------------- aggregate

#: The aggregate frame's text columns (the rest are numbers).
_TEXT_COLUMNS: Final[tuple[str, ...]] = ("target", "load_mode", "client", "shape")


def aggregate(frame: pd.DataFrame, slo: SloSpec | None = None, *, seed: int = 0, ci: bool = True) -> pd.DataFrame:
    """One row per (target, load_mode, load_level, client, shape) of measured requests, in order of appearance.

    Latency and speed statistics use ok rows only; counts, error rate and the window use
    every measured row. NaN marks a statistic that does not apply (never -1). ``goodput_*``
    are NaN unless ``slo`` has per-request thresholds.
    """
    m = measured(frame)
    columns = aggregate_columns()
    groups = group_positions(m)
    if not groups:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in _TEXT_COLUMNS else "float64") for c in columns})

    ok_all = ok_mask(m)
    arrays = {col: _floats(m[col]) for col in LATENCY_STAT_COLUMNS if col != "itl_ms"}
    arrays["output_tps"] = _floats(m["output_tps"])
    tokens = _floats(m["output_tokens"])
    started = m["started_at_ns"].to_numpy(dtype="int64")
    e2e = arrays["e2e_ms"]
    itl = m["itl_ms"].to_numpy(dtype=object)
    per_request = slo is not None and slo.has_per_request

    rows: list[dict[str, object]] = []
    for (target, mode, level, client, shape), idx in groups:
        ok = ok_all[idx]
        n = int(idx.size)
        n_ok = int(ok.sum())
        ok_idx = idx[ok]
        row: dict[str, object] = {
            "target": target,
            "load_mode": mode,
            "load_level": level,
            "client": client,
            "shape": shape,
            "n": n,
            "ok": n_ok,
            "errors": n - n_ok,
            "error_rate": (n - n_ok) / n,
        }
        samples: dict[str, np.ndarray] = {}
        for col in LATENCY_STAT_COLUMNS:
            vals = pooled_itl(itl[ok_idx]) if col == "itl_ms" else _finite(arrays[col][ok_idx])
            samples[col] = vals
            for p, v in zip(LATENCY_PERCENTILES, percentiles(vals, LATENCY_PERCENTILES), strict=True):
                row[f"{col}_p{p}"] = float(v)
            row[f"{col}_mean"] = _mean(vals)
        tps = _finite(arrays["output_tps"][ok_idx])
        samples["output_tps"] = tps
        for p, v in zip(SPEED_PERCENTILES, percentiles(tps, SPEED_PERCENTILES), strict=True):
            row[f"output_tps_p{p}"] = float(v)
        row["output_tps_mean"] = _mean(tps)
        for col in CI_COLUMNS:
            low, high = bootstrap_median_ci(samples[col], seed=seed) if ci else (math.nan, math.nan)
            row[f"{col}_p50_ci_low"] = low
            row[f"{col}_p50_ci_high"] = high

        # The measured window: first t0 to last end, in ns relative to the first start.
        first = int(started[idx].min())
        ends = (started[idx] - first).astype("float64") + np.nan_to_num(e2e[idx], nan=0.0) * 1e6
        window_s = float(ends.max()) / 1e9
        window_s = window_s if window_s > 0 else math.nan
        token_sum = float(np.nansum(tokens[ok_idx]))
        row["output_tokens_sum"] = token_sum
        row["agg_output_tps"] = token_sum / window_s
        row["rps"] = n / window_s
        row["window_s"] = window_s
        rules = slo.for_group(target, shape) if per_request and slo is not None else None
        if rules is not None and rules.per_request:
            n_good = int(request_meets(m.iloc[idx], rules).sum())
            row["goodput_rps"] = n_good / window_s
            row["goodput_share"] = n_good / n
        else:
            row["goodput_rps"] = math.nan
            row["goodput_share"] = math.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    for c in columns:
        if c not in _TEXT_COLUMNS:
            out[c] = out[c].astype("int64" if c in ("n", "ok", "errors") else "float64")
    return out


# --------------------------------------------------------------------------- SLO verdicts


@dataclass(frozen=True)
class SloVerdict:
    """One SLO rule judged on one (target, load level). ``passed`` is None when there is no data."""

    target: str
    load_mode: str
    load_level: float
    key: str
    column: str
    stat: str
    threshold: float
    at_least: bool
    measured: float
    ci_low: float
    ci_high: float
    passed: bool | None
    #: Why there is no verdict (empty when there is one): what a reader needs to act on it.
    reason: str = ""
    #: The client path that measured the group ("" when nothing says).
    client: str = ""
    #: The group's request shape ("" for a plain scenario).
    shape: str = ""

    @property
    def group(self) -> GroupKey:
        return GroupKey(self.target, self.load_mode, self.load_level, self.client, self.shape)

    @property
    def text(self) -> str:
        """``TTFT p99 140 ms > 120 ms`` (failed), ``… ≤ …`` (met), or why there is no verdict."""
        if self.passed is None:
            return f"{self.key}: {self.reason or 'no data'}"
        if self.column == "error_rate":
            op = "≤" if self.passed else ">"
            return f"error rate {self.measured:.1%} {op} {self.threshold:.1%}"
        name = f"{abbrev(self.column)} {self.stat}"  # "TTFT p99"
        measured = (
            "–"
            if not math.isfinite(self.measured)
            else f"{self.measured:,.1f}"
            if abs(self.measured) < 10
            else f"{self.measured:,.0f}"
        )
        if self.at_least:
            return f"{name} {measured} {'≥' if self.passed else '<'} {self.threshold:g}"
        return f"{name} {measured} ms {'≤' if self.passed else '>'} {self.threshold:g} ms"


def column_stat(values: np.ndarray, column: str, stat: str, *, seed: int = 0) -> tuple[float, float, float]:
    """(value, ci_low, ci_high) of an SLO statistic over the finite values.

    Quantiles get a bootstrap CI (:func:`bootstrap_quantile_ci`), the mean a normal one.
    """
    x = _finite(values)
    q = stat_quantile(column, stat)
    if q is None:
        low, high = mean_ci(x)
        return _mean(x), low, high
    value = float(np.quantile(x, q)) if x.size else math.nan
    low, high = bootstrap_quantile_ci(x, q, seed=seed)
    return value, low, high


def _judge(rule: AggregateSlo, value: float) -> bool | None:
    return None if math.isnan(value) else rule.passes(value)


def _no_data_reason(column: str, n: int, n_ok: int) -> str:
    if n_ok == 0:
        return f"no successful requests (0 of {n})"
    return f"no {column} values among {n_ok} successful requests"


def evaluate_slo(frame: pd.DataFrame, slo: SloSpec, *, seed: int = 0) -> list[SloVerdict]:
    """Every aggregate rule and ``error_rate_max`` on every group of measured requests.

    Each group is judged by its own rules (:meth:`SloSpec.for_group`: the scenario-wide
    table, overridden and extended by the target's ``[target.slo]``, then by the
    ``[slo.class.NAME]`` that covers the group's request shape).
    Verdicts come group by group (order of appearance), rules in the order the table gave
    them, ``error_rate_max`` last. A rule passes on its point estimate; the CI is reported
    beside it so a reader sees how firm the verdict is. Per-request rules feed goodput
    (:func:`aggregate`) and give no verdict of their own.
    """
    m = measured(frame)
    ok_all = ok_mask(m)
    verdicts: list[SloVerdict] = []
    cache: dict[str, np.ndarray] = {}
    for (target, mode, level, client, shape), idx in group_positions(m):
        rules = slo.for_group(target, shape)
        ok_idx = idx[ok_all[idx]]
        for rule in rules.aggregate:
            if rule.column not in cache:
                cache[rule.column] = _floats(m[rule.column])
            value, low, high = column_stat(cache[rule.column][ok_idx], rule.column, rule.stat, seed=seed)
            passed = _judge(rule, value)
            verdicts.append(
                SloVerdict(
                    target,
                    mode,
                    level,
                    rule.key,
                    rule.column,
                    rule.stat,
                    rule.threshold,
                    rule.at_least,
                    value,
                    low,
                    high,
                    passed,
                    "" if passed is not None else _no_data_reason(rule.column, int(idx.size), int(ok_idx.size)),
                    client,
                    shape,
                )
            )
        if rules.error_rate_max is not None:
            n = int(idx.size)
            errors = n - int(ok_idx.size)
            rate = errors / n
            low, high = wilson_ci(errors, n)
            verdicts.append(
                SloVerdict(
                    target,
                    mode,
                    level,
                    "error_rate_max",
                    "error_rate",
                    "max",
                    rules.error_rate_max,
                    False,
                    rate,
                    low,
                    high,
                    rate <= rules.error_rate_max,
                    client=client,
                    shape=shape,
                )
            )
    return verdicts


@dataclass(frozen=True)
class SloOutcome:
    """Every SLO verdict of a run and the one sentence that sums them up.

    The run summary, the report, ``bench check`` and the pytest plugin all say this
    sentence, so they can never disagree. It never reads as a pass while a check had no
    data: that case is *inconclusive*, and says how many and why.
    """

    verdicts: tuple[SloVerdict, ...]

    @property
    def failed(self) -> list[SloVerdict]:
        return [v for v in self.verdicts if v.passed is False]

    @property
    def passed(self) -> list[SloVerdict]:
        return [v for v in self.verdicts if v.passed is True]

    @property
    def no_data(self) -> list[SloVerdict]:
        return [v for v in self.verdicts if v.passed is None]

    @property
    def ok(self) -> bool:
        """Every check was judged and met (what a strict gate asks)."""
        return bool(self.verdicts) and not self.failed and not self.no_data

    @property
    def status(self) -> str:
        """``failed``, ``inconclusive``, ``met`` or ``empty`` (no check at all)."""
        if not self.verdicts:
            return "empty"
        if self.failed:
            return "failed"
        return "inconclusive" if self.no_data else "met"

    @property
    def headline(self) -> str:
        total = len(self.verdicts)
        failed, no_data = len(self.failed), len(self.no_data)
        if self.status == "empty":
            return "SLOs: no checks (no measured requests)"
        if failed:
            text = f"SLO FAILED: {failed} of {total} checks failed"
            if self.passed:
                text += f", {len(self.passed)} passed"
        elif no_data:
            judged = total - no_data
            text = f"SLOs inconclusive: {judged} of {total} checks judged, none failed"
        else:
            return f"SLOs met: {total} of {total} checks passed"
        if no_data:
            text += f"; {no_data} without data ({self.no_data_text()})"
        return text

    def no_data_text(self, limit: int = 2) -> str:
        """Which checks had no data and why, a few named (the rest counted)."""
        items = [f"{_where(v)} {v.key}: {v.reason or 'no data'}" for v in self.no_data[:limit]]
        more = len(self.no_data) - limit
        return "; ".join(items) + (f"; {more} more" if more > 0 else "")

    def failed_text(self, limit: int = 3) -> str:
        items = [f"{_where(v)} {v.key}" for v in self.failed[:limit]]
        return ", ".join(items) + (" …" if len(self.failed) > limit else "")


def _where(v: SloVerdict) -> str:
    return v.group.label


def judge_slos(frame: pd.DataFrame, slo: SloSpec, *, seed: int = 0) -> SloOutcome:
    """The one code path from a run's requests and its SLOs to verdicts and their headline."""
    return SloOutcome(tuple(evaluate_slo(frame, slo, seed=seed)))


# --------------------------------------------------------------------------- open loop

#: How many standard deviations of Poisson noise a shortfall must exceed to be reported.
ARRIVAL_SIGMAS: Final[float] = 3.0


@dataclass(frozen=True)
class ArrivalRate:
    """Offered vs achieved request rate of one open-loop (target, level).

    ``achieved`` is (n − 1) gaps over the span from the first measured request's start to
    the last one's, where a start is when the client actually sent it (its due time plus
    its start lag). ``scheduled`` is the rate the schedule itself offered over its own span
    (the due times: a ramp or bursty gaps make it differ from ``offered``; without due
    times it is ``offered``). Counted as a Poisson count with mean ``scheduled · span_s``,
    ``short`` says the gaps fell more than :data:`ARRIVAL_SIGMAS` standard deviations below
    it — a client or event loop that could not keep up with its schedule, not chance.
    """

    target: str
    offered: float
    n: int
    span_s: float
    achieved: float
    short: bool
    client: str = ""
    scheduled: float = math.nan
    shape: str = ""

    @property
    def name(self) -> str:
        """The target as its group is named (``groq/llama (sdk)`` when the SDK path measured)."""
        return target_name(self.target, self.client)

    @property
    def floor(self) -> float:
        """The lowest achieved rate that is still within Poisson noise of the scheduled one."""
        if not (self.span_s > 0):
            return math.nan
        rate = self.scheduled if math.isfinite(self.scheduled) else self.offered
        return rate - ARRIVAL_SIGMAS * math.sqrt(rate * self.span_s) / self.span_s


def _start_offsets_ms(rows: pd.DataFrame) -> np.ndarray:
    """When each request actually left, in ms on one clock: due time + start lag, else t0."""
    due = _floats(rows["scheduled_ms"])
    lag = _floats(rows["start_lag_ms"])
    sent = due + np.nan_to_num(lag, nan=0.0)
    if np.isnan(sent).any():
        started = rows["started_at_ns"].to_numpy(dtype="float64", na_value=np.nan)
        started = np.where(started > 0, started, np.nan)
        return (started - np.nanmin(started)) / 1e6 if np.isfinite(started).any() else started
    return sent


def _scheduled_rate(rows: pd.DataFrame, offered: float) -> float:
    """Arrivals per second the due times themselves set (the offered rate where none were kept)."""
    due = _floats(rows["scheduled_ms"])
    due = due[np.isfinite(due)]
    span_s = float(due.max() - due.min()) / 1000.0 if due.size >= 2 else 0.0
    return (due.size - 1) / span_s if span_s > 0 else offered


def arrival_rates(frame: pd.DataFrame) -> list[ArrivalRate]:
    """One :class:`ArrivalRate` per open-loop (target, level) of measured requests, in order."""
    m = measured(frame)
    if "turn" in m and m["turn"].notna().any():  # a conversation's arrival is its first turn
        m = m[m["turn"].isna() | (m["turn"] <= 1)]
    out: list[ArrivalRate] = []
    for (target, mode, level, client, shape), idx in group_positions(m):
        if mode != "rate":
            continue
        rows = m.iloc[idx]
        starts = _start_offsets_ms(rows)
        starts = starts[np.isfinite(starts)]
        n = int(starts.size)
        span_s = float(starts.max() - starts.min()) / 1000.0 if n >= 2 else math.nan
        if not (span_s > 0):
            out.append(ArrivalRate(target, level, n, math.nan, math.nan, False, client, shape=shape))
            continue
        scheduled = _scheduled_rate(rows, level)
        achieved = (n - 1) / span_s
        expected = scheduled * span_s
        short = (n - 1) < expected - ARRIVAL_SIGMAS * math.sqrt(expected)
        out.append(ArrivalRate(target, level, n, span_s, achieved, short, client, scheduled, shape))
    return out
