"""The prefill judgment: did a target read prompts slower (or faster) than in the baseline?

Where both sides drew their prompt lengths from a wide range (``[prompts] input_tokens`` as a
distribution, or a replayed trace: the lengths asked span at least a factor of
:data:`bench.analysis.prefill.WIDE_SPAN`), each side's first-token time is fitted against its input tokens
(:mod:`bench.analysis.prefill`) and the fitted prefill speeds are compared like a metric: a
regression when the speed fell by more than the threshold *and* the interval of the ratio of
speeds — from the two sides' pairs-bootstrap resamples, at the comparison's simultaneous
confidence — excludes 1. It is reported as the metric ``prefill_tokens_per_s`` (higher is
better) beside the others (docs/ci.md).
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

from bench.analysis.metrics import GroupKey
from bench.analysis.prefill import bootstrap_slopes, full_prefill, ranges_widely
from bench.gate.metric_change import MetricChange
from bench.gate.settings import CompareSettings, Verdict
from bench.gate.sides import Group
from bench.scenario.shapes import span_label, split_rung

#: The metric name the judgment is reported under.
PREFILL_METRIC: Final = "prefill_tokens_per_s"


def _fit_inputs(group: Group) -> tuple[np.ndarray, np.ndarray] | None:
    """(input tokens, TTFT) of the group's successful full-prefill requests, if their lengths
    range widely (warm requests, served partly from cache, are no prefill to fit: a warm group
    has no such row)."""
    rows = group.frame.loc[group.ok]
    if "input_tokens_asked" not in rows:
        return None
    rows = full_prefill(rows)
    if not ranges_widely(rows["input_tokens_asked"].to_numpy(dtype="float64", na_value=np.nan)):
        return None
    return (
        rows["input_tokens"].to_numpy(dtype="float64", na_value=np.nan),
        rows["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan),
    )


def ladder_groups(
    keys: list[GroupKey], b_groups: dict[GroupKey, Group], c_groups: dict[GroupKey, Group]
) -> dict[GroupKey, tuple[Group, Group]]:
    """Each side's groups that differ only by their input rung, pooled: a ladder's rung holds
    one prompt length, so its prefill speed can only be fitted across the rungs. Keyed by the
    pooled shape (``input 128-32000, warm``); ladders of fewer than two common rungs are left out."""
    ladders: dict[GroupKey, list[tuple[int, GroupKey]]] = {}
    for key in keys:
        rung, rest = split_rung(key.shape)
        if rung is not None:
            ladders.setdefault(key._replace(shape=rest), []).append((rung, key))
    out: dict[GroupKey, tuple[Group, Group]] = {}
    for base, rungs in ladders.items():
        if len(rungs) < 2:
            continue
        lengths = [rung for rung, _ in rungs]
        members = [key for _, key in rungs]
        out[base._replace(shape=span_label(min(lengths), max(lengths), base.shape))] = (
            _pooled([b_groups[k] for k in members]),
            _pooled([c_groups[k] for k in members]),
        )
    return out


def _pooled(groups: list[Group]) -> Group:
    return Group(pd.concat([g.frame for g in groups]), np.concatenate([g.ok for g in groups]))


def _grows(slope: float, boot: np.ndarray) -> bool:
    """Whether first-token time measurably grew with the prompt (the slope's 95% interval is above 0)."""
    return slope > 0 and boot.size > 0 and float(np.quantile(boot, 0.025)) > 0


def judgeable(b_group: Group, c_group: Group) -> bool:
    """Whether both sides drew their prompt lengths widely enough to fit and compare."""
    return _fit_inputs(b_group) is not None and _fit_inputs(c_group) is not None


def prefill_change(
    key: GroupKey, b_group: Group, c_group: Group, settings: CompareSettings, family_size: int, seed: int
) -> MetricChange | None:
    """The prefill-speed judgment for one group, or None where it does not apply."""
    b_in, c_in = _fit_inputs(b_group), _fit_inputs(c_group)
    if b_in is None or c_in is None:
        return None
    b_fit = bootstrap_slopes(*b_in, seed=seed)
    c_fit = bootstrap_slopes(*c_in, seed=seed + 1)
    nan = math.nan
    common: dict[str, Any] = dict(
        target=key.target,
        load_mode=key.load_mode,
        load_level=key.load_level,
        client=key.client,
        shape=key.shape,
        metric=PREFILL_METRIC,
        higher_is_better=True,
        n_baseline=int(np.isfinite(b_in[0]).sum()),
        n_candidate=int(np.isfinite(c_in[0]).sum()),
        baseline_p90=nan,
        baseline_p99=nan,
        candidate_p90=nan,
        candidate_p99=nan,
        vif_baseline=nan,
        vif_candidate=nan,
    )
    if b_fit is None or c_fit is None or not (_grows(*b_fit) and _grows(*c_fit)):
        return MetricChange(
            **common,
            baseline_p50=1000.0 / b_fit[0] if b_fit and b_fit[0] > 0 else nan,
            candidate_p50=1000.0 / c_fit[0] if c_fit and c_fit[0] > 0 else nan,
            change=nan,
            ci_low=nan,
            ci_high=nan,
            ci_level=nan,
            p_value=nan,
            significant=False,
            verdict=Verdict.INSUFFICIENT,
            reason="no prefill fit on both sides (too few requests, or first-token time did not grow with the prompt)",
        )
    (b_slope, b_boot), (c_slope, c_boot) = b_fit, c_fit
    n = min(b_boot.size, c_boot.size)
    # Speed is 1000 / slope, so the candidate's speed over the baseline's is b_slope / c_slope.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = b_boot[:n] / c_boot[:n]
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    level = 1.0 - (1.0 - settings.confidence) / max(family_size, 1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(ratios, [alpha, 1 - alpha]) if ratios.size else (nan, nan)
    change = b_slope / c_slope - 1.0
    p_value = float(min(1.0, 2 * min((ratios <= 1).mean(), (ratios >= 1).mean()))) if ratios.size else nan
    significant = bool(ratios.size) and (high < 1.0 or low > 1.0)
    if significant and abs(change) > settings.threshold:
        verdict = Verdict.REGRESSION if change < 0 else Verdict.IMPROVEMENT
        reason = f"beyond ±{settings.threshold:.0%} and significant (p = {p_value:.2g})"
    elif not significant:
        verdict, reason = Verdict.NO_CHANGE, f"not significant (p = {p_value:.2g})"
    else:
        verdict, reason = Verdict.NO_CHANGE, f"significant but within ±{settings.threshold:.0%}"
    return MetricChange(
        **common,
        baseline_p50=1000.0 / b_slope,
        candidate_p50=1000.0 / c_slope,
        change=change,
        ci_low=float(low) - 1.0,
        ci_high=float(high) - 1.0,
        ci_level=level,
        p_value=p_value,
        significant=significant,
        verdict=verdict,
        reason=reason,
    )
