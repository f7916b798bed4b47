"""PNG charts for a report (matplotlib, Agg, no display, no pyplot global state).

Readability on light *and* dark pages: every chart is drawn on its own opaque white
background with dark text, so it reads the same whichever theme the page uses (a transparent
PNG with dark text disappears on a dark page). Colours are Okabe–Ito (colour-blind safe).

Scale: distributions are drawn from at most a few thousand quantiles and boxes from
precomputed percentiles; the charts over the run's time draw one dot per request up to
:data:`TIME_POINTS` dots (a seeded random sample above that, said on the chart) and a binned
median line from every request. So a million-row run draws about as fast as a small one and
its PNGs stay small (the HTML report embeds them).

Colours: Okabe–Ito for the first 8 series; past 8, series also differ by marker and line
style (:func:`bench.report.data.series_style`), so no two look alike in any colour vision.

Determinism: fixed sizes and DPI, no timestamps, and the PNG "Software" tag removed, so the
same data gives the same bytes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.typing import RcKeyType

from bench.analysis.metrics import pooled_itl
from bench.report.data import PALETTE, ReportData, Series, server_split
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


CHART_FILES: dict[str, str] = {
    "ttft": "ttft_distribution.png",
    "output_tps": "output_tps.png",
    "response_100": "response_100.png",
    "latency_vs_load": "latency_vs_load.png",
    "throughput_vs_load": "throughput_vs_load.png",
    "time_split": "time_split.png",
    "over_time": "over_time.png",
    "itl": "itl_distribution.png",
}


def _many(data: ReportData) -> bool:
    """More series than colours: markers and line styles must tell them apart too."""
    return len(data.series) > len(PALETTE)


#: Hatches that tell the runs of a comparison apart on boxes and bars (run 1 plain).
HATCHES: tuple[str, ...] = ("", "///", "...", "xxx")


def _hatch(data: ReportData, s: Series) -> str:
    return HATCHES[(s.run.index - 1) % len(HATCHES)] if data.multi else ""


def _styled(data: ReportData) -> bool:
    """Series differ by line style and marker, not colour alone: past 8 series, or when several
    runs are compared (a target keeps its colour in every run; each run has its own line style)."""
    return _many(data) or data.multi


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
    levels = {(str(s.headline["load_mode"]), float(s.headline["load_level"])) for s in data.series}
    if len(levels) == 1:
        mode, level = next(iter(levels))
        return LoadLevel.of(mode, level).text
    return "each target's lowest load level"


# --------------------------------------------------------------------------- charts


def ttft_chart(data: ReportData, path: Path) -> bool:
    drawn = [(s, s.values("ttft_ms")) for s in data.series]
    drawn = [(s, v) for s, v in drawn if v.size]
    if not drawn:
        return False
    fig, (ax,) = _figure(8.0, 4.6)
    spread = []
    for s, v in drawn:
        x, y = _ecdf(v)
        extra: dict[str, Any] = {"marker": s.marker, "markevery": 0.1, "markersize": 4} if _styled(data) else {}
        ax.step(
            x, y * 100.0, where="post", color=s.colour, linestyle=s.dash, linewidth=1.8, label=f"{s.name} (n={v.size:,})", **extra
        )
        spread += [float(np.quantile(v, 0.005)), float(np.quantile(v, 0.995))]
    ax.axhline(50, color="#aaaaaa", linewidth=0.8, linestyle=":")
    ref = _reference(data)
    if ref is not None:
        ax.axvline(ref.ttft_ms, color=REFERENCE, linewidth=1.1, linestyle="--", label=f"{ref.name}: < {ref.ttft_ms:g} ms")
        spread.append(ref.ttft_ms)
    if _wants_log(spread):
        _plain_log_axis(ax, "x")
    ax.set_ylim(0, 101)
    ax.set_xlabel("time to first token (ms)" + (", log scale" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("requests at or below (%)")
    ax.set_title(f"Time to first token, per target ({_headline_level_note(data)})", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels)
    _save(fig, path, data)
    return True


def _box_stats(s: Series, column: str) -> dict[str, Any] | None:
    v = s.values(column)
    if not v.size:
        return None
    p1, p25, p50, p75, p99 = np.percentile(v, [1, 25, 50, 75, 99])
    return {"med": p50, "q1": p25, "q3": p75, "whislo": p1, "whishi": p99, "label": s.name, "n": v.size}


def output_tps_chart(data: ReportData, path: Path) -> bool:
    boxes = [(s, b) for s in data.series if (b := _box_stats(s, "output_tps")) is not None]
    if not boxes:
        return False
    fig, (ax,) = _figure(8.0, 1.6 + 0.55 * len(boxes))
    stats = [b for _, b in boxes]
    positions = list(range(len(boxes), 0, -1))
    parts = ax.bxp(stats, positions=positions, orientation="horizontal", showfliers=False, patch_artist=True, widths=0.55)
    for (s, _), patch in zip(boxes, parts["boxes"], strict=True):
        patch.set_facecolor(s.colour)
        patch.set_alpha(0.45)
        patch.set_edgecolor(s.colour)
        patch.set_hatch(_hatch(data, s))
    for line in parts["medians"]:
        line.set_color(INK)
        line.set_linewidth(2.0)
    ref = _reference(data)
    values = [b["whislo"] for b in stats] + [b["whishi"] for b in stats]
    if ref is not None:
        ax.axvline(ref.tps, color=REFERENCE, linewidth=1.1, linestyle="--")
        values.append(ref.tps)
    if _wants_log(values):
        _plain_log_axis(ax, "x")
    for pos, b in zip(positions, stats, strict=True):
        ax.annotate(
            f"p50 {b['med']:,.0f}",
            (b["whishi"], pos),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
            color=INK,
            bbox=_LABEL_BOX,
        )
    ax.set_yticks(positions, [f"{b['label']}\n(n={b['n']:,})" for b in stats])
    ax.grid(axis="y", visible=False)
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo, hi * (1.6 if ax.get_xscale() == "log" else 1.12))
    ax.set_xlabel(
        "output speed per request (tokens/s)" + (", log scale" if ax.get_xscale() == "log" else "") + ": higher is better"
    )
    ax.set_title(f"Output tokens/s ({_headline_level_note(data)})", loc="left")
    handles: list[Artist] = [Patch(facecolor="#bbbbbb", edgecolor="#888888", label="box p25–p75, line p50, whiskers p1–p99")]
    if ref is not None:
        handles.append(Line2D([], [], color=REFERENCE, linestyle="--", label=f"{ref.name}: > {ref.tps:g} tokens/s"))
    legend_below(fig, handles, [str(h.get_label()) for h in handles])
    _save(fig, path, data)
    return True


def response_100_chart(data: ReportData, path: Path) -> bool:
    drawn = []
    for s in data.series:
        v = s.values("response_100_ms")
        if v.size:
            p10, p50, p90 = np.percentile(v, [10, 50, 90])
            drawn.append((s, p10, p50, p90, v.size))
    if not drawn:
        return False
    ref = _reference(data)
    ref_bars = ref.response_100 if ref is not None else ()
    rows = len(drawn) + len(ref_bars)
    fig, (ax,) = _figure(8.0, 1.8 + 0.45 * rows)
    y = list(range(rows, 0, -1))
    for (s, p10, p50, p90, _n), pos in zip(drawn, y[: len(drawn)], strict=True):  # the rest of y: reference rows
        ax.barh(pos, p50, color=s.colour, alpha=0.85, height=0.6, hatch=_hatch(data, s), edgecolor=BACKGROUND)
        ax.errorbar(p50, pos, xerr=[[p50 - p10], [p90 - p50]], color=INK, capsize=3, linewidth=1.0)
        ax.annotate(
            f"{p50:,.0f} ms", (p90, pos), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8.5, bbox=_LABEL_BOX
        )
    handles: list[Artist] = [
        Patch(facecolor="#bbbbbb", label="bar p50, whisker p10–p90 (first answer token + 100 × time per token)")
    ]
    values = [d[3] for d in drawn]
    if ref is not None:
        ref_y = y[len(drawn) :]
        for (_label, lo, hi), pos in zip(ref_bars, ref_y, strict=True):
            ax.barh(pos, hi - lo, left=lo, color="#ffffff", edgecolor=REFERENCE, hatch="///", height=0.45, linewidth=0.8)
        ax.axvline(ref.response_100_ms, color=REFERENCE, linewidth=1.1, linestyle="--")
        ax.axhline((y[len(drawn) - 1] + ref_y[0]) / 2, color="#bbbbbb", linewidth=0.8)  # measured | reference
        values += [hi for _, _, hi in ref_bars]
        handles += [
            Patch(facecolor="#ffffff", edgecolor=REFERENCE, hatch="///", label="2024 reference figures (not measured here)"),
            Line2D([], [], color=REFERENCE, linestyle="--", label=f"{ref.name}: < {ref.response_100_ms:g} ms"),
        ]
    # Linear on purpose: bar lengths must compare (a bar on a log axis has no true length).
    ax.set_xlim(0, max(values) * 1.18)
    ax.xaxis.set_major_formatter(_COMMA)
    ax.set_yticks(y, [f"{d[0].name}\n(n={d[4]:,})" for d in drawn] + [label for label, _, _ in ref_bars])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("time to a 100-token answer (ms): lower is better")
    ax.set_title(f"Time to a 100-token answer ({_headline_level_note(data)})", loc="left")
    legend_below(fig, handles, [str(h.get_label()) for h in handles])
    _save(fig, path, data)
    return True


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


def _series_handle(data: ReportData, s: Series) -> Line2D:
    if _styled(data):
        return Line2D([], [], color=s.colour, linestyle=s.dash, marker=s.marker, linewidth=2.0)
    return Line2D([], [], color=s.colour, linewidth=2.5)


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


SPLIT_PARTS: tuple[tuple[str, str, str], ...] = (
    ("queue_ms", "server queue", "#999999"),
    ("prompt_ms", "server prompt processing", "#56B4E9"),
    ("completion_ms", "server completion (generation)", "#0072B2"),
    ("rest_ms", "network + client", "#E69F00"),
)


#: How a target without server timings is drawn in the time split: its whole request, hatched.
UNSPLIT = ("not split: the provider reports no server timings", "#dddddd")


def time_split_chart(data: ReportData, path: Path) -> bool:
    """Mean request time split by the server's own timings; every target is drawn, and those
    whose provider reports no timings (only Groq's x_groq.usage has them) show their whole
    request, hatched and labelled so, rather than being left off without a word."""
    rows = [(s, server_split(s)) for s in data.series]
    if not any(sp is not None for _, sp in rows):
        return False
    rows = [(s, sp) for s, sp in rows if sp is not None or s.values("e2e_ms").size]
    fig, (ax,) = _figure(8.0, 1.8 + 0.55 * len(rows))
    y = list(range(len(rows), 0, -1))
    for (s, sp), pos in zip(rows, y, strict=True):
        if sp is None:
            whole = float(np.mean(s.values("e2e_ms")))
            ax.barh(pos, whole, color=UNSPLIT[1], hatch="///", height=0.55, edgecolor="#999999", linewidth=0.6)
            ax.annotate(
                f"e2e {whole:,.0f} ms",
                (whole, pos),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8.5,
                bbox=_LABEL_BOX,
            )
            continue
        left = 0.0
        for key, _label, colour in SPLIT_PARTS:
            width = max(0.0, sp[key])
            ax.barh(pos, width, left=left, color=colour, height=0.55, edgecolor=BACKGROUND, linewidth=0.6)
            left += width
        ax.annotate(
            f"e2e {sp['e2e_ms']:,.0f} ms",
            (left, pos),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
            bbox=_LABEL_BOX,
        )
    ax.set_yticks(y, [s.name for s, _ in rows])
    ax.grid(axis="y", visible=False)
    lo, hi = ax.get_xlim()
    ax.set_xlim(0, hi * 1.22)
    ax.xaxis.set_major_formatter(_COMMA)
    ax.set_xlabel("mean time per request (ms)")
    ax.set_title(f"Where the time went: server timings vs the rest ({_headline_level_note(data)})", loc="left")
    handles = [Patch(facecolor=colour, label=label) for _, label, colour in SPLIT_PARTS]
    if any(sp is None for _, sp in rows):
        handles.append(Patch(facecolor=UNSPLIT[1], edgecolor="#999999", hatch="///", label=UNSPLIT[0]))
    legend_below(fig, handles, [str(h.get_label()) for h in handles])
    _save(fig, path, data)
    return True


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
    marked = len(starts) > 1 and not data.multi
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


def itl_chart(data: ReportData, path: Path) -> bool:
    """Inter-token gaps per series as a survival curve on log-log axes: stalls are the tail."""
    drawn = []
    for s in data.series:
        gaps = pooled_itl(s.ok_rows["itl_ms"].to_numpy(dtype=object))
        gaps = gaps[np.isfinite(gaps)]
        if gaps.size:
            drawn.append((s, np.sort(gaps)))
    if not drawn:
        return False
    fig, (ax,) = _figure(8.0, 4.6)
    floor = False
    for s, x in drawn:
        n = x.size
        # m gaps at least x[n - m]: every point of the tail, log-spaced through the body.
        m = np.unique(np.round(np.geomspace(1, n, min(n, ECDF_POINTS))).astype(np.int64))
        xs = x[n - m]
        floor = floor or bool((xs < ITL_FLOOR_MS).any())
        p99 = float(np.quantile(x, 0.99))
        extra: dict[str, Any] = {"marker": s.marker, "markevery": 0.1, "markersize": 4} if _styled(data) else {}
        ax.step(
            np.maximum(xs, ITL_FLOOR_MS),
            m / n * 100.0,
            where="post",
            color=s.colour,
            linestyle=s.dash,
            linewidth=1.8,
            label=f"{s.name} (p99 {p99:,.1f} ms, max {x[-1]:,.0f} ms; {n:,} gaps)",
            **extra,
        )
    ax.axhline(1.0, color="#aaaaaa", linewidth=0.8, linestyle=":")
    ax.annotate(
        "1% of gaps (p99)",
        (0.0, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(2, -2),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=8,
        color="#555555",
        bbox=_LABEL_BOX,
    )
    _plain_log_axis(ax, "x")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
    ax.set_xlabel(
        "gap between successive content events (ms), log scale"
        + (f"; gaps under {ITL_FLOOR_MS:g} ms drawn at {ITL_FLOOR_MS:g}" if floor else "")
    )
    ax.set_ylabel("gaps at least this long (%), log scale")
    ax.set_title(f"Inter-token gaps: stalls show as a long tail ({_headline_level_note(data)})", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels)
    _save(fig, path, data)
    return True


CHARTS: dict[str, Callable[[ReportData, Path], bool]] = {
    "ttft": ttft_chart,
    "output_tps": output_tps_chart,
    "response_100": response_100_chart,
    "latency_vs_load": latency_vs_load_chart,
    "throughput_vs_load": throughput_vs_load_chart,
    "time_split": time_split_chart,
    "over_time": over_time_chart,
    "itl": itl_chart,
}


def render_charts(data: ReportData, out_dir: Path) -> dict[str, str]:
    """Draw every chart that has data into ``out_dir``; returns {key: relative file name}.

    Charts from an earlier render that no longer apply are removed, so the folder never
    links or ships a stale image.
    """
    written: dict[str, str] = {}
    with mpl.rc_context(STYLE):
        for key, draw in CHARTS.items():
            path = out_dir / CHART_FILES[key]
            if draw(data, path):
                written[key] = CHART_FILES[key]
            elif path.exists():
                path.unlink()
    return written
