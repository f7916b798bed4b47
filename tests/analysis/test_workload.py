"""The workload tables: first-token time by turn, prompt-cache use, and tokens asked vs counted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis.workload import by_turn, cache_use, token_counts


def _frame(**columns: object) -> pd.DataFrame:
    n = len(next(v for v in columns.values() if isinstance(v, list)))  # type: ignore[arg-type]
    base = {
        "target": "t",
        "client": "fast",
        "load_mode": "concurrency",
        "load_level": 2.0,
        "warmup": False,
        "status": "ok",
        "error_kind": None,
    }
    return pd.DataFrame({**base, **columns}, index=range(n))


def test_turns_are_tabled_with_their_prompt_and_cache_share() -> None:
    frame = _frame(
        turn=[1.0, 2.0, 1.0, 2.0, 3.0],
        ttft_ms=[100.0, 60.0, 120.0, 80.0, 90.0],
        input_tokens=[1000.0, 1200.0, 1000.0, 1200.0, 1400.0],
        cached_input_tokens=[0.0, 1000.0, 0.0, 1100.0, np.nan],
    )
    rows = by_turn(frame)
    assert [(r.turn, r.n) for r in rows] == [(1, 2), (2, 2), (3, 1)]
    assert rows[0].ttft_ms_p50 == 110.0 and rows[1].ttft_ms_p50 == 70.0
    assert rows[0].cached_share == 0.0 and rows[1].cached_share == pytest.approx(2100 / 2400)
    assert math.isnan(rows[2].cached_share)  # the provider said nothing
    assert by_turn(_frame(ttft_ms=[1.0, 2.0])) == []  # no conversations, no table


def test_failed_and_warm_up_requests_stay_out() -> None:
    frame = _frame(turn=[1.0, 1.0, 1.0], ttft_ms=[100.0, 5.0, 7.0], input_tokens=[10.0, 10.0, 10.0])
    frame.loc[1, "status"] = "error"
    frame.loc[2, "warmup"] = True
    (row,) = by_turn(frame)
    assert row.n == 1 and row.ttft_ms_p50 == 100.0


def test_cache_use_only_where_the_provider_reported_it() -> None:
    frame = pd.concat(
        [
            _frame(cached_input_tokens=[0.0, 900.0, 900.0], input_tokens=[1000.0] * 3, ttft_ms=[300.0, 100.0, 110.0]),
            _frame(cached_input_tokens=[np.nan] * 2, input_tokens=[1000.0] * 2, ttft_ms=[1.0, 2.0]).assign(target="silent"),
        ],
        ignore_index=True,
    )
    (row,) = cache_use(frame)
    assert (row.target, row.n, row.hits) == ("t", 3, 2)
    assert row.cached_share == pytest.approx(1800 / 3000) and row.ttft_ms_p50 == 110.0


def test_token_counts_compare_asked_with_counted_per_target() -> None:
    frame = pd.concat(
        [
            _frame(input_tokens_asked=[1000.0, 2000.0, np.nan], input_tokens=[1170.0, 2340.0, 5000.0]),
            _frame(input_tokens_asked=[1000.0, 2000.0], input_tokens=[1000.0, 2000.0]).assign(target="u", load_level=8.0),
        ],
        ignore_index=True,
    )
    rows = {r.target: r for r in token_counts(frame)}
    assert rows["t"].n == 2 and rows["t"].ratio_p50 == pytest.approx(1.17) and rows["t"].asked_p50 == 1500.0
    assert rows["u"].ratio_p50 == 1.0
    assert token_counts(_frame(input_tokens=[1.0, 2.0])) == []
