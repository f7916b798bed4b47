"""Baseline vs candidate: per (target, load level, metric) statistics and a two-gated verdict.

Like pyperf's ``compare_to``, a change is a *regression* only when it is both

1. **large**: the median moved in the bad direction by more than ``threshold`` (10% by
   default), and
2. **real**: the confidence interval of the ratio of medians excludes "no change"
   (:func:`bench.gate.stats.median_ratio`: bootstrap widened for serial correlation).

The intervals are *simultaneous*: with m metric comparisons in one gate, each interval is a
``1 − (1 − confidence)/m`` interval (Bonferroni), so the chance that an unchanged system fails
the job stays at most ``1 − confidence`` however many targets, levels and metrics are
checked. Error rates are compared with one-sided Fisher exact tests — pooled over all groups
first, then per group — and an absolute margin: a candidate whose requests fail is a regression however
fast its other requests were. ``benchmarks/gate_calibration.py`` measures the false-alarm and
detection rates of exactly this procedure; ``docs/ci.md`` gives the figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import GroupKey, group_positions, measured, ok_mask, stat_quantile
from bench.errors import BenchError
from bench.fmt import json_safe
from bench.gate.stats import error_rate_test, median_ratio
from bench.results.run_file import RunMeta, split_fingerprint
from bench.scenario.slo import SLO_COLUMNS
from bench.schema import higher_is_better

#: Compared unless ``--metric`` says otherwise: first-token latency and output speed.
DEFAULT_METRICS: Final[tuple[str, ...]] = ("ttft_ms", "output_tps")
#: Smallest relative change of a median that can fail the gate.
DEFAULT_THRESHOLD: Final[float] = 0.10
#: Family-wise confidence: P(no false regression anywhere in one comparison).
DEFAULT_CONFIDENCE: Final[float] = 0.95
#: Below this many successful measured requests on either side, no verdict is given.
DEFAULT_MIN_SAMPLES: Final[int] = 30
#: Smallest increase of the error rate (absolute) that can fail the gate.
DEFAULT_ERROR_THRESHOLD: Final[float] = 0.01
#: Metric names a user may pass (numeric per-request columns), plus the always-compared error rate.
METRIC_CHOICES: Final[tuple[str, ...]] = tuple(SLO_COLUMNS)


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no change"
    INSUFFICIENT = "too few samples"
    NOT_MEASURED = "not measured"
    BASELINE_ONLY = "only in baseline"
    CANDIDATE_ONLY = "only in candidate"


@dataclass(frozen=True)
class CompareSettings:
    metrics: tuple[str, ...] = DEFAULT_METRICS
    threshold: float = DEFAULT_THRESHOLD
    confidence: float = DEFAULT_CONFIDENCE
    min_samples: int = DEFAULT_MIN_SAMPLES
    error_threshold: float = DEFAULT_ERROR_THRESHOLD
    seed: int = 0
    #: Widen intervals for serial correlation (the calibration's "VIF"); off only for study.
    correlated: bool = True
    #: Compare only these targets (labels); None = every target.
    targets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRIC_CHOICES]
        if unknown:
            raise BenchError(f"unknown metric {unknown[0]!r} (choose from: {', '.join(METRIC_CHOICES)})")
        if not self.metrics:
            raise BenchError("no metrics to compare")
        if not 0 < self.threshold < 10:
            raise BenchError(f"threshold must be a positive fraction (got {self.threshold})")
        if not 0 < self.confidence < 1:
            raise BenchError(f"confidence must be between 0 and 1 (got {self.confidence})")
        if self.min_samples < 2:
            raise BenchError("min-samples must be at least 2")


@dataclass(frozen=True)
class SideInfo:
    """Where one side of a comparison came from, and what makes it (in)comparable."""

    spec: str
    kind: Literal["run", "baseline"]
    path: str
    run_id: str
    scenario_name: str | None = None
    fingerprint: str | None = None
    emulated: bool | None = None
    started_at: str | None = None
    git_revision: str | None = None
    #: Why the run behind this side is incomplete ("" when it finished, or nothing says otherwise).
    incomplete: str = ""

    @property
    def label(self) -> str:
        if self.kind == "baseline":
            return f"baseline {self.spec!r} (run {self.run_id})"
        return f"run {self.run_id}"

    @classmethod
    def from_meta(
        cls, spec: str, kind: Literal["run", "baseline"], path: str, meta: RunMeta, *, has_run_file: bool = True
    ) -> SideInfo:
        return cls(
            spec=spec,
            kind=kind,
            path=path,
            run_id=str(meta.run_id or path),
            scenario_name=meta.scenario_name,
            fingerprint=meta.fingerprint,
            emulated=meta.emulated,
            started_at=meta.started_at,
            git_revision=meta.git_revision,
            incomplete=incomplete_reason(meta, has_run_file=has_run_file),
        )


def incomplete_reason(meta: RunMeta, *, has_run_file: bool = True) -> str:
    """Why a run did not finish, from its run.json; "" when it finished (or an old run.json cannot say).

    A run that was interrupted, killed (run.json still says ``finished: false``), or left no
    run.json at all holds only part of its plan: fewer requests, perhaps whole levels missing.
    """
    if not has_run_file:
        return "no run.json (the run never started properly or was killed)"
    if meta.error:
        return f"stopped early ({meta.error})"
    if meta.interrupted:
        return "interrupted before it finished"
    if meta.finished is False:
        return "did not finish (killed, or still running)"
    return ""


@dataclass(frozen=True)
class Side:
    """A loaded side: its description and its run (for a baseline: the saved samples and run.json)."""

    info: SideInfo
    run: LoadedRun

    @classmethod
    def of_frame(cls, info: SideInfo, frame: pd.DataFrame, meta: RunMeta | None = None) -> Side:
        """A side from rows at hand (synthetic frames in studies and benchmarks)."""
        return cls(info, LoadedRun.with_frame(Path(info.path), meta or RunMeta(run_id=info.run_id), frame))

    @property
    def frame(self) -> pd.DataFrame:
        """Every request of the side (warm-up rows may be present)."""
        return self.run.frame

    @property
    def meta(self) -> RunMeta:
        """run.json as written by the runner (for a baseline: as it was when saved)."""
        return self.run.meta


@dataclass(frozen=True)
class MetricChange:
    """One metric of one (target, load level). Relative changes: +0.2 = 20% larger.

    ``*_p90``/``*_p99`` are the bad-tail quantiles: for speeds the 10th/1st percentile.
    """

    target: str
    load_mode: str
    load_level: float
    metric: str
    higher_is_better: bool
    n_baseline: int
    n_candidate: int
    baseline_p50: float
    baseline_p90: float
    baseline_p99: float
    candidate_p50: float
    candidate_p90: float
    candidate_p99: float
    change: float
    ci_low: float
    ci_high: float
    ci_level: float
    p_value: float
    vif_baseline: float
    vif_candidate: float
    significant: bool
    verdict: Verdict
    reason: str
    #: The client path that measured the group on both sides ("" when nothing says, or when
    #: ``--force`` compared groups measured by different clients).
    client: str = ""

    @property
    def group(self) -> GroupKey:
        return GroupKey(self.target, self.load_mode, self.load_level, self.client)


@dataclass(frozen=True)
class ErrorRateChange:
    """Error rates of one (target, load level); ``change`` is absolute (0.05 = 5 points more)."""

    target: str
    load_mode: str
    load_level: float
    baseline_errors: int
    baseline_n: int
    candidate_errors: int
    candidate_n: int
    baseline_rate: float
    candidate_rate: float
    change: float
    p_value: float
    candidate_error_kinds: dict[str, int]
    verdict: Verdict
    reason: str
    client: str = ""

    @property
    def group(self) -> GroupKey:
        return GroupKey(self.target, self.load_mode, self.load_level, self.client)


@dataclass(frozen=True)
class Comparison:
    baseline: SideInfo
    candidate: SideInfo
    settings: CompareSettings
    metrics: tuple[MetricChange, ...]
    errors: tuple[ErrorRateChange, ...]
    only_in_baseline: tuple[GroupKey, ...]
    only_in_candidate: tuple[GroupKey, ...]
    #: How many metric comparisons share the family-wise confidence (Bonferroni m).
    family_size: int
    notes: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> list[MetricChange | ErrorRateChange]:
        """Every comparison: error rates first, then metrics."""
        return [*self.errors, *self.metrics]

    @property
    def regressions(self) -> list[MetricChange | ErrorRateChange]:
        return [r for r in self.changes if r.verdict is Verdict.REGRESSION]

    @property
    def improvements(self) -> list[MetricChange | ErrorRateChange]:
        return [r for r in self.changes if r.verdict is Verdict.IMPROVEMENT]

    @property
    def insufficient(self) -> list[MetricChange]:
        return [r for r in self.metrics if r.verdict is Verdict.INSUFFICIENT]

    @property
    def unjudged(self) -> int:
        """Comparisons that could not be judged: too few samples, or no counterpart on the other side.

        A metric that neither side measures at all (``not measured``) is not counted: there
        was nothing to judge, and both runs agree on that.
        """
        return len(self.insufficient) + len(self.only_in_baseline) + len(self.only_in_candidate)

    @property
    def incomplete(self) -> list[str]:
        """One phrase per side whose run did not finish."""
        sides = (("baseline", self.baseline), ("candidate", self.candidate))
        return [f"{name} {info.label} is incomplete: {info.incomplete}" for name, info in sides if info.incomplete]

    @property
    def inconclusive(self) -> bool:
        """No regression found, but the gate could not look everywhere: never shown as a pass."""
        return not self.regressions and bool(self.unjudged or self.incomplete)

    @property
    def status(self) -> str:
        """``regression``, ``inconclusive`` or ``no regression``."""
        if self.regressions:
            return "regression"
        return "inconclusive" if self.inconclusive else "no regression"

    def _unjudged_text(self) -> str:
        parts = []
        if self.insufficient:
            parts.append(f"{len(self.insufficient)} too few samples")
        if self.only_in_baseline:
            parts.append(f"{len(self.only_in_baseline)} only in baseline")
        if self.only_in_candidate:
            parts.append(f"{len(self.only_in_candidate)} only in candidate")
        return ", ".join(parts)

    @property
    def warnings(self) -> list[str]:
        """What a reader must not miss: comparisons that could not be made, forced ones, unfinished runs."""
        out = list(self.notes)
        out.extend(self.incomplete)
        if self.insufficient:
            r = self.insufficient
            out.append(
                f"{len(r)} comparison(s) had too few samples for a verdict (need {self.settings.min_samples} "
                f"successful requests a side; e.g. {r[0].group.label} {r[0].metric}: "
                f"{r[0].n_baseline} vs {r[0].n_candidate})"
            )
        if self.only_in_baseline:
            out.append("only in baseline (not judged): " + ", ".join(g.label for g in self.only_in_baseline))
        if self.only_in_candidate:
            out.append("only in candidate (not judged): " + ", ".join(g.label for g in self.only_in_candidate))
        return out

    def exit_code(self, *, strict: bool = False) -> int:
        """0 no regression, 1 regression; under ``strict`` 2 when the result is inconclusive."""
        if self.regressions:
            return 1
        if strict and self.inconclusive:
            return 2
        return 0

    @property
    def headline(self) -> str:
        """One line that never reads as a pass when something was not judged."""
        regressions = self.regressions
        tail = f"; {self.unjudged} could not be judged ({self._unjudged_text()})" if self.unjudged else ""
        incomplete = "".join(f"; {text}" for text in self.incomplete)
        if regressions:
            worst = _largest(regressions)
            return (
                f"REGRESSION: {len(regressions)} of {self.judged} comparisons got worse; "
                f"largest: {worst.group.label} {_what(worst)} {change_text(worst)}{tail}{incomplete}"
            )
        improvements = self.improvements
        extra = f"; {len(improvements)} improved" if improvements else ""
        if self.inconclusive:
            return f"INCONCLUSIVE: no regression in {self.judged} judged comparisons{extra}{tail}{incomplete}"
        return f"No regression: {self.judged} comparisons{extra}"

    @property
    def judged(self) -> int:
        judged = (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.NO_CHANGE)
        return sum(r.verdict in judged for r in self.changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # GroupKey is a named tuple: asdict keeps it one, and JSON would make it a list
        data["only_in_baseline"] = [key._asdict() for key in self.only_in_baseline]
        data["only_in_candidate"] = [key._asdict() for key in self.only_in_candidate]
        data["headline"] = self.headline
        data["status"] = self.status
        data["inconclusive"] = self.inconclusive
        data["unjudged"] = self.unjudged
        data["warnings"] = self.warnings
        data["exit_code"] = self.exit_code()
        return json_safe(data)


# --------------------------------------------------------------------------- computing


def check_comparable(baseline: SideInfo, candidate: SideInfo, *, force: bool, clients: str = "") -> list[str]:
    """Raise BenchError when the two sides measure different things (unless ``force``).

    ``clients`` is :func:`client_mismatch_text` of the two sides' groups ("" when they agree).
    Returns notes to print: what was forced, or what could not be checked.
    """
    problems: list[str] = [clients] if clients else []
    # The fingerprint's first part is the request shape; its client part is checked group by
    # group (:func:`client_mismatches`), where it can say which target and level differ.
    b_shape = split_fingerprint(baseline.fingerprint)[0] if baseline.fingerprint else None
    c_shape = split_fingerprint(candidate.fingerprint)[0] if candidate.fingerprint else None
    if b_shape and c_shape and b_shape != c_shape:
        problems.append(
            f"scenario fingerprints differ ({baseline.fingerprint} vs {candidate.fingerprint}): "
            "request settings, prompts or load mode changed"
        )
    if baseline.emulated is not None and candidate.emulated is not None and baseline.emulated != candidate.emulated:
        kinds = {True: "emulated", False: "live"}
        problems.append(f"{kinds[baseline.emulated]} baseline against {kinds[candidate.emulated]} candidate")
    notes: list[str] = []
    if problems:
        if not force:
            raise BenchError(f"runs are not comparable: {'; '.join(problems)} (--force compares anyway)")
        notes.extend(f"compared with --force although {p}" for p in problems)
    if not (baseline.fingerprint and candidate.fingerprint):
        notes.append("a scenario fingerprint is missing: could not check that both runs measure the same thing")
    return notes


#: Where a group is, whatever client measured it: (target, load mode, load level).
Place = tuple[str, str, float]


def client_mismatches(
    baseline: Iterable[GroupKey], candidate: Iterable[GroupKey]
) -> list[tuple[Place, tuple[str, ...], tuple[str, ...]]]:
    """Target levels both sides measured, but with no client in common: (place, baseline's
    clients, candidate's clients). A level measured with both clients on one side and one of
    them on the other is no mismatch: the shared client's groups compare."""
    mine: dict[Place, set[str]] = {}
    theirs: dict[Place, set[str]] = {}
    for keys, into in ((baseline, mine), (candidate, theirs)):
        for k in keys:
            into.setdefault((k.target, k.load_mode, k.load_level), set()).add(k.client)
    return [
        (place, tuple(sorted(mine[place])), tuple(sorted(theirs[place])))
        for place in mine
        if place in theirs and mine[place].isdisjoint(theirs[place])
    ]


def client_mismatch_text(mismatches: list[tuple[Place, tuple[str, ...], tuple[str, ...]]], limit: int = 3) -> str:
    """'measured by different clients (sdk in the baseline, fast in the candidate)'; the target
    levels are named when they do not all differ the same way."""
    if not mismatches:
        return ""

    def names(clients: tuple[str, ...]) -> str:
        return ",".join(c or "an unrecorded client" for c in clients)

    pairs = {(b, c) for _, b, c in mismatches}
    if len(pairs) == 1:
        ((b, c),) = pairs
        return f"measured by different clients ({names(b)} in the baseline, {names(c)} in the candidate)"
    items = [
        f"{GroupKey(*place).label}: {names(b)} in the baseline, {names(c)} in the candidate" for place, b, c in mismatches[:limit]
    ]
    more = len(mismatches) - limit
    return "measured by different clients (" + "; ".join(items) + (f"; {more} more" if more > 0 else "") + ")"


def _across_clients(groups: dict[GroupKey, _Group], places: set[Place]) -> dict[GroupKey, _Group]:
    """``groups`` with the client left out of the key at ``places`` (a forced comparison of
    one client's groups with the other's)."""
    out: dict[GroupKey, _Group] = {}
    for key, group in groups.items():
        place = (key.target, key.load_mode, key.load_level)
        out[GroupKey(*place) if place in places else key] = group
    return out


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Measured rows in request order (the order carries the serial correlation)."""
    m = measured(frame)
    return m.sort_values(["started_at_ns", "request_index"], kind="stable")


@dataclass
class _Group:
    """One side's measured requests of one (target, load level), in request order."""

    frame: pd.DataFrame
    ok: np.ndarray
    _values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ok)

    @property
    def errors(self) -> int:
        return int(self.n - self.ok.sum())

    def values(self, metric: str) -> np.ndarray:
        """Finite, positive values of ``metric`` over successful requests."""
        if metric not in self._values:
            x = self.frame[metric].to_numpy(dtype="float64", na_value=np.nan)[self.ok]
            self._values[metric] = x[np.isfinite(x) & (x > 0)]
        return self._values[metric]

    def error_kinds(self) -> dict[str, int]:
        kinds = self.frame.loc[~self.ok, "error_kind"].astype("string").fillna("other").value_counts()
        return {str(k): int(v) for k, v in kinds.items()}


def _groups(frame: pd.DataFrame) -> dict[GroupKey, _Group]:
    out: dict[GroupKey, _Group] = {}
    for key, idx in group_positions(frame):
        part = frame.iloc[idx]
        out[key] = _Group(part, ok_mask(part))
    return out


def _groups_text(groups: dict[GroupKey, _Group], limit: int = 4) -> str:
    labels = [k.label for k in groups]
    if not labels:
        return "no measured requests"
    more = len(labels) - limit
    return ", ".join(labels[:limit]) + (f" and {more} more" if more > 0 else "")


def _quantiles(values: np.ndarray, metric: str) -> tuple[float, float, float]:
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    qs: list[float] = []
    for stat in ("p50", "p90", "p99"):
        q = stat_quantile(metric, stat)
        assert q is not None  # a percentile always names its quantile (only "mean" has none)
        qs.append(q)
    p50, p90, p99 = np.quantile(values, qs)
    return float(p50), float(p90), float(p99)


def _metric_change(
    key: GroupKey,
    metric: str,
    b_group: _Group,
    c_group: _Group,
    settings: CompareSettings,
    family_size: int,
    seed: int,
) -> MetricChange:
    b, c = b_group.values(metric), c_group.values(metric)
    qb, qc = _quantiles(b, metric), _quantiles(c, metric)
    better_up = higher_is_better(metric)
    nan = math.nan
    common: dict[str, Any] = dict(
        target=key.target,
        load_mode=key.load_mode,
        load_level=key.load_level,
        client=key.client,
        metric=metric,
        higher_is_better=better_up,
        n_baseline=int(b.size),
        n_candidate=int(c.size),
        baseline_p50=qb[0],
        baseline_p90=qb[1],
        baseline_p99=qb[2],
        candidate_p50=qc[0],
        candidate_p90=qc[1],
        candidate_p99=qc[2],
    )
    if min(b.size, c.size) < settings.min_samples:
        change = qc[0] / qb[0] - 1 if b.size and c.size else nan
        if b.size == 0 and c.size == 0:
            verdict, reason = Verdict.NOT_MEASURED, f"no {metric} values on either side"
        else:
            verdict = Verdict.INSUFFICIENT
            reason = f"n = {b.size} vs {c.size}, need {settings.min_samples} a side"
        return MetricChange(
            **common,
            change=change,
            ci_low=nan,
            ci_high=nan,
            ci_level=nan,
            p_value=nan,
            vif_baseline=nan,
            vif_candidate=nan,
            significant=False,
            verdict=verdict,
            reason=reason,
        )
    level = 1.0 - (1.0 - settings.confidence) / max(family_size, 1)
    est = median_ratio(b, c, confidence=level, seed=seed, correlated=settings.correlated)
    change = est.change
    worse = change < 0 if better_up else change > 0
    large = abs(change) > settings.threshold
    if est.significant and large:
        verdict = Verdict.REGRESSION if worse else Verdict.IMPROVEMENT
        reason = f"beyond ±{settings.threshold:.0%} and significant (p = {est.p_value:.2g})"
    elif not est.significant:
        verdict, reason = Verdict.NO_CHANGE, f"not significant (p = {est.p_value:.2g})"
    else:
        verdict, reason = Verdict.NO_CHANGE, f"significant but within ±{settings.threshold:.0%}"
    return MetricChange(
        **common,
        change=change,
        ci_low=est.ci_low - 1,
        ci_high=est.ci_high - 1,
        ci_level=level,
        p_value=est.p_value,
        vif_baseline=est.vif_baseline,
        vif_candidate=est.vif_candidate,
        significant=est.significant,
        verdict=verdict,
        reason=reason,
    )


def _error_change(
    key: GroupKey,
    b_group: _Group,
    c_group: _Group,
    settings: CompareSettings,
    *,
    more_overall: bool,
    fewer_overall: bool,
) -> ErrorRateChange:
    """Error rates of one group. A group can only be judged worse (better) once the test
    pooled over every common group found more (fewer) failures overall: that global test
    keeps the false-alarm rate at ``1 − confidence`` however many groups there are, and a
    candidate failing everywhere is caught with all its requests as evidence."""
    eb, nb = b_group.errors, b_group.n
    ec, nc = c_group.errors, c_group.n
    test = error_rate_test(eb, nb, ec, nc)
    fewer = error_rate_test(ec, nc, eb, nb)  # the same test the other way round
    alpha = 1.0 - settings.confidence
    if more_overall and test.change > settings.error_threshold and test.p_value < alpha:
        verdict, reason, p = Verdict.REGRESSION, f"more failures, significant (p = {test.p_value:.2g})", test.p_value
    elif fewer_overall and -test.change > settings.error_threshold and fewer.p_value < alpha:
        verdict, reason, p = Verdict.IMPROVEMENT, f"fewer failures, significant (p = {fewer.p_value:.2g})", fewer.p_value
    elif ec == eb == 0:
        verdict, reason, p = Verdict.NO_CHANGE, "no failures on either side", 1.0
    else:
        p = test.p_value if test.change >= 0 else fewer.p_value
        verdict, reason = Verdict.NO_CHANGE, f"not significant (p = {p:.2g})"
    return ErrorRateChange(
        target=key.target,
        load_mode=key.load_mode,
        load_level=key.load_level,
        baseline_errors=eb,
        baseline_n=nb,
        candidate_errors=ec,
        candidate_n=nc,
        baseline_rate=test.baseline_rate,
        candidate_rate=test.candidate_rate,
        change=test.change,
        p_value=p,
        candidate_error_kinds=c_group.error_kinds() if ec else {},
        verdict=verdict,
        reason=reason,
        client=key.client,
    )


@dataclass(frozen=True)
class PreparedSide:
    """A side's measured requests split into groups, in request order: what every comparison
    of it reads. A trend compares each run twice (with the run before and the run after), so
    it prepares each once."""

    info: SideInfo
    groups: dict[GroupKey, _Group]


def prepare_side(side: Side) -> PreparedSide:
    return PreparedSide(side.info, _groups(_ordered(side.frame)))


def compare_sides(baseline: Side, candidate: Side, settings: CompareSettings | None = None, *, force: bool = False) -> Comparison:
    """Compare two loaded sides. Raises BenchError when they are not comparable or share nothing."""
    return compare_prepared(prepare_side(baseline), prepare_side(candidate), settings, force=force)


def compare_prepared(
    baseline: PreparedSide, candidate: PreparedSide, settings: CompareSettings | None = None, *, force: bool = False
) -> Comparison:
    """:func:`compare_sides` on sides already split into groups (the same verdicts)."""
    settings = settings or CompareSettings()
    b_groups = baseline.groups
    c_groups = candidate.groups
    mismatches = client_mismatches(b_groups, c_groups)
    notes = check_comparable(baseline.info, candidate.info, force=force, clients=client_mismatch_text(mismatches))
    if mismatches:  # forced: each side's one client at such a level is compared with the other's
        places = {place for place, b, c in mismatches if len(b) == 1 and len(c) == 1}
        b_groups, c_groups = _across_clients(b_groups, places), _across_clients(c_groups, places)
    if settings.targets is not None:
        known = {k.target for k in (*b_groups, *c_groups)}
        unknown = [t for t in settings.targets if t not in known]
        if unknown:
            raise BenchError(f"unknown target {unknown[0]!r} (the runs have: {', '.join(sorted(known))})")
        b_groups = {k: g for k, g in b_groups.items() if k.target in settings.targets}
        c_groups = {k: g for k, g in c_groups.items() if k.target in settings.targets}
    common = [k for k in b_groups if k in c_groups]
    if not common:
        raise BenchError(
            f"runs are not comparable: nothing in common — {baseline.info.label} and {candidate.info.label} share "
            f"no target and load level (baseline: {_groups_text(b_groups)}; candidate: {_groups_text(c_groups)})"
        )
    metrics = list(dict.fromkeys(settings.metrics))
    # Family size: the metric comparisons that will get a test (enough samples both sides).
    testable = sum(
        1 for k in common for m in metrics if min(b_groups[k].values(m).size, c_groups[k].values(m).size) >= settings.min_samples
    )
    # Error rates: one test pooled over the common groups gates the per-group verdicts.
    eb, nb = sum(b_groups[k].errors for k in common), sum(b_groups[k].n for k in common)
    ec, nc = sum(c_groups[k].errors for k in common), sum(c_groups[k].n for k in common)
    alpha = 1.0 - settings.confidence
    more_overall = error_rate_test(eb, nb, ec, nc).p_value < alpha
    fewer_overall = error_rate_test(ec, nc, eb, nb).p_value < alpha
    changes: list[MetricChange] = []
    errors: list[ErrorRateChange] = []
    for i, key in enumerate(common):
        errors.append(
            _error_change(key, b_groups[key], c_groups[key], settings, more_overall=more_overall, fewer_overall=fewer_overall)
        )
        for j, metric in enumerate(metrics):
            seed = settings.seed + 1000 * i + j
            changes.append(_metric_change(key, metric, b_groups[key], c_groups[key], settings, testable, seed))
    return Comparison(
        baseline=baseline.info,
        candidate=candidate.info,
        settings=settings,
        metrics=tuple(changes),
        errors=tuple(errors),
        only_in_baseline=tuple(k for k in b_groups if k not in c_groups),
        only_in_candidate=tuple(k for k in c_groups if k not in b_groups),
        family_size=testable,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- wording (headline and renderers)


def _what(row: MetricChange | ErrorRateChange) -> str:
    return row.metric if isinstance(row, MetricChange) else "error rate"


def change_text(row: MetricChange | ErrorRateChange) -> str:
    if isinstance(row, ErrorRateChange):
        return f"{row.change * 100:+.1f} pts" if math.isfinite(row.change) else "—"
    if not math.isfinite(row.change):
        return "—"
    text = f"{row.change:+.1%}"
    if math.isfinite(row.ci_low):
        text += f" [{row.ci_low:+.1%}, {row.ci_high:+.1%}]"
    return text


def magnitude(row: MetricChange | ErrorRateChange) -> float:
    if not math.isfinite(row.change):
        return -1.0
    return abs(row.change) * (10.0 if isinstance(row, ErrorRateChange) else 1.0)


def _largest(rows: list[MetricChange | ErrorRateChange]) -> MetricChange | ErrorRateChange:
    return max(rows, key=magnitude)
