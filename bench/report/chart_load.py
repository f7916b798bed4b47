"""Charts against the load level: first-token latency and throughput (with goodput) per level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from bench.report.chart_layout import (
    _COMMA,
    BACKGROUND,
    GOODPUT_BAND,
    INK,
    _figure,
    _log_note,
    _plain_log_axis,
    _save,
    _series_handle,
    _styled,
    _wants_log,
    legend_below,
)
from bench.report.data import ReportData, Series


def _load_series(data: ReportData) -> dict[str, list[Series]]:
    """Per load mode, the series with at least two levels in it (a line needs two points)."""
    out: dict[str, list[Series]] = {}
    for s in data.series:
        for mode in dict.fromkeys(s.levels["load_mode"].tolist()):
            if int((s.levels["load_mode"] == mode).sum()) >= 2:
                out.setdefault(str(mode), []).append(s)
    return out


def _load_axis(ax: Axes, mode: str, levels: list[float]) -> None:
    ax.set_xlabel("concurrency (requests in flight)" if mode == "concurrency" else "offered rate (requests/s)")
    uniq = sorted(set(levels))
    if uniq and uniq[0] > 0 and uniq[-1] / uniq[0] >= 8:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(uniq, [f"{v:g}" for v in uniq])


def _series_levels(s: Series, mode: str) -> pd.DataFrame:
    return s.levels.loc[s.levels["load_mode"] == mode].sort_values("load_level")


def latency_vs_load_chart(data: ReportData, path: Path) -> bool:
    by_mode = _load_series(data)
    if not by_mode:
        return False
    fig, axes = _figure(8.0, 1.6 + 3.2 * len(by_mode), nrows=len(by_mode))
    for ax, (mode, series) in zip(axes, by_mode.items(), strict=True):
        values, levels = [], []
        for s in series:
            lv = _series_levels(s, mode)
            x = lv["load_level"].to_numpy(dtype=float)
            levels += x.tolist()
            for stat, style, marker in (("p50", "-", "o"), ("p99", "--", "s")):
                yv = lv[f"ttft_ms_{stat}"].to_numpy(dtype=float)
                values += yv.tolist()
                if _styled(data):  # the series' own marker; p99 hollow
                    marker = s.marker
                    face = s.colour if stat == "p50" else BACKGROUND
                else:
                    face = s.colour
                ax.plot(
                    x, yv, linestyle=style, marker=marker, color=s.colour, markerfacecolor=face, linewidth=1.6, markersize=4.5
                )
        _load_axis(ax, mode, levels)
        if _wants_log(values):
            _plain_log_axis(ax, "y")
        ax.set_ylabel("time to first token (ms)" + _log_note(ax))
        ax.set_title(
            "First-token latency against load" + (" (open loop)" if mode == "rate" and len(by_mode) > 1 else ""), loc="left"
        )
    # Line styles first: legends fill column by column, so they get a column of their own.
    handles: list = [Line2D([], [], color=INK, linestyle="-", marker="o"), Line2D([], [], color=INK, linestyle="--", marker="s")]
    labels = ["p50 (solid)", "p99 (dashed)"]
    handles += [_series_handle(data, s) for s in _unique(by_mode)]
    labels += [s.name for s in _unique(by_mode)]
    legend_below(fig, handles, labels)
    _save(fig, path, data)
    return True


def _unique(by_mode: dict[str, list[Series]]) -> list[Series]:
    seen: dict[int, Series] = {}
    for series in by_mode.values():
        for s in series:
            seen.setdefault(id(s), s)
    return list(seen.values())


def throughput_vs_load_chart(data: ReportData, path: Path) -> bool:
    by_mode = _load_series(data)
    if not by_mode:
        return False
    goodput = any(r.slo.per_request for r in data.runs)
    fig, axes = _figure(9.0, 1.6 + 3.2 * len(by_mode), nrows=len(by_mode), ncols=2)
    for row, (mode, series) in enumerate(by_mode.items()):
        ax_tok, ax_req = axes[2 * row], axes[2 * row + 1]
        levels, tok_values, req_values = [], [], []
        for s in series:
            lv = _series_levels(s, mode)
            x = lv["load_level"].to_numpy(dtype=float)
            levels += x.tolist()
            tok = lv["agg_output_tps"].to_numpy(dtype=float)
            rps = lv["rps"].to_numpy(dtype=float)
            tok_values += tok.tolist()
            req_values += rps.tolist()
            mk, dash = (s.marker, s.dash) if _styled(data) else ("o", "-")
            ax_tok.plot(x, tok, marker=mk, linestyle=dash, color=s.colour, linewidth=1.6, markersize=4.5)
            if goodput:
                # Requests/s as a wide pale band, goodput as a thin dark line on top: where every
                # request met its SLOs the two are equal, and both stay visible.
                band: dict[str, Any] = {"linewidth": GOODPUT_BAND, "alpha": 0.35, "solid_capstyle": "round", "zorder": 2}
                ax_req.plot(x, rps, linestyle=dash, color=s.colour, **band)
                gp = lv["goodput_rps"].to_numpy(dtype=float)
                req_values += gp.tolist()
                ax_req.plot(x, gp, marker="^", linestyle=":", color=s.colour, linewidth=1.5, markersize=4.5, zorder=3)
            else:
                ax_req.plot(x, rps, marker=mk, linestyle=dash, color=s.colour, linewidth=1.6, markersize=4.5)
        # Goodput can be zero, which a log axis cannot show: with goodput the panel stays linear.
        for ax, vals in ((ax_tok, tok_values), (ax_req, [] if goodput else req_values)):
            _load_axis(ax, mode, levels)
            if _wants_log(vals):
                _plain_log_axis(ax, "y")
            else:
                ax.set_ylim(bottom=0)
                ax.yaxis.set_major_formatter(_COMMA)
        # The x label names the load mode, so titles stay short enough for a half-width panel.
        ax_tok.set_ylabel("aggregate output tokens/s" + _log_note(ax_tok))
        ax_tok.set_title("Aggregate output tokens/s", loc="left")
        ax_req.set_ylabel("requests/s" + _log_note(ax_req))
        ax_req.set_title("Requests/s" + (" and goodput" if goodput else ""), loc="left")
    handles: list = []
    labels: list[str] = []
    if goodput:
        handles += [
            Line2D([], [], color=INK, linewidth=GOODPUT_BAND, alpha=0.35),
            Line2D([], [], color=INK, linestyle=":", marker="^"),
        ]
        labels += ["requests/s (wide pale line)", "goodput: met every per-request SLO (dotted, on top)"]
    handles += [_series_handle(data, s) for s in _unique(by_mode)]
    labels += [s.name for s in _unique(by_mode)]
    legend_below(fig, handles, labels)
    _save(fig, path, data)
    return True
