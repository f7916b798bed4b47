"""The gate's statistics (bench.gate.stats): properties that must hold for any data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.gate.stats import error_rate_test, median_draws, median_ratio, serial_vif

samples = st.lists(st.floats(min_value=1.0, max_value=10_000.0, allow_nan=False), min_size=5, max_size=80)


@settings(max_examples=40, deadline=None)
@given(samples, samples, st.floats(min_value=0.1, max_value=10.0))
def test_ratio_is_scale_equivariant(baseline: list[float], candidate: list[float], factor: float) -> None:
    plain = median_ratio(baseline, candidate, n_resamples=500)
    scaled = median_ratio(baseline, [v * factor for v in candidate], n_resamples=500)
    assert scaled.ratio == pytest.approx(plain.ratio * factor, rel=1e-9)
    assert scaled.ci_low == pytest.approx(plain.ci_low * factor, rel=1e-9)
    assert scaled.ci_low <= scaled.ratio * (1 + 1e-12) and scaled.ratio <= scaled.ci_high * (1 + 1e-12)
    assert 0.0 <= scaled.p_value <= 1.0


@settings(max_examples=30, deadline=None)
@given(samples)
def test_identical_samples_show_no_change(values: list[float]) -> None:
    est = median_ratio(values, values, n_resamples=500)
    assert est.ratio == pytest.approx(1.0)
    assert not est.significant
    assert est.change == pytest.approx(0.0, abs=1e-12)


def test_a_clear_shift_is_significant_and_the_ci_covers_it() -> None:
    rng = np.random.default_rng(1)
    base = 100 * rng.lognormal(0, 0.2, 100)
    cand = 150 * rng.lognormal(0, 0.2, 100)
    est = median_ratio(base, cand)
    assert est.significant and est.ci_low > 1.3 and est.ci_high < 1.75
    assert est.ratio == pytest.approx(np.median(cand) / np.median(base))
    assert est.n_baseline == est.n_candidate == 100


def test_non_positive_and_missing_values_are_dropped() -> None:
    est = median_ratio([1, 2, 3, math.nan, -1, 0], [2, 4, 6, math.inf])
    assert est.n_baseline == 3 and est.n_candidate == 3
    with pytest.raises(ValueError, match="at least 2"):
        median_ratio([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="confidence"):
        median_ratio([1, 2], [1, 2], confidence=1.5)


def _ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    z = np.empty(n)
    z[0] = rng.standard_normal()
    for i in range(1, n):
        z[i] = phi * z[i - 1] + math.sqrt(1 - phi * phi) * rng.standard_normal()
    return z


def test_serial_vif_sees_correlation_and_not_independence() -> None:
    rng = np.random.default_rng(3)
    independent = np.median([serial_vif(rng.standard_normal(200)) for _ in range(30)])
    correlated = np.median([serial_vif(_ar1(200, 0.6, rng)) for _ in range(30)])
    assert 1.0 <= independent < 1.4
    assert correlated > 2.0  # the median's VIF at φ = 0.6 is about 2.7
    assert serial_vif([1.0, 2.0, 3.0]) == 1.0  # too short to judge
    assert serial_vif(np.ones(50)) == 1.0  # no variance


def test_correlation_widens_the_interval() -> None:
    rng = np.random.default_rng(5)
    base, cand = np.exp(0.3 * _ar1(60, 0.7, rng)), np.exp(0.3 * _ar1(60, 0.7, rng))
    wide = median_ratio(base, cand)
    narrow = median_ratio(base, cand, correlated=False)
    assert wide.vif_baseline > 1.5 and narrow.vif_baseline == 1.0
    assert wide.ci_high / wide.ci_low > narrow.ci_high / narrow.ci_low


@pytest.mark.parametrize("n", [1, 7, 30, 51])
def test_median_draws_follow_the_bootstrap_law(n: int) -> None:
    """Against a brute-force bootstrap of the median (resampling indices)."""
    rng = np.random.default_rng(n)
    x = rng.lognormal(0, 0.3, n)
    fast = median_draws(x, 40_000, np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, n, (40_000, n))
    brute = np.median(x[idx], axis=1)
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    assert np.quantile(fast, qs) == pytest.approx(np.quantile(brute, qs), rel=0.02)
    with pytest.raises(ValueError):
        median_draws([], 10, rng)


def test_error_rate_test() -> None:
    worse = error_rate_test(0, 100, 10, 100)
    assert worse.p_value < 0.01 and worse.change == pytest.approx(0.10)
    assert worse.baseline_rate == 0.0 and worse.candidate_rate == 0.10
    same = error_rate_test(2, 100, 2, 100)
    assert same.p_value > 0.5
    empty = error_rate_test(0, 0, 0, 0)
    assert math.isnan(empty.p_value) and math.isnan(empty.change)
    with pytest.raises(ValueError):
        error_rate_test(5, 3, 0, 1)
