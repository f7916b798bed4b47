"""The CI gate's statistics: is a candidate's median really different from a baseline's?

Latency samples are skewed (a long right tail), noisy, and — under a closed-loop load —
correlated in request order: requests in flight together share a server's slow moments.
The test is built for that (``benchmarks/gate_calibration.py`` measures how well):

* **Estimate**: the ratio of medians, candidate / baseline. Medians ignore the tail that
  makes means jumpy, a ratio reads as "TTFT went up 18%", and it is the ratio of the two p50
  columns the report prints.
* **Sampling spread**: the ordinary-bootstrap distribution of each side's median, drawn from
  the exact law of a resample's middle order statistics (:func:`bench.analysis.bootstrap.quantile_draws`,
  the same draws as the report's CIs), so a resample costs O(1) and 10 000 resamples are cheap.
* **Correlation**: the bootstrap assumes independent requests. Each side's spread is widened
  by the variance-inflation factor (VIF) of a median under the serial correlation seen in
  that side's log values, in request order. A block bootstrap is the textbook answer, but at
  n = 50 it under-covers badly (the calibration shows 9–18% false alarms at AR(1) φ = 0.5–0.7
  against ~5% here), because a few dozen samples hold too few blocks to show the dependence.
  The VIF is the larger of two estimates: an AR(1) fit (lag-1 autocorrelation, Kendall's
  small-sample bias correction) and a Bartlett-weighted sum of autocorrelations up to lag
  ⌈2·n^⅓⌉, each mapped to the median's sign process with the Gaussian identity
  ``corr(sign) = (2/π)·arcsin(ρ)``. Independent data gives a VIF near 1.
* **p-value**: twice the widened bootstrap mass on the far side of "no change".

Whether a change is also *large enough* to matter (the second gate), and the correction for
testing many metrics at once, are decided in :mod:`bench.gate.compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bench.analysis.bootstrap import quantile_draws

#: Resamples per side. Draws are O(1) each, so this is generous: a Bonferroni-adjusted
#: interval's tail (0.05 / 24 / 2 ≈ 0.1%) still rests on ~10 draws.
N_RESAMPLES = 10_000
#: Largest VIF applied: beyond this the series holds almost no independent information
#: (φ ≈ 0.95) and the interval is already wider than any threshold.
MAX_VIF = 40.0


@dataclass(frozen=True)
class RatioEstimate:
    """Candidate median / baseline median, with a CI and p-value for "ratio = 1"."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float
    n_baseline: int
    n_candidate: int
    #: How much serial correlation widened each side's variance (1.0 = none seen).
    vif_baseline: float
    vif_candidate: float

    @property
    def significant(self) -> bool:
        """The CI excludes "no change"."""
        return self.ci_low > 1.0 or self.ci_high < 1.0

    @property
    def change(self) -> float:
        """Relative change of the median: +0.2 means the candidate's median is 20% larger."""
        return self.ratio - 1.0


def clean(values: ArrayLike) -> NDArray[np.float64]:
    """Finite, positive values in their original (request) order."""
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x) & (x > 0)]


def _sign_correlation(rho: NDArray[np.float64]) -> NDArray[np.float64]:
    """Autocorrelation of the median's sign process for Gaussian data with autocorrelation rho."""
    return (2.0 / math.pi) * np.arcsin(np.clip(rho, -1.0, 1.0))


def serial_vif(log_values: ArrayLike) -> float:
    """Variance-inflation factor of the sample median from serial correlation (≥ 1).

    ``log_values`` in request order. See the module docstring for the two estimates.
    """
    y = np.asarray(log_values, dtype=np.float64)
    n = len(y)
    if n < 8:
        return 1.0
    y = y - y.mean()
    gamma0 = float(np.dot(y, y))
    if gamma0 <= 0:
        return 1.0
    lags = min(math.ceil(2 * n ** (1 / 3)), n - 2)
    rho = np.array([np.dot(y[:-k], y[k:]) / gamma0 for k in range(1, lags + 1)])
    # AR(1): lag-1 autocorrelation, bias-corrected (Kendall 1954), implied at every lag.
    phi = float(np.clip(rho[0] + (1 + 3 * rho[0]) / n, 0.0, 0.95))
    implied = np.asarray(phi ** np.arange(1, 400), dtype=np.float64)
    vif_ar1 = 1.0 + 2.0 * float(np.sum(_sign_correlation(implied)))
    # Bartlett-weighted sum of the observed autocorrelations (+1/n: mean-centring's bias).
    weights = 1.0 - np.arange(1, lags + 1) / (lags + 1)
    vif_kernel = 1.0 + 2.0 * float(np.sum(weights * _sign_correlation(rho + 1.0 / n)))
    return float(min(max(vif_ar1, vif_kernel, 1.0), MAX_VIF))


def median_draws(values: ArrayLike, n_resamples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``n_resamples`` draws from the ordinary-bootstrap distribution of the sample median:
    :func:`bench.analysis.bootstrap.quantile_draws` at q = 0.5, the report's own draws."""
    s = np.sort(np.asarray(values, dtype=np.float64))
    if len(s) == 0:
        raise ValueError("no values")
    return quantile_draws(s, 0.5, n_resamples, rng)


def _widened_log_medians(
    x: NDArray[np.float64], n_resamples: int, rng: np.random.Generator, correlated: bool
) -> tuple[NDArray[np.float64], float, float]:
    log_x = np.log(x)
    centre = math.log(float(np.median(x)))  # the median itself, so the ratio is the p50 columns' ratio
    draws = np.log(median_draws(x, n_resamples, rng))
    vif = serial_vif(log_x) if correlated else 1.0
    return centre + (draws - centre) * math.sqrt(vif), centre, vif


def median_ratio(
    baseline: ArrayLike,
    candidate: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    correlated: bool = True,
) -> RatioEstimate:
    """Ratio of medians (candidate / baseline) with a correlation-aware bootstrap CI.

    Samples are given in request order; non-positive and non-finite values are dropped.
    ``correlated=False`` skips the VIF (plain bootstrap; the calibration compares both).
    Needs at least 2 values a side.
    """
    b = clean(baseline)
    c = clean(candidate)
    if len(b) < 2 or len(c) < 2:
        raise ValueError(f"need at least 2 positive samples per side (got {len(b)} and {len(c)})")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    rng = np.random.default_rng(seed)
    draws_b, centre_b, vif_b = _widened_log_medians(b, n_resamples, rng, correlated)
    draws_c, centre_c, vif_c = _widened_log_medians(c, n_resamples, rng, correlated)
    diffs = draws_c - draws_b
    alpha = 1.0 - confidence
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p_value = min(1.0, 2.0 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return RatioEstimate(
        ratio=math.exp(centre_c - centre_b),
        ci_low=math.exp(float(low)),
        ci_high=math.exp(float(high)),
        p_value=p_value,
        confidence=confidence,
        n_baseline=len(b),
        n_candidate=len(c),
        vif_baseline=vif_b,
        vif_candidate=vif_c,
    )


@dataclass(frozen=True)
class ErrorRateTest:
    """Did the candidate fail more often than the baseline? One-sided Fisher exact test."""

    baseline_errors: int
    baseline_n: int
    candidate_errors: int
    candidate_n: int
    p_value: float

    @property
    def baseline_rate(self) -> float:
        return self.baseline_errors / self.baseline_n if self.baseline_n else math.nan

    @property
    def candidate_rate(self) -> float:
        return self.candidate_errors / self.candidate_n if self.candidate_n else math.nan

    @property
    def change(self) -> float:
        """Absolute change of the error rate (0.05 = five percentage points more failures)."""
        return self.candidate_rate - self.baseline_rate


def error_rate_test(baseline_errors: int, baseline_n: int, candidate_errors: int, candidate_n: int) -> ErrorRateTest:
    """One-sided Fisher exact test of "the candidate's error rate is higher".

    Exact, so it stays honest with the small counts a CI run has (0 of 50 against 4 of 50).
    Improvements are not tested: fewer errors never fails a gate.
    """
    if not (0 <= baseline_errors <= baseline_n and 0 <= candidate_errors <= candidate_n):
        raise ValueError("error counts must lie between 0 and the number of requests")
    if baseline_n == 0 or candidate_n == 0:
        p_value = math.nan
    else:
        table = [
            [candidate_errors, candidate_n - candidate_errors],
            [baseline_errors, baseline_n - baseline_errors],
        ]
        p_value = float(stats.fisher_exact(table, alternative="greater").pvalue)
    return ErrorRateTest(baseline_errors, baseline_n, candidate_errors, candidate_n, p_value)
