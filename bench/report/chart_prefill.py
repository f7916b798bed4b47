"""First-token time against prompt length: each target's requests as dots, its fitted line
(fixed cost + prefill) and the line's 95% band — drawn only where prompt lengths ranged
widely, as the report's prefill table is (docs/metrics.md, "prefill fit").

The dots and the line of a target are the fit's own requests (:func:`bench.analysis.prefill.prefill_groups`):
every rung of a prompt ladder together (that is the chart's point), and cold and warm apart
when both ran — warm dots hollow and its line dashed, so a cache hit never reads as a fast
prefill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from bench.analysis.prefill import PrefillGroup, fit_band, prefill_groups, ranges_widely
from bench.report.chart_layout import BACKGROUND, INK, _figure, _save, _series_handle, _styled, legend_below
from bench.report.data import ReportData, Series

#: Most dots per line (a seeded sample above it: a million-row run draws as fast as a small one).
DOTS = 2_000


def _points(g: PrefillGroup) -> tuple[np.ndarray, np.ndarray] | None:
    keep = np.isfinite(g.tokens) & np.isfinite(g.ttft_ms) & (g.tokens > 0)
    x, y = g.tokens[keep], g.ttft_ms[keep]
    if not ranges_widely(x):
        return None
    return x, y


def _drawn(data: ReportData) -> list[tuple[Series, str, np.ndarray, np.ndarray]]:
    """(series, cache state, tokens, first-token times) per line: each target's fit group at its
    headline (lowest) load level; a target's series give its colour (the first of its shapes)."""
    out = []
    for run in data.runs:
        firsts: dict[tuple[str, str], Series] = {}
        for s in data.series:
            if s.run is run:
                firsts.setdefault((s.target, s.client), s)
        for g in prefill_groups(run.frame):
            first = firsts.get((g.target, g.client))
            if first is None or g.load_mode != str(first.headline["load_mode"]):
                continue
            if not np.isclose(g.load_level, float(first.headline["load_level"])):
                continue
            points = _points(g)
            if points is not None:
                out.append((first, g.cache, *points))
    return out


def prefill_chart(data: ReportData, path: Path) -> bool:
    drawn = _drawn(data)
    if not drawn:
        return False
    fig, (ax,) = _figure(8.0, 4.8)
    rng = np.random.default_rng(0)
    shaped = data.shaped
    for s, cache, x, y in drawn:
        shown = rng.choice(x.size, DOTS, replace=False) if x.size > DOTS else slice(None)
        warm = cache == "warm"
        marker = "o" if shaped or not _styled(data) else s.marker
        if warm:
            ax.scatter(x[shown], y[shown], s=12, marker=marker, facecolors=BACKGROUND, edgecolors=s.colour, alpha=0.6)
        else:
            ax.scatter(x[shown], y[shown], s=9, color=s.colour, alpha=0.45, marker=marker, linewidths=0)
        xs = np.linspace(0.0, float(x.max()), 64)
        band = fit_band(x, y, xs)
        if band is not None:
            line, low, high = band
            ax.fill_between(xs, low, high, color=s.colour, alpha=0.12 if warm else 0.18, linewidth=0)
            dash = "--" if warm else ("-" if shaped or not _styled(data) else s.dash)
            ax.plot(xs, line, color=s.colour, linestyle=dash, linewidth=1.8)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("input tokens (the provider's count)")
    ax.set_ylabel("time to first token (ms)")
    ax.set_title("First-token time against prompt length (lowest load level; line: fit, band: 95% CI)", loc="left")
    handles = [Line2D([], [], color=INK, marker="o", linestyle="", alpha=0.6), Line2D([], [], color=INK, linewidth=1.8)]
    labels = ["requests", "fixed cost + prefill (fit)"]
    caches = dict.fromkeys(cache for _, cache, _, _ in drawn if cache)
    if caches:
        handles = [
            Line2D([], [], color=INK, marker="o", linestyle="-", linewidth=1.8),
            Line2D([], [], color=INK, marker="o", markerfacecolor=BACKGROUND, linestyle="--", linewidth=1.8),
        ]
        labels = ["cold: requests and fit (solid)", "warm: requests and fit (hollow, dashed)"]
    targets = list({id(s): s for s, _, _, _ in drawn}.values())
    if shaped:
        handles += [Line2D([], [], color=s.colour, linewidth=2.5) for s in targets]
        labels += [s.name.removesuffix(f" · {s.shape}") if s.shape else s.name for s in targets]
    else:
        handles += [_series_handle(data, s) for s in targets]
        labels += [s.name for s in targets]
    legend_below(fig, handles, labels)
    _save(fig, path, data)
    return True
