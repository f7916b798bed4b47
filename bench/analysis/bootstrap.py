"""The one bootstrap of a quantile: the report's CIs (``metrics``) and the CI gate's ratio of
medians (``gate.stats``) draw from it, so their intervals cannot disagree by method.

A resample's order statistics are drawn directly instead of building resamples (see
:func:`quantile_draws`): exact, and O(1) per resample after one sort. Groups larger than
``max_samples`` are first subsampled (seeded, without replacement), which makes their
interval conservative (wider than the full data would give).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

CONFIDENCE: Final[float] = 0.95
N_RESAMPLES: Final[int] = 2000
MAX_SAMPLES: Final[int] = 10_000


def _order_stat_index(m: int, u: np.ndarray) -> np.ndarray:
    """0-based index into the sorted sample of the value a resampled uniform picks."""
    return np.minimum((m * u).astype(np.int64), m - 1)


def quantile_draws(
    sorted_values: NDArray[np.float64], q: float, n_resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``n_resamples`` draws from the ordinary-bootstrap distribution of the q-quantile
    (numpy's linear definition) of ``sorted_values`` (ascending, finite, at least one).

    The ordinary bootstrap resamples m values with replacement and takes the quantile, which
    interpolates between the resample's j-th and (j+1)-th order statistics. Resampled
    indices are ``floor(m·U_i)`` for uniform ``U_i``, so the resample's j-th order statistic
    is the sample's ``floor(m·U_(j))``-th value, with ``U_(j) ~ Beta(j, m−j+1)`` and, given
    it, ``U_(j+1) = U_(j) + (1−U_(j))·Beta(1, m−j)``. Drawing those two is exactly the same
    distribution as resampling, in O(n_resamples) after the sort, for any m.
    """
    x = sorted_values
    m = x.size
    h = (m - 1) * q
    j = int(math.floor(h))  # 0-based: the resample's (j+1)-th smallest, then the next
    frac = h - j
    u_lo = rng.beta(j + 1, m - j, size=n_resamples)
    lo = x[_order_stat_index(m, u_lo)]
    if frac > 0 and j + 1 < m:
        u_hi = u_lo + (1.0 - u_lo) * rng.beta(1, m - j - 1, size=n_resamples)
        hi = x[_order_stat_index(m, u_hi)]
        return lo + frac * (hi - lo)
    return lo


def bootstrap_quantile_ci(
    values: np.ndarray,
    q: float,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    max_samples: int = MAX_SAMPLES,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the q-quantile (numpy's linear definition).

    Draws come from :func:`quantile_draws`. Groups above
    ``max_samples`` values are subsampled first (seeded, without replacement).
    Returns (NaN, NaN) for fewer than 2 values.
    """
    x = np.asarray(values, dtype="float64")
    x = x[~np.isnan(x)]
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    if x.size > max_samples:
        x = rng.choice(x, max_samples, replace=False)
    boot = quantile_draws(np.sort(x), q, n_resamples, rng)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(low), float(high)


def quantile_difference_ci(
    before: np.ndarray,
    after: np.ndarray,
    q: float,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    max_samples: int = MAX_SAMPLES,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of q-quantile(after) − q-quantile(before), two independent samples.

    Each side's quantile is drawn by :func:`quantile_draws` (each subsampled first above
    ``max_samples``, as in :func:`bootstrap_quantile_ci`), and the interval is read off the
    differences of paired draws. (NaN, NaN when a side has fewer than 2 values.)
    """
    rng = np.random.default_rng(seed)
    draws = []
    for values in (before, after):
        x = np.asarray(values, dtype="float64")
        x = x[~np.isnan(x)]
        if x.size < 2:
            return math.nan, math.nan
        if x.size > max_samples:
            x = rng.choice(x, max_samples, replace=False)
        draws.append(quantile_draws(np.sort(x), q, n_resamples, rng))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws[1] - draws[0], [alpha, 1.0 - alpha])
    return float(low), float(high)


#: Most resample × item cells drawn at once by :func:`ratio_draws` (bounds its memory).
_RATIO_BATCH_CELLS: Final[int] = 2_000_000


def ratio_draws(
    numerator: np.ndarray, denominator: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``n_resamples`` ordinary-bootstrap draws of sum(numerator) / sum(denominator), resampling
    the items (pairs) with replacement.

    For a figure that is a ratio of totals over items that belong together — the mean gap
    between tokens over requests (total streaming time ÷ gaps: the gaps of one request are not
    independent, the requests are), CPU per chunk over time slices (CPU seconds ÷ chunks) —
    resampling the items keeps each item's numerator with its denominator.
    """
    num = np.asarray(numerator, dtype="float64")
    den = np.asarray(denominator, dtype="float64")
    m = num.size
    out = np.empty(n_resamples, dtype="float64")
    batch = max(1, _RATIO_BATCH_CELLS // max(m, 1))
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        picks = rng.integers(0, m, size=(size, m))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + size] = num[picks].sum(axis=1) / den[picks].sum(axis=1)
    return out


def ratio_difference_ci(
    before: tuple[np.ndarray, np.ndarray],
    after: tuple[np.ndarray, np.ndarray],
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of ratio(after) − ratio(before), where each side is (numerators,
    denominators) of its items and its ratio is sum ÷ sum (:func:`ratio_draws`). (NaN, NaN when
    a side has fewer than 2 items or no denominator.)"""
    rng = np.random.default_rng(seed)
    draws = []
    for num, den in (before, after):
        n, d = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
        keep = ~(np.isnan(n) | np.isnan(d))
        n, d = n[keep], d[keep]
        if n.size < 2 or not d.sum() > 0:
            return math.nan, math.nan
        draws.append(ratio_draws(n, d, n_resamples, rng))
    diff = draws[1] - draws[0]
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diff, [alpha, 1.0 - alpha])
    return float(low), float(high)
