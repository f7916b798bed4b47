"""The report's answer first: which target is fastest to the first token, streams fastest and is
cheapest per million output tokens at the measured load, and how firm each ranking is.

Why at the highest load level every target ran: that is the load the scenario was written to
test, and the only level where the targets are compared like for like. Each adjacent pair of
a speed ranking is judged by the bootstrap 95% CI of the difference of medians
(:func:`bench.analysis.bootstrap.quantile_difference_ci`, seeded, so the same runs always give
the same words): a pair whose interval includes 0 is "no clear difference", never a winner.
Cost is a list price × tokens: the ranking needs no interval, and a target without a price is
named as such, never ranked as free.

With request shapes (a prompt ladder, cache states: docs/scenarios.md), targets are ranked at
one shape only, the first in the report's order (shortest prompt, cold cache): a ranking that
compared one target's long prompts with another's short ones would rank the prompts, not the
targets. The sentence names the shape.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.bootstrap import quantile_difference_ci
from bench.analysis.metrics import ok_mask
from bench.analysis.workload import shape_order
from bench.report.data import ReportData, RunView, Series, shape_text
from bench.report.model import Answer, Ranking
from bench.schema import LoadLevel

#: The seed of every bootstrap the answer draws (the same runs, the same words).
SEED = 0


def _level_rows(series: list[Series], mode: str, level: float) -> dict[int, pd.DataFrame]:
    """Each series' successful measured requests at one level (by ``id``): the run's rows at the
    level are cut once, then split by series (a million-row run is masked once, not per series)."""
    m = series[0].run.measured
    m = (m if "shape" in m.columns else m.assign(shape=""))[
        ["target", "client", "shape", "status", "load_mode", "load_level", "ttft_ms", "output_tps"]
    ]
    at = m.loc[
        (m["load_mode"] == mode).to_numpy(dtype=bool, na_value=False)
        & np.isclose(m["load_level"].to_numpy(dtype="float64", na_value=np.nan), level)
    ]
    at = at.loc[ok_mask(at)]
    return {id(s): at.loc[s.mask(at)] for s in series}


def _values(rows: pd.DataFrame, column: str) -> np.ndarray:
    """Finite values of ``column``."""
    x = rows[column].to_numpy(dtype="float64", na_value=np.nan)
    return x[np.isfinite(x)]


def _figure(s: Series, mode: str, level: float, column: str) -> float:
    """The level's p50 of ``column`` as the load table shows it (the aggregate's own figure)."""
    lv = s.levels
    row = lv.loc[(lv["load_mode"] == mode).to_numpy(dtype=bool) & np.isclose(lv["load_level"].to_numpy(dtype="float64"), level)]
    if row.empty:
        return math.nan
    value = row[f"{column}_p50"].iloc[0]
    return float(value) if pd.notna(value) else math.nan


def _speed_ranking(
    series: list[Series],
    at_level: dict[int, pd.DataFrame],
    mode: str,
    level: float,
    column: str,
    figure: str,
    *,
    lower_is_better: bool,
) -> Ranking | None:
    rows = [(s, _figure(s, mode, level, column)) for s in series]
    rows = [(s, v) for s, v in rows if math.isfinite(v)]
    if len(rows) < 2:
        return None
    rows.sort(key=lambda sv: sv[1] if lower_is_better else -sv[1])
    clear = []
    for (a, _), (b, _) in zip(rows, rows[1:], strict=False):
        low, high = quantile_difference_ci(_values(at_level[id(a)], column), _values(at_level[id(b)], column), 0.5, seed=SEED)
        clear.append(bool(math.isfinite(low) and (low > 0 or high < 0)))
    return Ranking(figure, tuple(s.shown for s, _ in rows), tuple(v for _, v in rows), tuple(clear))


def _cost_ranking(series: list[Series], summary: pd.DataFrame | None, mode: str, level: float) -> Ranking | None:
    """Cost per million output tokens at the level: 10⁶ ÷ output tokens per dollar."""
    priced: list[tuple[str, float]] = []
    no_price: list[str] = []
    for s in series:
        per_usd = math.nan
        if summary is not None and len(summary):
            shapes = summary["shape"].map(shape_text) if "shape" in summary.columns else pd.Series("", index=summary.index)
            mine = summary.loc[
                (summary["target"] == s.target).to_numpy(dtype=bool)
                & (shapes == s.shape).to_numpy(dtype=bool)
                & (summary["client"].astype("object").fillna("") == s.client).to_numpy(dtype=bool)
                & (summary["load_mode"] == mode).to_numpy(dtype=bool)
                & np.isclose(summary["load_level"].to_numpy(dtype="float64"), level)
            ]
            if not mine.empty and bool(mine["has_price"].iloc[0]):
                per_usd = float(mine["output_tokens_per_usd"].iloc[0])
            elif not mine.empty:
                no_price.append(s.shown)
                continue
        if math.isfinite(per_usd) and per_usd > 0:
            priced.append((s.shown, 1e6 / per_usd))
        else:
            no_price.append(s.shown)
    if not priced and not no_price:
        return None
    priced.sort(key=lambda tv: tv[1])
    clear = tuple(a[1] < b[1] for a, b in zip(priced, priced[1:], strict=False))
    return Ranking("cost", tuple(t for t, _ in priced), tuple(v for _, v in priced), clear, tuple(no_price))


def _common_level(series: list[Series]) -> tuple[str, float, int] | None:
    """The highest load level every series ran (mode, level) and how many levels they share."""
    sets = [
        set(zip(s.levels["load_mode"].astype(str).tolist(), s.levels["load_level"].astype(float).tolist(), strict=True))
        for s in series
    ]
    common = set.intersection(*sets) if sets else set()
    if not common:
        return None
    first_mode = str(series[0].headline["load_mode"])
    in_mode = [c for c in common if c[0] == first_mode] or sorted(common)
    mode, level = max(in_mode, key=lambda c: c[1])
    return mode, level, len(common)


def answer(data: ReportData, summaries: dict[int, pd.DataFrame] | None = None) -> Answer | None:
    """The opening answer for the latest run of the report (its only one, for a single run)."""
    if not data.series:
        return None
    run: RunView = data.runs[-1]
    series = [s for s in data.series if s.run is run]
    if not series:
        return None
    shapes = sorted(dict.fromkeys(s.shape for s in series), key=shape_order)
    shape = shapes[0]
    series = [s for s in series if s.shape == shape]
    if len(series) == 1:
        s = series[0]
        only = LoadLevel.of(str(s.headline["load_mode"]), float(s.headline["load_level"])).text
        return Answer(only, run.label, (s.shown,), (), shape=shape, shapes=len(shapes))
    common = _common_level(series)
    if common is None:
        return Answer("", run.label, tuple(s.shown for s in series), (), shape=shape, shapes=len(shapes))
    mode, level, shared = common
    rankings: list[Ranking] = []
    if run.streamed:
        at_level = _level_rows(series, mode, level)
        for column, figure, lower in (("ttft_ms", "ttft", True), ("output_tps", "output_tps", False)):
            ranking = _speed_ranking(series, at_level, mode, level, column, figure, lower_is_better=lower)
            if ranking is not None:
                rankings.append(ranking)
    cost = _cost_ranking(series, (summaries or {}).get(run.index), mode, level)
    if cost is not None:
        rankings.append(cost)
    return Answer(
        LoadLevel.of(mode, level).text,
        run.label,
        tuple(s.shown for s in series),
        tuple(rankings),
        shared,
        run.streamed,
        shape,
        len(shapes),
    )
