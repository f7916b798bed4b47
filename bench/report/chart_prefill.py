"""First-token time against prompt length: each target's requests as dots, its fitted line
(fixed cost + prefill) and the line's 95% band — drawn only where prompt lengths ranged
widely, as the report's prefill table is (docs/metrics.md, "prefill fit")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from bench.analysis.prefill import fit_band, full_prefill, ranges_widely
from bench.report.chart_layout import INK, _figure, _save, _series_handle, _styled, legend_below
from bench.report.data import ReportData, Series

#: Most dots per series (a seeded sample above it: a million-row run draws as fast as a small one).
DOTS = 2_000


def _points(s: Series) -> tuple[np.ndarray, np.ndarray] | None:
    rows = full_prefill(s.ok_rows)
    x = rows["input_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    y = rows["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[keep], y[keep]
    if not ranges_widely(x):
        return None
    return x, y


def prefill_chart(data: ReportData, path: Path) -> bool:
    drawn = [(s, p) for s in data.series if (p := _points(s)) is not None]
    if not drawn:
        return False
    fig, (ax,) = _figure(8.0, 4.8)
    rng = np.random.default_rng(0)
    for s, (x, y) in drawn:
        shown = rng.choice(x.size, DOTS, replace=False) if x.size > DOTS else slice(None)
        marker = s.marker if _styled(data) else "o"
        ax.scatter(x[shown], y[shown], s=9, color=s.colour, alpha=0.45, marker=marker, linewidths=0)
        xs = np.linspace(0.0, float(x.max()), 64)
        band = fit_band(x, y, xs)
        if band is not None:
            line, low, high = band
            ax.fill_between(xs, low, high, color=s.colour, alpha=0.18, linewidth=0)
            ax.plot(xs, line, color=s.colour, linestyle=s.dash if _styled(data) else "-", linewidth=1.8)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("input tokens (the provider's count)")
    ax.set_ylabel("time to first token (ms)")
    ax.set_title("First-token time against prompt length (lowest load level; line: fit, band: 95% CI)", loc="left")
    handles = [Line2D([], [], color=INK, marker="o", linestyle="", alpha=0.6), Line2D([], [], color=INK, linewidth=1.8)]
    labels = ["requests", "fixed cost + prefill (fit)"]
    handles += [_series_handle(data, s) for s, _ in drawn]
    labels += [s.name for s, _ in drawn]
    legend_below(fig, handles, labels)
    _save(fig, path, data)
    return True
