"""The per-metric judgment: is a median's change both large and real?

Like pyperf's ``compare_to``, a change is a regression only when the median moved the bad
way by more than the threshold *and* the interval of the ratio of medians — bootstrap, widened
for serial correlation, simultaneous over the comparison's metric tests (Bonferroni) — excludes
"no change" (docs/ci.md, "The statistics, and the defaults"). Too few samples give no verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.analysis.metrics import GroupKey, stat_quantile
from bench.gate.settings import CompareSettings, Verdict
from bench.gate.sides import Group
from bench.gate.stats import median_ratio
from bench.schema import higher_is_better


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

    #: The group's request shape ("" for a plain scenario).
    shape: str = ""

    @property
    def group(self) -> GroupKey:
        return GroupKey(self.target, self.load_mode, self.load_level, self.client, self.shape)


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


def metric_change(
    key: GroupKey,
    metric: str,
    b_group: Group,
    c_group: Group,
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
        shape=key.shape,
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
