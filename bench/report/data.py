"""What a report is drawn from: runs, their aggregates, and one *series* per run × target ×
client path × request shape (a target measured with both clients is two series; a prompt
ladder's rungs and both cache states are a series each, like groups of their own:
docs/scenarios.md, "Request shapes").

Everything here is computed once per report and read by the tables and the charts, so the
markdown and the PNGs can never disagree. Ordering is deterministic: runs in the order
given, targets in order of first appearance in each run's results, load levels ascending.
With request shapes, targets follow the scenario's order and each target's shapes follow
:func:`shape_order` (input length, then output length, cold before warm), never the order in
which groups happened to finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import SloVerdict, aggregate, evaluate_slo, ok_mask, percentiles
from bench.analysis.workload import shape_order
from bench.fmt import target_name
from bench.results.run_file import RunMeta, read_run_meta
from bench.scenario.slo import SloSpec, slo_from_table

#: The line styles series are told apart by past the 8 colours (matplotlib spells them so).
LineStyle = Literal["-", "--", "-.", ":"]
#: Okabe–Ito colours (colour-blind safe, readable on the charts' light background); yellow
#: is left out because it vanishes on white.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#999999")
#: Past the 8 colours, series are told apart by marker and line style too (colour alone
#: repeats): series i gets colour i mod 8, marker and dash by i // 8, so no two of the first
#: 64 series look alike, whatever the reader's colour vision.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES: tuple[LineStyle, ...] = ("-", "--", "-.", ":")


def shape_text(value: object) -> str:
    """A ``shape`` cell as text: a missing value (old results, NA) is the plain shape ""."""
    return value if isinstance(value, str) else ""


def target_rank(run: RunView) -> dict[str, int]:
    """Targets in the scenario's order (its ``[[target]]`` tables), for ordering rows that
    finished in another order; targets the scenario does not list come after, as they appear."""
    targets = run.scenario.get("targets")
    out: dict[str, int] = {}
    for t in targets if isinstance(targets, list) else []:
        if isinstance(t, dict) and isinstance(t.get("label"), str):
            out.setdefault(t["label"], len(out))
    return out


def series_style(i: int) -> tuple[str, str, LineStyle]:
    """(colour, marker, line style) of the i-th series (0-based)."""
    cycle = i // len(PALETTE)
    return PALETTE[i % len(PALETTE)], MARKERS[cycle % len(MARKERS)], DASHES[cycle % len(DASHES)]


def compared_style(target_index: int, run_index: int) -> tuple[str, str, LineStyle]:
    """(colour, marker, line style) of a target in a report comparing runs.

    A target keeps its colour in every run, so the eye pairs run 1 and run 2 of it; each run
    has its own line style and marker (run 1 solid, run 2 dashed …), so they never look alike.
    """
    return (
        PALETTE[target_index % len(PALETTE)],
        MARKERS[(run_index - 1) % len(MARKERS)],
        DASHES[(run_index - 1) % len(DASHES)],
    )


def shape_style(target_index: int, shape_index: int) -> tuple[str, str, LineStyle]:
    """(colour, marker, line style) of a target at one request shape: the target's colour, the
    shape's marker and line style, so the eye follows a target across its rungs."""
    return (
        PALETTE[target_index % len(PALETTE)],
        MARKERS[shape_index % len(MARKERS)],
        DASHES[shape_index % len(DASHES)],
    )


@dataclass
class RunView:
    """One run (``bench.analysis.loaded.LoadedRun``) as the report sees it: its place among the runs compared,
    its SLOs, aggregates and verdicts."""

    index: int
    run: LoadedRun
    slo: SloSpec
    agg: pd.DataFrame
    verdicts: list[SloVerdict]
    label: str = ""  # "run 1", "run 2" … when several runs are compared; "" for one

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def meta(self) -> RunMeta:
        return self.run.meta

    @property
    def frame(self) -> pd.DataFrame:
        return self.run.frame

    @property
    def measured(self) -> pd.DataFrame:
        return self.run.measured

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def scenario(self) -> dict[str, Any]:
        return self.meta.scenario

    @property
    def scenario_name(self) -> str:
        return str(self.meta.scenario_name or self.scenario.get("name") or self.run_id)

    @property
    def emulated(self) -> bool:
        return bool(self.meta.emulated)

    @property
    def reference(self) -> str | None:
        """The published reference figures the scenario asked to show (``[report] reference``)."""
        report = self.scenario.get("report")
        value = report.get("reference") if isinstance(report, dict) else None
        return str(value) if value else None

    @property
    def streamed(self) -> bool:
        """Whether any request of the run streamed (a run without streams has no first-token figures)."""
        if len(self.frame):
            return bool(self.frame["stream"].to_numpy(dtype=bool, na_value=False).any())
        request = self.scenario.get("request")
        return bool(request.get("stream", True)) if isinstance(request, dict) else True

    @property
    def shaped(self) -> bool:
        """Whether any measured group of the run has a request shape (a ladder, cache states, bins)."""
        return "shape" in self.agg.columns and any(shape_text(v) for v in self.agg["shape"].tolist())

    @property
    def warmup_rows(self) -> int:
        """Rows flagged as warm-up (recorded, never in a statistic)."""
        return int(self.frame["warmup"].to_numpy(dtype=bool, na_value=False).sum()) if len(self.frame) else 0

    @property
    def cancelled_rows(self) -> int:
        """Measured-phase requests the harness cancelled when the run was interrupted.

        They are neither warm-up nor provider failures, so they are counted on their own.
        """
        if not len(self.frame):
            return 0
        warm = self.frame["warmup"].to_numpy(dtype=bool, na_value=False)
        cancelled = (self.frame["error_kind"] == "cancelled").to_numpy(dtype=bool, na_value=False)
        return int((cancelled & ~warm).sum())


@dataclass
class Series:
    """One target within one run, as one client path measured it: the unit of every table row and chart line."""

    run: RunView
    target: str
    provider: str
    model: str
    name: str
    colour: str
    levels: pd.DataFrame  # this target's aggregate rows, ascending load level
    headline: pd.Series  # the aggregate row at the lowest load level
    rows: pd.DataFrame = field(repr=False)  # measured rows at the headline level
    marker: str = "o"  # differs from other series sharing the colour (past 8 series)
    dash: LineStyle = "-"
    #: The client path that measured this series ("" when the run does not say): a target
    #: measured with both clients is two series.
    client: str = ""
    #: The request shape ("input 2000, warm"; "" for a plain scenario): each is a series.
    shape: str = ""

    @property
    def shown(self) -> str:
        """The target as tables name it: ``groq/llama``, or ``groq/llama (sdk)`` when the SDK path measured."""
        return target_name(self.target, self.client)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row of ``frame``: is it this series' target, measured by this series' client, of its shape."""
        mask = (frame["target"] == self.target).to_numpy(dtype=bool, na_value=False) & (
            frame["client"].astype("object").fillna("") == self.client
        ).to_numpy(dtype=bool)
        if "shape" in frame.columns:
            mask &= (frame["shape"].astype("object").fillna("") == self.shape).to_numpy(dtype=bool)
        elif self.shape:
            mask &= False
        return mask

    @property
    def ok_rows(self) -> pd.DataFrame:
        return self.rows.loc[ok_mask(self.rows)]

    def values(self, column: str) -> np.ndarray:
        """Finite values of a column over the headline level's successful requests."""
        x = self.ok_rows[column].to_numpy(dtype="float64", na_value=np.nan)
        return x[~np.isnan(x)]


#: Most dots the charts over the run's time draw, all series together (see :func:`over_time`).
TIME_POINTS = 12_000


@dataclass
class TimeSeries:
    """One series' successful measured requests over its run's time, every load level.

    ``seconds`` is since the run's first request (warm-up included) left, from
    ``started_at_ns``; ``shown`` indexes the requests drawn as dots (all of them, or a seeded
    random sample when the chart would hold more than :data:`TIME_POINTS`); ``level_starts``
    is (seconds, load mode, level) where each load level's first measured request left.
    """

    series: Series
    seconds: np.ndarray
    ttft_ms: np.ndarray
    output_tps: np.ndarray
    shown: np.ndarray
    level_starts: list[tuple[float, str, float]]
    level_of: np.ndarray  # per request: its load level's position in ``level_starts``

    @property
    def sampled(self) -> bool:
        return self.shown.size < self.seconds.size


@dataclass
class ReportData:
    runs: list[RunView]
    series: list[Series]
    _over_time: list[TimeSeries] | None = field(default=None, repr=False)

    def over_time(self) -> list[TimeSeries]:
        """Per series, its requests over the run's time (computed once, read by chart and text)."""
        if self._over_time is None:
            self._over_time = _over_time(self)
        return self._over_time

    @property
    def multi(self) -> bool:
        return len(self.runs) > 1

    @property
    def reference(self) -> str | None:
        """The reference table to show, if any run's scenario asked for one."""
        return next((r.reference for r in self.runs if r.reference), None)

    @property
    def emulated(self) -> bool:
        """Any figure comes from the emulator: every chart must say so."""
        return any(r.emulated for r in self.runs)

    @property
    def shaped(self) -> bool:
        """Whether any series has a request shape: tables then get a shape column."""
        return any(s.shape for s in self.series)

    @property
    def shapes(self) -> list[str]:
        """Every series' shape, in :func:`shape_order` (one "" for plain scenarios)."""
        return sorted(dict.fromkeys(s.shape for s in self.series), key=shape_order)

    @property
    def headline_shape(self) -> str:
        """The shape the answer first and the per-target distributions are drawn at: the first
        in :func:`shape_order` (the shortest prompt, cold), "" for plain scenarios."""
        shapes = self.shapes
        return shapes[0] if shapes else ""

    @property
    def chart_series(self) -> list[Series]:
        """The series a per-target distribution chart draws: all of them, or with request
        shapes only those of :attr:`headline_shape` (a distribution pooled over a ladder's
        rungs would be a mixture, and one per target × shape is unreadable)."""
        shape = self.headline_shape
        return [s for s in self.series if s.shape == shape]


def load_run(run_dir: Path, index: int, *, seed: int = 0) -> RunView:
    run = LoadedRun(run_dir, read_run_meta(run_dir))
    slo = slo_from_table(run.meta.slo_table)
    rows = run.measured  # filtered once; aggregate and evaluate_slo then find no warm-up rows
    agg = aggregate(rows, slo, seed=seed)
    verdicts = evaluate_slo(rows, slo, seed=seed) if not slo.empty else []
    return RunView(index, run, slo, agg, verdicts)


def _identity(run: RunView, target: str) -> tuple[str, str]:
    first = run.frame.loc[run.frame["target"] == target].iloc[0]
    provider, model = ("" if pd.isna(first[c]) else str(first[c]) for c in ("provider", "model"))
    return provider, model


def _groups(run: RunView) -> list[tuple[str, str, str]]:
    """The run's (target, client, shape) series keys: in order of appearance, or with request
    shapes targets in the scenario's order and shapes in :func:`shape_order`."""
    agg = run.agg
    shapes = [shape_text(v) for v in agg["shape"].tolist()] if "shape" in agg.columns else [""] * len(agg)
    keys = list(dict.fromkeys(zip(agg["target"].tolist(), agg["client"].tolist(), shapes, strict=True)))
    if not run.shaped:
        return keys
    rank = target_rank(run)
    first = {t: i for i, t in enumerate(dict.fromkeys(k[0] for k in keys))}
    clients = {c: i for i, c in enumerate(dict.fromkeys(k[1] for k in keys))}
    return sorted(keys, key=lambda k: (rank.get(k[0], len(rank) + first[k[0]]), first[k[0]], clients[k[1]], shape_order(k[2])))


def build(run_dirs: list[Path], *, seed: int = 0) -> ReportData:
    runs = [load_run(d, i + 1, seed=seed) for i, d in enumerate(run_dirs)]
    multi = len(runs) > 1
    series: list[Series] = []
    target_order: dict[tuple[str, str], int] = {}
    for run in runs:
        if multi:
            run.label = f"run {run.index}"
        agg = run.agg
        if agg.empty:
            continue
        m = run.measured
        agg_shape = (
            agg["shape"].astype("object").fillna("").to_numpy() if "shape" in agg.columns else np.full(len(agg), "", object)
        )
        m_shape = m["shape"].astype("object").fillna("").to_numpy() if "shape" in m.columns else np.full(len(m), "", object)
        groups = _groups(run)
        shape_index = {sh: i for i, sh in enumerate(sorted(dict.fromkeys(g[2] for g in groups), key=shape_order))}
        for target, client, shape in groups:
            mine = agg.loc[
                (agg["target"] == target).to_numpy(dtype=bool)
                & (agg["client"] == client).to_numpy(dtype=bool)
                & (agg_shape == shape)
            ]
            first_mode = mine["load_mode"].iloc[0]
            levels = mine.loc[mine["load_mode"] == first_mode].sort_values("load_level", kind="stable")
            headline = levels.iloc[0]
            level = float(headline["load_level"])
            rows_mask = (
                (m["target"] == target).to_numpy(dtype=bool, na_value=False)
                & (m["client"].astype("object").fillna("") == client).to_numpy(dtype=bool)
                & (m_shape == shape)
                & (m["load_mode"] == first_mode).to_numpy(dtype=bool, na_value=False)
                & np.isclose(m["load_level"].to_numpy(dtype="float64", na_value=np.nan), level)
            )
            provider, model = _identity(run, target)
            target_order.setdefault((target, client), len(target_order))
            if multi:
                colour, marker, dash = compared_style(target_order[(target, client)], run.index)
            elif run.shaped:
                # A target keeps its colour in every shape; each shape has its own marker and dash.
                colour, marker, dash = shape_style(target_order[(target, client)], shape_index[shape])
            else:
                colour, marker, dash = series_style(len(series))
            shown = target_name(target, client)
            name = f"{shown} · {run.label}" if multi else shown
            if shape:
                name += f" · {shape}"
            all_levels = mine.sort_values(["load_mode", "load_level"], kind="stable")
            series.append(
                Series(
                    run,
                    target,
                    provider,
                    model,
                    name,
                    colour,
                    all_levels.reset_index(drop=True),
                    headline,
                    m.loc[rows_mask],
                    marker,
                    dash,
                    client,
                    shape,
                )
            )
    return ReportData(runs, series)


def _over_time(data: ReportData) -> list[TimeSeries]:
    out: list[TimeSeries] = []
    for s in data.series:
        frame, m = s.run.frame, s.run.measured
        if not len(m):
            continue
        start = frame["started_at_ns"].to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(start).all():
            continue
        first = np.nanmin(start)
        mine = m.loc[s.mask(m)]
        ok = mine.loc[ok_mask(mine)]
        seconds = (ok["started_at_ns"].to_numpy(dtype="float64", na_value=np.nan) - first) / 1e9
        have = ~np.isnan(seconds)
        if not have.any():
            continue
        order = np.argsort(seconds[have], kind="stable")
        ttft = ok["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)[have][order]
        tps = ok["output_tps"].to_numpy(dtype="float64", na_value=np.nan)[have][order]
        all_sec = (mine["started_at_ns"].to_numpy(dtype="float64", na_value=np.nan) - first) / 1e9
        firsts = (
            pd.DataFrame(
                {
                    "mode": mine["load_mode"].astype("object").to_numpy(),
                    "level": mine["load_level"].to_numpy(dtype="float64", na_value=np.nan),
                    "sec": all_sec,
                }
            )
            .groupby(["mode", "level"], sort=True)["sec"]
            .min()
            .dropna()
        )
        first_modes = [str(m) for m in firsts.index.get_level_values("mode")]
        first_levels = firsts.index.get_level_values("level").to_numpy(dtype="float64").tolist()
        starts = sorted(zip(firsts.to_numpy(dtype="float64").tolist(), first_modes, first_levels, strict=True))
        modes = ok["load_mode"].astype("object").to_numpy()[have][order]
        lv = ok["load_level"].to_numpy(dtype="float64", na_value=np.nan)[have][order]
        if len(starts) > 1:
            keys = pd.MultiIndex.from_tuples([(mode, level) for _sec, mode, level in starts])
            level_of = keys.get_indexer(pd.MultiIndex.from_arrays([modes.astype(str), lv])).astype(np.int64)
        else:
            level_of = np.zeros(lv.size, dtype=np.int64)
        out.append(TimeSeries(s, seconds[have][order], ttft, tps, np.arange(int(have.sum())), starts, level_of))
    total = sum(t.seconds.size for t in out)
    if total > TIME_POINTS:
        per = max(200, TIME_POINTS // max(1, len(out)))
        rng = np.random.default_rng(0)
        for t in out:
            if t.seconds.size > per:
                t.shown = np.sort(rng.choice(t.seconds.size, per, replace=False))
    return out


def server_split(s: Series) -> dict[str, float] | None:
    """Mean server-side split of a request (Groq's x_groq.usage), or None when not reported.

    Means (not medians) so that the parts add up to the whole: mean e2e = mean queue + mean
    prompt + mean completion + mean rest, over requests that report all three.
    """
    ok = s.ok_rows
    parts = {c: ok[c].to_numpy(dtype="float64", na_value=np.nan) for c in ("queue_ms", "prompt_ms", "completion_ms", "e2e_ms")}
    have = (
        ~np.isnan(parts["queue_ms"])
        & ~np.isnan(parts["prompt_ms"])
        & ~np.isnan(parts["completion_ms"])
        & ~np.isnan(parts["e2e_ms"])
    )
    if not have.any():
        return None
    out = {c: float(v[have].mean()) for c, v in parts.items()}
    out["rest_ms"] = out["e2e_ms"] - out["queue_ms"] - out["prompt_ms"] - out["completion_ms"]
    out["n"] = float(have.sum())
    server_tps = ok["server_output_tps"].to_numpy(dtype="float64", na_value=np.nan)
    out["server_tps_p50"] = float(percentiles(server_tps, [50])[0])
    return out


#: The answer length the "100-token answer" figure speaks of.
ANSWER_TOKENS = 100


def extrapolated_answer(s: Series) -> float | None:
    """The longest answer (output tokens less reasoning) of the series' successful requests at its
    headline level, when it is shorter than :data:`ANSWER_TOKENS`: then the 100-token answer
    (first answer token + 100 × time per output token) was extrapolated, never measured, and
    every place that shows it must say so. None when an answer reached 100 tokens (or no
    request says how long its answer was).

    A run whose ``max_tokens`` is below 100 is always in this case: its answers stop short.
    """
    ok = ok_mask(s.rows)  # two columns read, not the rows copied: this runs per table and chart
    tokens = s.rows["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)[ok]
    reasoning = s.rows["reasoning_tokens"].to_numpy(dtype="float64", na_value=np.nan)[ok]
    answer = tokens - np.where(np.isnan(reasoning), 0.0, reasoning)
    answer = answer[~np.isnan(answer)]
    if not answer.size:
        return None
    longest = float(answer.max())
    return longest if longest < ANSWER_TOKENS else None
