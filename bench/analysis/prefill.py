"""How first-token time grows with prompt length: a straight-line fit per group, with CIs.

A provider's first-token time is roughly a fixed cost (network, queueing, scheduling) plus
prefill, which grows with the number of input tokens at the provider's prefill speed::

    ttft_ms ≈ fixed_ms + input_tokens × 1000 / prefill_tokens_per_s

The fit is ordinary least squares over a group's successful measured requests, with the
provider's own input-token count (``input_tokens``: usage, or the request's estimate when a
provider reports none) on the x axis, since providers tokenise the same text differently.
Only requests whose prompt was prefilled in full count: warm-cache requests (prefix served
from cache) and later conversation turns are left out of the fit, so a cache hit cannot pass
for a fast prefill. A prompt ladder's rungs (request shapes, docs/scenarios.md) are pooled:
each rung holds one length, so the line is fitted across them. When a run ran both cache
states, cold and warm requests are fitted apart, never together: the warm fit keeps its
cache hits (it is the line of a prompt whose shared prefix was cached), the cold fit keeps
only full prefills. The 95% intervals come from a pairs bootstrap (requests resampled with
replacement, the line refitted each time); the prefill speed's interval is the slope's,
inverted, and is open above (``inf``) when the slope's interval reaches zero: no growth could
be told from noise. Definitions and how to read the fit: docs/metrics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from bench.analysis.bootstrap import CONFIDENCE, N_RESAMPLES
from bench.scenario.shapes import parse

#: Requests a fit needs, and distinct prompt lengths, before it says anything.
MIN_REQUESTS: Final = 8
MIN_LENGTHS: Final = 2
#: Above this many requests a group is subsampled (seeded) before the bootstrap: the
#: resampling works on a requests × resamples matrix.
MAX_FIT_SAMPLES: Final = 4_000


@dataclass(frozen=True, slots=True)
class PrefillFit:
    """One group's fitted line: fixed cost and prefill speed, each with its 95% interval.

    ``reason`` is empty when there is a fit, else why there is none (fewer than
    ``MIN_REQUESTS`` requests, one prompt length only, ...): figures are NaN then.
    """

    target: str
    load_mode: str
    load_level: float
    n: int
    tokens_min: float
    tokens_max: float
    fixed_ms: float
    fixed_ms_ci: tuple[float, float]
    ms_per_token: float
    prefill_tokens_per_s: float
    prefill_tokens_per_s_ci: tuple[float, float]
    reason: str = ""
    #: The client path that measured the group ("" where nothing says).
    client: str = ""
    #: "cold" or "warm" when the run ran both cache states (each fitted apart), else "".
    cache: str = ""

    @property
    def fitted(self) -> bool:
        return not self.reason


def _ols(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts and slopes of weighted least-squares lines, one per row of ``w``."""
    sw = w.sum(axis=1)
    mx = (w @ x) / sw
    my = (w @ y) / sw
    sxx = (w @ (x * x)) / sw - mx * mx
    sxy = (w @ (x * y)) / sw - mx * my
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, np.nan)
    return my - slope * mx, slope


def _speed(ms_per_token: float) -> float:
    return 1000.0 / ms_per_token if ms_per_token > 0 else math.inf


@dataclass(frozen=True, slots=True)
class _Resampled:
    """A group's line and its pairs-bootstrap resamples: what every use of the fit starts from."""

    n: int
    intercept: float
    slope: float
    boot_intercepts: np.ndarray
    boot_slopes: np.ndarray


def _resample(tokens: np.ndarray, ttft_ms: np.ndarray, seed: int, n_resamples: int) -> _Resampled | str:
    """The fit and its resamples over paired finite values, or why there is none."""
    keep = np.isfinite(tokens) & np.isfinite(ttft_ms) & (tokens >= 0)
    x, y = tokens[keep].astype("float64"), ttft_ms[keep].astype("float64")
    if x.size < MIN_REQUESTS:
        return f"{x.size} requests with a token count (a fit needs {MIN_REQUESTS})"
    if np.unique(x).size < MIN_LENGTHS:
        return "one prompt length only: give input_tokens a distribution ({ mean, stdev, min, max })"
    rng = np.random.default_rng(seed)
    if x.size > MAX_FIT_SAMPLES:
        pick = rng.choice(x.size, MAX_FIT_SAMPLES, replace=False)
        x, y = x[pick], y[pick]
    a, b = _ols(x, y, np.ones((1, x.size)))
    weights = rng.multinomial(x.size, np.full(x.size, 1.0 / x.size), size=n_resamples).astype("float64")
    boot_a, boot_b = _ols(x, y, weights)
    return _Resampled(x.size, float(a[0]), float(b[0]), boot_a, boot_b)


def bootstrap_slopes(
    tokens: np.ndarray, ttft_ms: np.ndarray, *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> tuple[float, np.ndarray] | None:
    """(ms per token, the slope of each pairs-bootstrap resample) — for comparing two fits, whose
    ratio needs the resamples themselves; None when there is no fit (see :func:`fit_line`)."""
    fit = _resample(tokens, ttft_ms, seed, n_resamples)
    if isinstance(fit, str):
        return None
    return fit.slope, fit.boot_slopes[np.isfinite(fit.boot_slopes)]


def fit_band(
    tokens: np.ndarray, ttft_ms: np.ndarray, xs: np.ndarray, *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The fitted line at ``xs`` and its pointwise 95% band (pairs bootstrap), for a chart;
    None where :func:`fit_line` has no fit."""
    fit = _resample(tokens, ttft_ms, seed, n_resamples)
    if isinstance(fit, str):
        return None
    ok = np.isfinite(fit.boot_intercepts) & np.isfinite(fit.boot_slopes)
    lines = fit.boot_intercepts[ok, None] + fit.boot_slopes[ok, None] * xs[None, :]
    alpha = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(lines, [alpha, 1 - alpha], axis=0)
    return fit.intercept + fit.slope * xs, low, high


def fit_line(
    tokens: np.ndarray, ttft_ms: np.ndarray, *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> tuple[int, float, tuple[float, float], float, tuple[float, float], str]:
    """(n, fixed_ms, its CI, ms_per_token, its CI, reason) for paired finite values."""
    fit = _resample(tokens, ttft_ms, seed, n_resamples)
    if isinstance(fit, str):
        keep = np.isfinite(tokens) & np.isfinite(ttft_ms) & (tokens >= 0)
        nan2 = (math.nan, math.nan)
        return int(keep.sum()), math.nan, nan2, math.nan, nan2, fit
    ok = np.isfinite(fit.boot_slopes)
    alpha = (1.0 - CONFIDENCE) / 2.0
    a_lo, a_hi = np.quantile(fit.boot_intercepts[ok], [alpha, 1 - alpha])
    b_lo, b_hi = np.quantile(fit.boot_slopes[ok], [alpha, 1 - alpha])
    return fit.n, fit.intercept, (float(a_lo), float(a_hi)), fit.slope, (float(b_lo), float(b_hi)), ""


#: How widely prompt lengths must range (largest ÷ smallest) before a fit is shown or judged:
#: a fixed prompt's counts vary by a few tokens, and a line through them is noise.
WIDE_SPAN: Final = 2.0


def ranges_widely(lengths: np.ndarray) -> bool:
    """Whether these (finite, positive) prompt lengths span :data:`WIDE_SPAN` or more."""
    finite = lengths[np.isfinite(lengths) & (lengths > 0)]
    return finite.size >= 2 and float(finite.max()) >= WIDE_SPAN * float(finite.min())


def full_prefill(rows: pd.DataFrame) -> pd.DataFrame:
    """Requests whose whole prompt was prefilled: not warm-cache (none of it read from the
    provider's cache), first turn of a conversation."""
    mask = pd.Series(True, index=rows.index)
    if "cached_input_tokens" in rows:
        cached = pd.to_numeric(rows["cached_input_tokens"], errors="coerce")
        mask &= cached.isna() | (cached <= 0)
    if "turn" in rows:
        turn = pd.to_numeric(rows["turn"], errors="coerce")
        mask &= turn.isna() | (turn <= 1)
    return rows[mask]


def _cache_states(rows: pd.DataFrame) -> pd.Series:
    """Each row's cache state from its request shape ("cold", "warm"; "" when the shape says none)."""
    if "shape" not in rows:
        return pd.Series("", index=rows.index, dtype="object")
    labels = rows["shape"].astype("object").where(rows["shape"].notna(), "")
    states = {label: parse(label).cache or "" for label in dict.fromkeys(labels.tolist()) if isinstance(label, str)}
    return labels.map(lambda label: states.get(label, "")).astype("object")


class PrefillGroup(NamedTuple):
    """One fit's requests: the group's key (``cache`` "" unless both cache states ran) and its
    paired input tokens and first-token times."""

    target: str
    load_mode: str
    load_level: float
    client: str
    cache: str
    tokens: np.ndarray
    ttft_ms: np.ndarray


def prefill_groups(frame: pd.DataFrame) -> list[PrefillGroup]:
    """The requests each fit is drawn from, per (target, load level, client path) — every rung
    of a prompt ladder pooled — and per cache state when the frame holds both (then cold and
    warm are never mixed). Successful measured first turns; cold (and plain) groups keep only
    full prefills (:func:`full_prefill`), a warm group keeps its cache hits."""
    if frame.empty or "ttft_ms" not in frame or "input_tokens" not in frame:
        return []
    rows = frame[(frame["status"] == "ok") & ~frame["warmup"].astype(bool)]
    states = _cache_states(rows)
    both = {"cold", "warm"} <= set(states.tolist())
    if both:
        warm = (states == "warm").to_numpy(dtype=bool)
        rows = pd.concat([full_prefill(rows.loc[~warm]), first_turns(rows.loc[warm])]).sort_index(kind="stable")
        states = _cache_states(rows)
    else:
        rows = full_prefill(rows)
        states = pd.Series("", index=rows.index, dtype="object")
    client = rows["client"].astype("object").fillna("") if "client" in rows else pd.Series("", index=rows.index)
    out: list[PrefillGroup] = []
    for (target, mode, level, path, cache), group in rows.assign(client=client, cache_state=states).groupby(
        ["target", "load_mode", "load_level", "client", "cache_state"], sort=False
    ):
        out.append(
            PrefillGroup(
                str(target),
                str(mode),
                float(str(level)),
                str(path),
                str(cache),
                pd.to_numeric(group["input_tokens"], errors="coerce").to_numpy(dtype="float64"),
                pd.to_numeric(group["ttft_ms"], errors="coerce").to_numpy(dtype="float64"),
            )
        )
    return out


def first_turns(rows: pd.DataFrame) -> pd.DataFrame:
    """Requests that opened their conversation (or had none): later turns carry history."""
    if "turn" not in rows:
        return rows
    turn = pd.to_numeric(rows["turn"], errors="coerce")
    return rows[turn.isna() | (turn <= 1)]


def prefill_fits(frame: pd.DataFrame, *, seed: int = 0, n_resamples: int = N_RESAMPLES) -> list[PrefillFit]:
    """One fit per (target, load level, client path) of successful, measured, streamed requests,
    and per cache state when both ran (:func:`prefill_groups`).

    Prompts of every length the scenario drew, and every rung of a ladder, are pooled within
    their group: the fit is across them. Groups whose prompts all have one length get a fit
    with a ``reason``.
    """
    out: list[PrefillFit] = []
    for g in prefill_groups(frame):
        target, mode, level, path, cache, tokens, ttft = g
        n, fixed, fixed_ci, slope, slope_ci, reason = fit_line(tokens, ttft, seed=seed, n_resamples=n_resamples)
        finite = tokens[np.isfinite(tokens)]
        speed = _speed(slope) if not reason else math.nan
        # The speed falls as the slope rises: the slope's upper bound gives the speed's lower one.
        speed_ci = (_speed(slope_ci[1]), _speed(slope_ci[0])) if not reason else (math.nan, math.nan)
        out.append(
            PrefillFit(
                target=str(target),
                load_mode=str(mode),
                load_level=float(str(level)),
                n=n,
                tokens_min=float(finite.min()) if finite.size else math.nan,
                tokens_max=float(finite.max()) if finite.size else math.nan,
                fixed_ms=fixed,
                fixed_ms_ci=fixed_ci,
                ms_per_token=slope,
                prefill_tokens_per_s=speed,
                prefill_tokens_per_s_ci=speed_ci,
                reason=reason,
                client=str(path),
                cache=cache,
            )
        )
    return out
