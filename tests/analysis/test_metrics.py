"""bench.analysis.metrics against hand-computed values, the ordinary bootstrap, and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.analysis.metrics import (
    GROUP_KEYS,
    aggregate,
    aggregate_columns,
    bootstrap_median_ci,
    bootstrap_quantile_ci,
    column_stat,
    evaluate_slo,
    mean_ci,
    measured,
    percentiles,
    pooled_itl,
    request_meets,
    stat_quantile,
    wilson_ci,
)
from bench.results.records import frame_from_records
from bench.scenario.slo import slo_from_table

S = 1_000_000_000  # ns per second


def row(**kw):
    base = {
        "run_id": "r",
        "target": "a",
        "provider": "groq",
        "model": "m",
        "load_mode": "concurrency",
        "load_level": 1.0,
        "request_index": 0,
        "warmup": False,
        "stream": True,
        "client": "fast",
        "status": "ok",
        "started_at_ns": 0,
    }
    base.update(kw)
    return base


@pytest.fixture
def small() -> pd.DataFrame:
    """Two targets, hand-checkable: target a has 4 ok + 1 error (+1 warm-up), b one ok request."""
    rows = [
        row(warmup=True, ttft_ms=1000.0, e2e_ms=5000.0, started_at_ns=0, output_tokens=999),
        row(
            request_index=1,
            ttft_ms=10.0,
            ttfa_ms=10.0,
            e2e_ms=500.0,
            started_at_ns=10 * S,
            output_tokens=100,
            output_tps=100.0,
            tpot_ms=10.0,
            response_100_ms=1010.0,
            itl_ms=[1.0, 2.0],
            ttfb_ms=5.0,
        ),
        row(
            request_index=2,
            ttft_ms=20.0,
            ttfa_ms=30.0,
            e2e_ms=1000.0,
            started_at_ns=11 * S,
            output_tokens=50,
            output_tps=200.0,
            tpot_ms=5.0,
            response_100_ms=530.0,
            itl_ms=[3.0],
            ttfb_ms=6.0,
        ),
        row(
            request_index=3,
            ttft_ms=30.0,
            ttfa_ms=30.0,
            e2e_ms=700.0,
            started_at_ns=11 * S,
            output_tokens=10,
            output_tps=300.0,
            tpot_ms=1000 / 300,
            response_100_ms=30 + 100_000 / 300,
            itl_ms=[],
            ttfb_ms=7.0,
        ),
        row(
            request_index=4,
            ttft_ms=40.0,
            ttfa_ms=40.0,
            e2e_ms=800.0,
            started_at_ns=11 * S,
            output_tokens=40,
            output_tps=400.0,
            tpot_ms=2.5,
            response_100_ms=290.0,
            itl_ms=[4.0, 5.0, 6.0],
            ttfb_ms=8.0,
        ),
        row(request_index=5, status="error", error_kind="timeout", e2e_ms=1500.0, started_at_ns=11 * S),
        row(
            target="b",
            ttft_ms=50.0,
            ttfa_ms=50.0,
            e2e_ms=100.0,
            started_at_ns=20 * S,
            output_tokens=10,
            output_tps=90.0,
            tpot_ms=1000 / 90,
            itl_ms=[7.0],
        ),
    ]
    return frame_from_records(rows)


def test_measured_drops_warmup(small: pd.DataFrame) -> None:
    assert len(measured(small)) == 6
    assert not measured(small)["warmup"].any()


def test_percentiles_hand_computed() -> None:
    # Linear interpolation: p50 of 10..40 is 25; p90 = 10 + 0.9*3*10 = 37; p99 = 39.7.
    assert percentiles(np.array([40.0, 10.0, 30.0, 20.0, np.nan]), [50, 90, 99]).tolist() == pytest.approx([25.0, 37.0, 39.7])
    assert np.isnan(percentiles(np.array([np.nan]), [50])).all()


def test_aggregate_hand_computed(small: pd.DataFrame) -> None:
    agg = aggregate(small)
    assert list(agg.columns) == aggregate_columns()
    assert agg["target"].tolist() == ["a", "b"]  # order of first appearance
    a = agg.iloc[0]
    assert (a["n"], a["ok"], a["errors"]) == (5, 4, 1)
    assert a["error_rate"] == pytest.approx(0.2)
    # Latency over ok rows only: 10, 20, 30, 40.
    assert a["ttft_ms_p50"] == pytest.approx(25.0)
    assert a["ttft_ms_p90"] == pytest.approx(37.0)
    assert a["ttft_ms_p99"] == pytest.approx(39.7)
    assert a["ttft_ms_mean"] == pytest.approx(25.0)
    assert a["ttfa_ms_p50"] == pytest.approx(30.0)
    assert a["ttfb_ms_p50"] == pytest.approx(6.5)
    # Error row's 1500 ms is not a latency; warm-up's 5000 neither.
    assert a["e2e_ms_p99"] < 1000.0 + 1e-9
    # ITL pools every gap: 1,2,3,4,5,6 -> p50 3.5.
    assert a["itl_ms_p50"] == pytest.approx(3.5)
    assert a["itl_ms_mean"] == pytest.approx(3.5)
    # Speeds: low tail. 100,200,300,400 -> p10 = 100 + 0.3*100 = 130; p1 = 103.
    assert a["output_tps_p10"] == pytest.approx(130.0)
    assert a["output_tps_p1"] == pytest.approx(103.0)
    assert a["output_tps_p50"] == pytest.approx(250.0)
    # Window: first t0 at 10 s; last end at 11 s + 1.5 s (the error row) -> 2.5 s.
    assert a["window_s"] == pytest.approx(2.5)
    assert a["output_tokens_sum"] == 200.0  # ok rows only, no warm-up
    assert a["agg_output_tps"] == pytest.approx(80.0)
    assert a["rps"] == pytest.approx(2.0)
    assert math.isnan(a["goodput_rps"]) and math.isnan(a["goodput_share"])
    # CIs bracket the median.
    assert a["ttft_ms_p50_ci_low"] <= 25.0 <= a["ttft_ms_p50_ci_high"]
    b = agg.iloc[1]
    assert (b["n"], b["ok"]) == (1, 1)
    assert b["ttft_ms_p50"] == 50.0
    assert math.isnan(b["ttft_ms_p50_ci_low"])  # one value: no interval
    assert math.isnan(b["response_100_ms_p50"])  # nothing applies: NaN, never -1
    assert b["window_s"] == pytest.approx(0.1)


def test_aggregate_without_ci(small: pd.DataFrame) -> None:
    agg = aggregate(small, ci=False)
    assert agg["ttft_ms_p50_ci_low"].isna().all()
    assert agg["ttft_ms_p50"].iloc[0] == pytest.approx(25.0)


def test_goodput(small: pd.DataFrame) -> None:
    slo = slo_from_table({"request_ttft_ms": 25, "request_output_tps": 150})
    agg = aggregate(small, slo)
    a = agg.iloc[0]
    # ok and ttft <= 25 and tps >= 150: only the 20 ms / 200 tok/s request.
    assert a["goodput_share"] == pytest.approx(1 / 5)
    assert a["goodput_rps"] == pytest.approx(1 / 2.5)
    assert agg.iloc[1]["goodput_share"] == 0.0  # b: tps 90 < 150


def test_request_meets_missing_value_fails() -> None:
    frame = frame_from_records([row(ttft_ms=None), row(ttft_ms=5.0)])
    assert request_meets(frame, slo_from_table({"request_ttft_ms": 10})).tolist() == [False, True]


def test_aggregate_groups_by_level_and_all_errors() -> None:
    frame = frame_from_records(
        [
            row(load_level=4.0, status="error", error_kind="rate_limited", e2e_ms=None, started_at_ns=5),
            row(load_level=1.0, ttft_ms=1.0, e2e_ms=2.0),
            row(load_level=4.0, status="error", error_kind="rate_limited", e2e_ms=None, started_at_ns=5),
        ]
    )
    agg = aggregate(frame)
    assert agg[GROUP_KEYS].values.tolist() == [["a", "concurrency", 4.0, "fast", ""], ["a", "concurrency", 1.0, "fast", ""]]
    errors_only = agg.iloc[0]
    assert errors_only["error_rate"] == 1.0
    assert math.isnan(errors_only["ttft_ms_p50"]) and math.isnan(errors_only["itl_ms_p50"])
    assert math.isnan(errors_only["window_s"])  # zero-length window: no rate
    assert math.isnan(errors_only["rps"])


def test_aggregate_empty_and_warmup_only() -> None:
    empty = aggregate(frame_from_records([]))
    assert empty.empty and list(empty.columns) == aggregate_columns()
    warm = aggregate(frame_from_records([row(warmup=True, ttft_ms=1.0)]))
    assert warm.empty


def test_pooled_itl_accepts_arrays_and_missing() -> None:
    assert pooled_itl(pd.Series([np.array([1.0, 2.0]), [3.0], None, float("nan"), []])).tolist() == [1.0, 2.0, 3.0]
    assert pooled_itl(pd.Series([[], []], dtype=object)).size == 0


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_needs_two_values() -> None:
    assert all(math.isnan(x) for x in bootstrap_median_ci(np.array([1.0])))
    assert all(math.isnan(x) for x in bootstrap_median_ci(np.array([np.nan, 3.0])))


def test_bootstrap_small_samples_exact() -> None:
    # n=3: the resample median is x1 with probability 7/27 (> 2.5 %), so the 95 % interval is (1, 3).
    assert bootstrap_median_ci(np.array([3.0, 1.0, 2.0])) == (1.0, 3.0)
    # n=2: medians 1 (1/4), 3 (1/2), 5 (1/4).
    assert bootstrap_median_ci(np.array([1.0, 5.0])) == (1.0, 5.0)
    # Constant data: a point interval.
    assert bootstrap_median_ci(np.full(50, 7.0)) == (7.0, 7.0)


@pytest.mark.parametrize("n", [101, 100])
@pytest.mark.parametrize("q", [0.5, 0.9])
def test_bootstrap_matches_ordinary_resampling(n: int, q: float) -> None:
    x = np.random.default_rng(1).lognormal(0.0, 0.4, n)
    low, high = bootstrap_quantile_ci(x, q, n_resamples=20_000, seed=3)
    rng = np.random.default_rng(5)
    boot = np.quantile(x[rng.integers(0, n, (20_000, n))], q, axis=1)
    ref_low, ref_high = np.quantile(boot, [0.025, 0.975])
    width = ref_high - ref_low
    assert abs(low - ref_low) < 0.08 * width
    assert abs(high - ref_high) < 0.08 * width


def test_bootstrap_width_matches_theory() -> None:
    # Median of N(0,1) samples: standard error ≈ sqrt(pi/2)/sqrt(n).
    x = np.random.default_rng(7).normal(0.0, 1.0, 4000)
    low, high = bootstrap_median_ci(x)
    expected = 2 * 1.96 * math.sqrt(math.pi / 2) / math.sqrt(x.size)
    assert (high - low) == pytest.approx(expected, rel=0.2)


def test_bootstrap_subsamples_large_groups_deterministically() -> None:
    x = np.random.default_rng(2).normal(100.0, 10.0, 50_000)
    a = bootstrap_median_ci(x, max_samples=1000, seed=4)
    assert a == bootstrap_median_ci(x, max_samples=1000, seed=4)
    assert a != bootstrap_median_ci(x, max_samples=1000, seed=5)
    full = bootstrap_median_ci(x, max_samples=100_000)
    # A 1,000-value subsample gives a wider (conservative) interval than all 50,000.
    assert (a[1] - a[0]) > 3 * (full[1] - full[0])
    # Still a valid 95 % interval for the median: it covers the true median (100) about 95 % of the time.
    covered = [lo <= 100.0 <= hi for lo, hi in (bootstrap_median_ci(x, max_samples=1000, seed=s) for s in range(60))]
    assert sum(covered) >= 51


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=300), st.integers(0, 2**16))
def test_property_ci_contains_sample_median(values: list[float], seed: int) -> None:
    x = np.array(values)
    low, high = bootstrap_median_ci(x, seed=seed, n_resamples=500)
    median = float(np.median(x))
    assert low <= high
    assert low <= median + 1e-9 * max(1.0, abs(median))
    assert high >= median - 1e-9 * max(1.0, abs(median))
    assert x.min() <= low and high <= x.max()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(min_value=0.1, max_value=1e5, allow_nan=False), min_size=1, max_size=200))
def test_property_percentiles_monotone(values: list[float]) -> None:
    frame = frame_from_records(
        [row(request_index=i, ttft_ms=v, e2e_ms=v * 2, output_tps=v, itl_ms=[v, v / 2]) for i, v in enumerate(values)]
    )
    a = aggregate(frame, ci=False).iloc[0]
    for col in ("ttft_ms", "e2e_ms", "itl_ms"):
        chain = [a[f"{col}_p{p}"] for p in (50, 90, 95, 99)]
        assert chain == sorted(chain)
        assert min(values) * (0.5 if col == "itl_ms" else 1) - 1e-9 <= a[f"{col}_p50"]
    speeds = [a["output_tps_p1"], a["output_tps_p10"], a["output_tps_p50"]]
    assert speeds == sorted(speeds)


def test_mean_and_wilson_ci_hand_computed() -> None:
    low, high = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    half = 1.959964 * math.sqrt(5 / 3) / 2
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-5)
    assert all(math.isnan(v) for v in mean_ci(np.array([1.0])))
    assert wilson_ci(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_ci(5, 100) == pytest.approx((0.02154, 0.11175), abs=1e-4)
    assert all(math.isnan(v) for v in wilson_ci(0, 0))


# --------------------------------------------------------------------------- SLOs


def test_stat_quantile_speed_low_tail() -> None:
    assert stat_quantile("ttft_ms", "p90") == pytest.approx(0.9)
    assert stat_quantile("output_tps", "p90") == pytest.approx(0.1)
    assert stat_quantile("output_tps", "p50") == pytest.approx(0.5)
    assert stat_quantile("ttft_ms", "mean") is None


def test_column_stat_mean_and_quantile() -> None:
    value, low, high = column_stat(np.array([1.0, 2.0, 3.0, 4.0]), "e2e_ms", "mean")
    assert value == 2.5 and low < 2.5 < high
    value, _, _ = column_stat(np.array([100.0, 200.0, 300.0, 400.0, 500.0]), "output_tps", "p90")
    assert value == pytest.approx(140.0)  # the 10th percentile: 90 % of requests at least this fast
    value, low, high = column_stat(np.array([]), "ttft_ms", "p50")
    assert math.isnan(value) and math.isnan(low)


def test_evaluate_slo(small: pd.DataFrame) -> None:
    slo = slo_from_table(
        {"ttft_p50_ms": 30, "output_tps_p50": 260, "response_100_ms_p50": 500, "error_rate_max": 0.1, "request_ttft_ms": 5}
    )
    verdicts = evaluate_slo(small, slo)
    # 3 aggregate rules + error rate, per group; per-request rules give no verdict.
    assert [(v.target, v.key) for v in verdicts] == [
        ("a", "ttft_p50_ms"),
        ("a", "output_tps_p50"),
        ("a", "response_100_ms_p50"),
        ("a", "error_rate_max"),
        ("b", "ttft_p50_ms"),
        ("b", "output_tps_p50"),
        ("b", "response_100_ms_p50"),
        ("b", "error_rate_max"),
    ]
    a_ttft, a_tps, a_r100, a_err, b_ttft, b_tps, b_r100, b_err = verdicts
    assert a_ttft.measured == pytest.approx(25.0) and a_ttft.passed is True and not a_ttft.at_least
    assert a_ttft.ci_low <= 25.0 <= a_ttft.ci_high
    assert a_tps.measured == pytest.approx(250.0) and a_tps.passed is False and a_tps.at_least
    assert a_r100.measured == pytest.approx(np.median([1010.0, 530.0, 30 + 100_000 / 300, 290.0]))
    assert a_err.column == "error_rate" and a_err.stat == "max"
    assert a_err.measured == pytest.approx(0.2) and a_err.passed is False
    assert a_err.ci_low < 0.2 < a_err.ci_high
    assert b_ttft.passed is False
    assert b_r100.passed is None and math.isnan(b_r100.measured)  # no data
    assert b_err.passed is True and b_err.measured == 0.0
    assert evaluate_slo(small.iloc[:0], slo) == []
