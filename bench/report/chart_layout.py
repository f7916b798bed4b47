"""What every chart of a report shares: style, figure and save, tick labels, log axes, the legend
under the axes, ECDFs, the published reference figures and how series are told apart.

See :mod:`bench.report.charts` for why the charts look and are drawn as they are.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.typing import RcKeyType

from bench.report.data import PALETTE, ReportData, Series
from bench.schema import LoadLevel

DPI = 110
BACKGROUND = "#ffffff"
INK = "#222222"
REFERENCE = "#555555"
#: Most points an ECDF is drawn from; larger samples are drawn through their quantiles.
ECDF_POINTS = 2000
#: Time bins of the median line in the charts over the run's time.
TIME_BINS = 60
#: Gaps shorter than this are drawn at it on the inter-token chart's log axis (0 cannot be).
ITL_FLOOR_MS = 0.01
#: Line width of requests/s under goodput (points): wide enough to show around the goodput line.
GOODPUT_BAND = 6.0
#: Fewest requests a median bin of the charts over time holds (fewer bins for short levels).
MIN_PER_BIN = 8
#: Rows of load-level labels at the top of the chart over time before a label is left out.
LABEL_ROWS = 3

#: Marks every chart of a run that used the emulator (a PNG travels without its README).
EMULATED_MARK = "EMULATED: figures from bench's built-in emulator, not from the providers"
EMULATED_INK = "#B00020"


@dataclass(frozen=True)
class Reference:
    """Published figures a scenario can ask to see on the charts (``[report] reference``)."""

    response_100: tuple[tuple[str, float, float], ...]  # (label, low ms, high ms)
    ttft_ms: float
    tps: float
    response_100_ms: float
    name: str


#: The 2024 expectations of the original Groq integration brief (historical models).
REFERENCES: dict[str, Reference] = {
    "groq-2024": Reference(
        response_100=(
            ("2024 reference: Groq (Llama 3.1 70B) 200–300 ms", 200.0, 300.0),
            ("2024 reference: GPT-4 Turbo 1–2 s", 1000.0, 2000.0),
            ("2024 reference: Claude 1.5–2.5 s", 1500.0, 2500.0),
        ),
        ttft_ms=100.0,
        tps=500.0,
        response_100_ms=500.0,
        name="2024 reference for Groq",
    ),
}


def _reference(data: ReportData) -> Reference | None:
    return REFERENCES.get(data.reference or "")


STYLE: dict[RcKeyType, Any] = {
    "figure.facecolor": BACKGROUND,
    "axes.facecolor": BACKGROUND,
    "savefig.facecolor": BACKGROUND,
    "axes.edgecolor": "#666666",
    "axes.labelcolor": INK,
    "text.color": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
    "svg.hashsalt": "bench",
}


def _exact(value: float, _pos: object = None) -> str:
    """A tick label that reads as the tick's value: 2.5 stays 2.5 (never rounded to 2 or 3).

    Whole numbers get thousands separators (1,000); others keep the digits they have, up to
    12 significant ones (enough for any tick a locator places), never in scientific notation.
    """
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    text = f"{value:,.12g}"
    if "e" in text:  # very large or very small: plain decimals, trailing zeros trimmed
        text = f"{value:,.{max(0, 12 - int(np.floor(np.log10(abs(value)))))}f}".rstrip("0").rstrip(".")
    return text


_COMMA = FuncFormatter(_exact)
#: Tick labels that read as their values (shared with the trend chart).
TICK_FORMATTER = _COMMA
#: Value labels sit on a white box so a reference line behind them never hides the digits.
_LABEL_BOX = {"boxstyle": "square,pad=0.15", "facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.9}


def _many(data: ReportData) -> bool:
    """More series than colours: markers and line styles must tell them apart too."""
    return len(data.series) > len(PALETTE)


#: Hatches that tell the runs of a comparison apart on boxes and bars (run 1 plain).
HATCHES: tuple[str, ...] = ("", "///", "...", "xxx")


def _hatch(data: ReportData, s: Series) -> str:
    return HATCHES[(s.run.index - 1) % len(HATCHES)] if data.multi else ""


def _styled(data: ReportData) -> bool:
    """Series differ by line style and marker, not colour alone: past 8 series, or when several
    runs are compared (a target keeps its colour in every run; each run has its own line style),
    or with request shapes (a target keeps its colour in every shape; each shape has its own)."""
    return _many(data) or data.multi or data.shaped


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_figure(fig: Figure, path: Path, *, emulated: bool) -> None:
    """Write the PNG (no timestamp, no software tag: same figure, same bytes); charts of
    emulated runs carry the mark on the image itself (a PNG travels without its README)."""
    metadata: dict[str, str | None] = {"Software": None}
    if emulated:
        fig.suptitle(EMULATED_MARK, x=0.01, ha="left", color=EMULATED_INK, fontsize=9.5, fontweight="bold")
        metadata["Description"] = "emulated"
    fig.savefig(path, dpi=DPI, facecolor=BACKGROUND, metadata=metadata)


def _save(fig: Figure, path: Path, data: ReportData) -> None:
    save_figure(fig, path, emulated=data.emulated)


def _wants_log(values: list[float]) -> bool:
    """Log scale when the values drawn span 10× or more (ranges that differ by 10×)."""
    x = np.asarray([v for v in values if v == v and v > 0], dtype="float64")
    return bool(x.size >= 2 and x.max() / x.min() >= 10.0)


def _plain_log_axis(ax: Axes, axis: str) -> None:
    """Log scale labelled with plain numbers (50, 100, 200, 500 …) rather than 10^x."""
    fmt = _COMMA
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(fmt)
    target.set_minor_formatter(NullFormatter())


def _log_note(ax: Axes) -> str:
    return ", log scale" if ax.get_yscale() == "log" else ""


def legend_below(fig: Figure, handles: Sequence[Artist], labels: list[str]) -> None:
    """The legend under the axes, in as many columns (at most 3) as fit the figure's width.

    Columns are measured with the renderer, not guessed from label lengths: a legend wider
    than the figure is cut at both edges of the PNG.
    """
    ncols = max(1, min(3, len(labels)))
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    limit = fig.bbox.width * 0.98
    width = max((len(x) for x in labels), default=0)
    while True:
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=ncols)
        if legend.get_window_extent(renderer).width <= limit or (ncols == 1 and width <= 20):
            return
        legend.remove()
        if ncols > 1:
            ncols -= 1
        else:  # one column still too wide: wrap the longest labels onto more lines
            width -= 10
            labels = [textwrap.fill(x, width) for x in labels]


def _ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ECDF for small samples; above ECDF_POINTS, its value at evenly spaced probabilities."""
    x = np.sort(values)
    if x.size <= ECDF_POINTS:
        xs, probs = x, np.arange(1, x.size + 1) / x.size
    else:
        probs = np.arange(1, ECDF_POINTS + 1) / ECDF_POINTS
        xs = np.quantile(x, probs, method="inverted_cdf")
    # Start from 0 % at the smallest value, so the curve rises from the axis.
    return np.concatenate(([xs[0]], xs)), np.concatenate(([0.0], probs))


def _headline_level_note(data: ReportData) -> str:
    """The level (and, with request shapes, the one shape) a per-target distribution draws."""
    series = data.chart_series
    levels = {(str(s.headline["load_mode"]), float(s.headline["load_level"])) for s in series}
    if len(levels) == 1:
        mode, level = next(iter(levels))
        text = LoadLevel.of(mode, level).text
    else:
        text = "each target's lowest load level"
    shape = data.headline_shape
    return f"{text}; shape {shape} only" if shape else text


def _series_handle(data: ReportData, s: Series) -> Line2D:
    if _styled(data):
        return Line2D([], [], color=s.colour, linestyle=s.dash, marker=s.marker, linewidth=2.0)
    return Line2D([], [], color=s.colour, linewidth=2.5)
