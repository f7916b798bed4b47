"""A figure's course over many runs: "did it get worse since last week", step by step.

Runs are put in time order (``started_at``, else the run id, which sorts by time). For each
run and each group (target and load level) the headline figures are computed from its
measured requests: TTFT p50 and p99, output tokens/s p50, end-to-end p50 and the error
rate. Each step (a run against the run before it) is judged by the CI gate's own
:func:`bench.gate.compare.compare_sides`, the same code and settings as ``bench compare``,
so a step reads "regression" here exactly when ``bench compare PREVIOUS RUN`` would fail. A
saved baseline (``--baseline NAME``) is marked among the runs (added to them when it is not
one of them), and the newest run is also judged against it.

Steps between runs that the gate refuses to compare (the scenario's fingerprint changed, a
live run after an emulated one, nothing in common) carry the gate's reason instead of a
verdict: a trend never draws a line through a change of what was measured without saying so.

Rendering lives in :mod:`bench.report.trend`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np

from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import GROUP_KEYS, GroupKey
from bench.errors import BenchError
from bench.fmt import json_safe
from bench.gate.compare import (
    DEFAULT_MIN_SAMPLES,
    CompareSettings,
    Comparison,
    ErrorRateChange,
    MetricChange,
    PreparedSide,
    Side,
    SideInfo,
    Verdict,
    compare_prepared,
    prepare_side,
)
from bench.results.records import load_results, run_dirs_under
from bench.results.run_file import RUN_FILE, read_run_meta

#: The headline figures of a trend: (key, request column, quantile, title, unit).
FIGURES: Final[tuple[tuple[str, str, float, str, str], ...]] = (
    ("ttft_p50", "ttft_ms", 0.50, "TTFT p50", "ms"),
    ("ttft_p99", "ttft_ms", 0.99, "TTFT p99", "ms"),
    ("output_tps_p50", "output_tps", 0.50, "output tokens/s p50", "tokens/s"),
    ("e2e_p50", "e2e_ms", 0.50, "end-to-end p50", "ms"),
    ("error_rate", "", math.nan, "error rate", ""),
)
#: The gate judges medians (and error rates); a figure's verdict is that of its column's median.
GATE_METRICS: Final[tuple[str, ...]] = ("ttft_ms", "output_tps", "e2e_ms")
#: Which gate comparison stands for which figure (TTFT p99 has none: the gate compares medians).
FIGURE_METRIC: Final[dict[str, str]] = {
    "ttft_p50": "ttft_ms",
    "output_tps_p50": "output_tps",
    "e2e_p50": "e2e_ms",
    "error_rate": "error_rate",
}
#: Columns a trend reads from each run (the gate's identity and order columns, and the metrics).
COLUMNS: Final[tuple[str, ...]] = (
    *GROUP_KEYS,  # every grouping dimension the gate keys groups by
    "provider",
    "model",
    "request_index",
    "warmup",
    "status",
    "error_kind",
    "started_at_ns",
    *GATE_METRICS,
)


@dataclass(frozen=True)
class TrendPoint:
    """One run of the trend (or the saved baseline)."""

    run_id: str
    started_at: str | None
    path: str
    label: str
    is_baseline: bool = False
    fingerprint: str | None = None
    emulated: bool | None = None


@dataclass(frozen=True)
class StepVerdict:
    """The gate's verdict on one figure of one group, for the step into a run."""

    verdict: str
    change: float
    ci_low: float
    ci_high: float
    reason: str


@dataclass(frozen=True)
class Step:
    """A run against the run before it (or, for ``vs_baseline``, the newest run against the baseline)."""

    before: int
    after: int
    status: str  # "regression" | "inconclusive" | "no regression" | "not comparable"
    headline: str
    #: Per group, per figure key: the gate's verdict.
    verdicts: dict[GroupKey, dict[str, StepVerdict]] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Trend:
    """Every run's headline figures per group, and the gate's verdict on every step."""

    points: tuple[TrendPoint, ...]
    groups: tuple[GroupKey, ...]
    #: figures[i][group][figure key] for run i (NaN where the run has no such group or value).
    figures: tuple[dict[GroupKey, dict[str, float]], ...]
    #: counts[i][group]: measured requests of the group in run i.
    counts: tuple[dict[GroupKey, int], ...]
    steps: tuple[Step, ...]
    baseline: int | None
    vs_baseline: Step | None
    settings: CompareSettings

    @property
    def latest(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def to_dict(self) -> dict[str, Any]:
        def verdicts(step: Step) -> list[dict[str, Any]]:
            return [
                {"target": g.target, "load_mode": g.load_mode, "load_level": g.load_level, "shape": g.shape, "figures": {
                    key: v.__dict__ for key, v in by_figure.items()
                }}
                for g, by_figure in step.verdicts.items()
            ]  # fmt: skip

        def step(s: Step) -> dict[str, Any]:
            return {
                "before": self.points[s.before].run_id,
                "after": self.points[s.after].run_id,
                "status": s.status,
                "headline": s.headline,
                "reason": s.reason,
                "verdicts": verdicts(s),
            }

        return json_safe(
            {
                "format": "bench-trend/1",
                "runs": [p.__dict__ for p in self.points],
                "baseline": None if self.baseline is None else self.points[self.baseline].run_id,
                "figures": [{"key": k, "title": t, "unit": u} for k, _c, _q, t, u in FIGURES],
                "groups": [
                    {
                        "target": g.target,
                        "load_mode": g.load_mode,
                        "load_level": g.load_level,
                        "shape": g.shape,
                        "runs": [
                            {"run_id": p.run_id, "n": self.counts[i].get(g, 0), **self.figures[i].get(g, {})}
                            for i, p in enumerate(self.points)
                        ],
                    }
                    for g in self.groups
                ],
                "steps": [step(s) for s in self.steps],
                "vs_baseline": step(self.vs_baseline) if self.vs_baseline is not None else None,
                "settings": {
                    "metrics": list(self.settings.metrics),
                    "threshold": self.settings.threshold,
                    "confidence": self.settings.confidence,
                    "min_samples": self.settings.min_samples,
                },
            }
        )


def _when(side: Side) -> tuple[float, str]:
    """Sort key: the run's start (ISO time in run.json), else its run id (which sorts by time)."""
    started = side.meta.started_at
    if started:
        try:
            return datetime.fromisoformat(started).timestamp(), side.info.run_id
        except ValueError:
            pass
    return math.inf, side.info.run_id


def _figures(side: PreparedSide) -> tuple[dict[GroupKey, dict[str, float]], dict[GroupKey, int]]:
    """Headline figures per group of one run's measured requests: quantiles over the values the
    gate compares (successful requests, finite and positive); the error rate over every
    measured request."""
    out: dict[GroupKey, dict[str, float]] = {}
    counts: dict[GroupKey, int] = {}
    for key, group in side.groups.items():
        figures: dict[str, float] = {}
        for name, column, q, _title, _unit in FIGURES:
            if name == "error_rate":
                figures[name] = group.errors / group.n if group.n else math.nan
                continue
            values = group.values(column)
            figures[name] = float(np.quantile(values, q)) if values.size else math.nan
        out[key] = figures
        counts[key] = group.n
    return out, counts


def _verdict(change: MetricChange | ErrorRateChange) -> StepVerdict:
    if isinstance(change, ErrorRateChange):
        return StepVerdict(str(change.verdict), change.change, math.nan, math.nan, change.reason)
    return StepVerdict(str(change.verdict), change.change, change.ci_low, change.ci_high, change.reason)


def _step(before: int, after: int, sides: Sequence[PreparedSide], settings: CompareSettings) -> Step:
    """The gate on one pair (:func:`bench.gate.compare.compare_prepared`, what ``bench compare``
    runs); a pair it refuses (not comparable) keeps the refusal as its reason."""
    try:
        comparison: Comparison = compare_prepared(sides[before], sides[after], settings)
    except BenchError as exc:
        text = str(exc)
        return Step(before, after, "not comparable", text, reason=text)
    verdicts: dict[GroupKey, dict[str, StepVerdict]] = {}
    by_metric = {m: f for f, m in FIGURE_METRIC.items()}
    for change in comparison.metrics:
        if change.metric in by_metric:
            verdicts.setdefault(change.group, {})[by_metric[change.metric]] = _verdict(change)
    for err in comparison.errors:
        verdicts.setdefault(err.group, {})["error_rate"] = _verdict(err)
    return Step(before, after, comparison.status, comparison.headline, verdicts)


def compute_trend(
    sides: Sequence[Side],
    *,
    baseline: Side | None = None,
    settings: CompareSettings | None = None,
) -> Trend:
    """The trend of ``sides`` (any order: they are put in time order), with ``baseline`` marked.

    ``settings`` are the gate's (``bench compare``'s defaults, comparing TTFT, output tokens/s
    and end-to-end medians and error rates). Raises BenchError without runs.
    """
    if not sides:
        raise BenchError("trend: give at least one run")
    settings = settings or CompareSettings(metrics=GATE_METRICS, min_samples=DEFAULT_MIN_SAMPLES)
    ordered = sorted(sides, key=_when)
    baseline_at: int | None = None
    if baseline is not None:
        same = [i for i, s in enumerate(ordered) if s.info.run_id == baseline.info.run_id]
        if same:
            baseline_at = same[0]
        else:
            ordered = sorted([*ordered, baseline], key=_when)
            baseline_at = next(i for i, s in enumerate(ordered) if s is baseline)
    seen: set[str] = set()
    for side in ordered:
        if side.info.run_id in seen:
            raise BenchError(f"{side.info.path}: run {side.info.run_id} given twice; each run may appear once in a trend")
        seen.add(side.info.run_id)
    points = tuple(
        TrendPoint(
            run_id=s.info.run_id,
            started_at=s.meta.started_at,
            path=s.info.path,
            label=(f"baseline {baseline.info.spec}" if baseline is not None and i == baseline_at else s.info.run_id),
            is_baseline=i == baseline_at,
            fingerprint=s.info.fingerprint,
            emulated=s.info.emulated,
        )
        for i, s in enumerate(ordered)
    )
    prepared = [prepare_side(s) for s in ordered]  # each run is in two steps: split it once
    figures, counts = zip(*(_figures(p) for p in prepared), strict=True)
    groups = tuple(dict.fromkeys(g for per_run in figures for g in per_run))
    steps = tuple(_step(i - 1, i, prepared, settings) for i in range(1, len(ordered)))
    vs_baseline = None
    if baseline_at is not None and baseline_at != len(ordered) - 1:
        vs_baseline = _step(baseline_at, len(ordered) - 1, prepared, settings)
    return Trend(points, groups, tuple(figures), tuple(counts), steps, baseline_at, vs_baseline, settings)


def load_runs(specs: Sequence[str]) -> list[Side]:
    """Every run named: a run directory, or a results root meaning *all* its runs.

    Only the columns a trend reads are loaded (:data:`COLUMNS`): 52 runs load in a fraction
    of the time whole frames take.
    """
    sides: list[Side] = []
    for spec in specs:
        for run_dir in run_dirs_under(spec):
            meta = read_run_meta(run_dir)
            frame = load_results(run_dir, columns=COLUMNS)
            if frame.empty:
                raise BenchError(f"{run_dir}: no requests recorded")
            frame = frame[list(COLUMNS)]
            # Plain Python strings: grouping and sorting them is several times cheaper than Arrow's.
            frame = frame.astype({c: object for c in ("target", "provider", "model", "load_mode", "status", "error_kind")})
            info = SideInfo.from_meta(str(run_dir), "run", str(run_dir), meta, has_run_file=(run_dir / RUN_FILE).is_file())
            sides.append(Side(info, LoadedRun.with_frame(run_dir, meta, frame)))
    return sides


def regression_marks(trend: Trend, group: GroupKey, figure: str) -> list[tuple[int, Verdict]]:
    """(run index, verdict) of every step into a run that the gate judged worse or better."""
    out: list[tuple[int, Verdict]] = []
    for step in trend.steps:
        v = step.verdicts.get(group, {}).get(figure)
        if v is not None and v.verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
            out.append((step.after, Verdict(v.verdict)))
    return out
