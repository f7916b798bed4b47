"""The chart over the run's time: each request's first token and output speed, a binned median
per load level, and where each level started.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report.chart_layout import (
    _LABEL_BOX,
    INK,
    LABEL_ROWS,
    MIN_PER_BIN,
    TIME_BINS,
    _figure,
    _log_note,
    _plain_log_axis,
    _save,
    _series_handle,
    _styled,
    _wants_log,
    legend_below,
)
from bench.report.data import ReportData


def _binned_median(
    x: np.ndarray, y: np.ndarray, level_of: np.ndarray, bins: int = TIME_BINS, min_span: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A step line of the median of ``y`` over time, level by level, from every value (not the
    drawn sample).

    Each load level's stretch of time is cut into equal bins holding :data:`MIN_PER_BIN`
    requests or more on average (at most ``bins``; one bin for a short level), and each bin's
    median is drawn flat across the bin: a level's median reads as a level, never as a short
    slash between two neighbouring bins. Bins without a request are skipped (the step
    carries on); the line breaks (NaN) only between levels. A level whose requests all
    started at once is drawn ``min_span`` wide, so that its median is seen.
    """
    xs_out: list[np.ndarray] = []
    ys_out: list[np.ndarray] = []
    for level in np.unique(level_of):
        mine = (level_of == level) & ~np.isnan(y)
        x_l, y_l = x[mine], y[mine]
        if x_l.size == 0:
            continue
        lo, hi = float(x_l.min()), float(x_l.max())
        hi = max(hi, lo + min_span, lo + 1e-9)
        n_bins = int(max(1, min(bins, x_l.size // MIN_PER_BIN)))
        edges = np.linspace(lo, hi, n_bins + 1)
        idx = np.clip(np.searchsorted(edges, x_l, side="right") - 1, 0, n_bins - 1)
        med = pd.Series(y_l).groupby(idx, sort=True).median()
        used = med.index.to_numpy(dtype=np.int64)
        left = edges[used]
        right = edges[np.append(used[1:], n_bins)]  # a bin reaches the next bin that has requests
        xs_out += [np.column_stack((left, right)).ravel(), np.array([np.nan])]
        ys_out += [np.repeat(med.to_numpy(dtype="float64"), 2), np.array([np.nan])]
    if not xs_out:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs_out), np.concatenate(ys_out)


def _level_label(mode: str, level: float) -> str:
    return ("c=" if mode == "concurrency" else "") + f"{level:g}" + ("/s" if mode == "rate" else "")


def _label_level_starts(fig: Figure, ax: Axes, starts: list[tuple[float, str, str]]) -> int:
    """Load-level labels along the top of ``ax``, in the series' colours, never overlapping.

    ``starts`` is (seconds, label, colour) per level start. Each label goes in the first of
    :data:`LABEL_ROWS` rows where it clears the labels already there (measured with the
    renderer, after the layout is settled); one that fits no row is left out. Returns how
    many were left out.
    """
    fig.canvas.draw()  # settle the constrained layout first: the axes' width is what labels must fit
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    right_edges = [-np.inf] * LABEL_ROWS
    left_out = 0
    for sec, text, colour in sorted(starts):
        for row in range(LABEL_ROWS):
            label = ax.annotate(
                text,
                (sec, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2 - 10 * row),
                textcoords="offset points",
                va="top",
                fontsize=7.5,
                color=colour,
                bbox=_LABEL_BOX,
            )
            box = label.get_window_extent(renderer)
            if box.x0 > right_edges[row] + 2:
                right_edges[row] = box.x1
                break
            label.remove()
        else:
            left_out += 1
    return left_out


def over_time_chart(data: ReportData, path: Path) -> bool:
    """First token and output speed of each request against seconds since the run's first request."""
    drawn = [t for t in data.over_time() if t.seconds.size]
    if not drawn:
        return False
    panels = [("ttft_ms", "first token (ms)", "Time to first token over the run")]
    if any(np.isfinite(t.output_tps).any() for t in drawn):
        panels.append(("output_tps", "output tokens/s", "Output tokens/s over the run"))
    fig, axes = _figure(8.0, 1.6 + 2.9 * len(panels), nrows=len(panels))
    total = sum(t.seconds.size for t in drawn)
    shown = sum(t.shown.size for t in drawn)
    styled = _styled(data)
    # A level drawn at least 1% of the chart wide (its requests may all have started at once).
    min_span = 0.01 * max(float(np.nanmax(t.seconds)) for t in drawn)
    for ax, (column, label, title) in zip(axes, panels, strict=True):
        values: list[float] = []
        for t in drawn:
            y = t.ttft_ms if column == "ttft_ms" else t.output_tps
            s = t.series
            ax.scatter(
                t.seconds[t.shown],
                y[t.shown],
                s=5,
                color=s.colour,
                alpha=0.35,
                linewidths=0,
                marker=s.marker if styled else "o",
                rasterized=True,
            )
            bins = max(8, TIME_BINS // max(1, len(t.level_starts)))
            bx, by = _binned_median(t.seconds, y, t.level_of, bins, min_span)
            if bx.size:
                ax.plot(bx, by, color=s.colour, linewidth=1.8, linestyle=s.dash, solid_joinstyle="miter")
            finite = y[np.isfinite(y)]
            if finite.size:
                values += [float(np.quantile(finite, 0.01)), float(np.quantile(finite, 0.99))]
        if _wants_log(values):
            _plain_log_axis(ax, "y")
        ax.set_ylabel(label + _log_note(ax))
        ax.set_title(title, loc="left")
    # Level starts: one per (time, level) — targets that start a level together share its label.
    starts: dict[tuple[float, str], str] = {}
    for t in drawn:
        for sec, mode, level in t.level_starts:
            key = (round(sec, 1), _level_label(mode, level))
            starts[key] = INK if key in starts and starts[key] != t.series.colour else starts.get(key, t.series.colour)
    # With request shapes every group is one level: its start lines would all read alike.
    marked = len(starts) > 1 and not data.multi and not data.shaped
    if marked:
        for ax in axes:
            for sec, _text in sorted(starts)[1:]:
                ax.axvline(sec, color="#999999", linewidth=0.7, linestyle=":")
    axes[-1].set_xlabel("seconds since the run's first request")
    note = (
        f"each dot one request ({shown:,} of {total:,} drawn: a random sample); " if shown < total else "each dot one request; "
    )
    note += "line: median per stretch of time over every request"
    if marked:
        note += "; dotted: a new load level starts (label in the target's colour)"
    handles = [_series_handle(data, t.series) for t in drawn]
    labels = [t.series.name for t in drawn]
    handles.append(Line2D([], [], color="none"))
    labels.append(note)
    legend_below(fig, handles, labels)
    if marked:
        left_out = _label_level_starts(fig, axes[0], [(sec, text, colour) for (sec, text), colour in starts.items()])
        if left_out:
            legend = fig.legends[-1]
            legend.get_texts()[-1].set_text(f"{note}; {left_out} level label(s) left out for room")
    _save(fig, path, data)
    return True
