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
