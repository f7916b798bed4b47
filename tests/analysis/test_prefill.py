"""The prefill fit: fixed cost and prefill speed recovered from first-token times, with honest intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis.prefill import MIN_REQUESTS, fit_line, prefill_fits

LADDER = (128, 2000, 8000, 32000)


def _frame(speed: float = 20_000.0, fixed: float = 80.0, per_rung: int = 25, seed: int = 1, **extra: object) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tokens = np.repeat(LADDER, per_rung).astype(float)
    ttft = fixed * rng.lognormal(0, 0.1, tokens.size) + tokens * 1000 / speed
    frame = pd.DataFrame({
        "target": "t", "load_mode": "concurrency", "load_level": 1.0, "status": "ok", "warmup": False,
        "input_tokens": tokens, "ttft_ms": ttft,
    })  # fmt: skip
    for key, value in extra.items():
        frame[key] = value
    return frame


def test_the_fit_recovers_the_prefill_speed_and_its_interval_covers_it() -> None:
    (fit,) = prefill_fits(_frame())
    assert fit.fitted and fit.n == 100 and (fit.tokens_min, fit.tokens_max) == (128, 32000)
    assert fit.prefill_tokens_per_s == pytest.approx(20_000, rel=0.05)
    low, high = fit.prefill_tokens_per_s_ci
    assert low < 20_000 < high and low < fit.prefill_tokens_per_s < high
    assert fit.fixed_ms_ci[0] < fit.fixed_ms < fit.fixed_ms_ci[1]
    assert 60 < fit.fixed_ms < 100


def test_warm_cache_and_later_turns_are_left_out_of_the_fit() -> None:
    # Warm requests are told by the cached input tokens the provider reported (records have no
    # cache-state column); a cold request reports 0 or nothing.
    cold = _frame(turn=1).assign(cached_input_tokens=0.0)
    warm = _frame(seed=2, turn=1)
    warm["cached_input_tokens"] = warm["input_tokens"] * 0.9
    warm["ttft_ms"] = 30.0  # a cache hit must not read as a faster prefill
    later = _frame(seed=3, turn=2).assign(cached_input_tokens=float("nan"))
    later["ttft_ms"] = 5.0
    (alone,) = prefill_fits(cold)
    (mixed,) = prefill_fits(pd.concat([cold, warm, later], ignore_index=True))
    assert mixed.n == alone.n == 100
    assert mixed.prefill_tokens_per_s == pytest.approx(alone.prefill_tokens_per_s)


def test_failed_and_warmup_requests_do_not_count() -> None:
    frame = _frame()
    bad = frame.iloc[:10].copy()
    bad["ttft_ms"] = 10_000.0
    bad.loc[bad.index[:5], "status"] = "error"
    bad.loc[bad.index[5:], "warmup"] = True
    (fit,) = prefill_fits(pd.concat([frame, bad], ignore_index=True))
    assert fit.n == 100 and fit.prefill_tokens_per_s == pytest.approx(20_000, rel=0.05)


def test_no_fit_without_two_lengths_or_enough_requests() -> None:
    one_length = _frame()
    one_length["input_tokens"] = 128.0
    (fit,) = prefill_fits(one_length)
    assert not fit.fitted and "one prompt length" in fit.reason and math.isnan(fit.prefill_tokens_per_s)
    n, *_, reason = fit_line(np.arange(MIN_REQUESTS - 1, dtype=float), np.ones(MIN_REQUESTS - 1))
    assert n == MIN_REQUESTS - 1 and "a fit needs" in reason


def test_no_growth_gives_an_interval_open_above() -> None:
    flat = _frame()
    flat["ttft_ms"] = 80.0 + np.random.default_rng(4).normal(0, 5, len(flat))
    (fit,) = prefill_fits(flat)
    assert fit.fitted and fit.prefill_tokens_per_s_ci[1] == math.inf


def test_groups_are_fitted_apart() -> None:
    fast = _frame(speed=40_000)
    fast["target"] = "fast"
    fits = {f.target: f for f in prefill_fits(pd.concat([_frame(), fast], ignore_index=True))}
    assert fits["fast"].prefill_tokens_per_s == pytest.approx(40_000, rel=0.08)
    assert fits["t"].prefill_tokens_per_s == pytest.approx(20_000, rel=0.05)
    assert prefill_fits(pd.DataFrame()) == []
