"""Charts of each target at its headline load level: first-token ECDF, output-speed boxes, the
100-token answer, where the time went, and the tail of the inter-token gaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from bench.analysis.metrics import pooled_itl
from bench.report.chart_layout import (
    _COMMA,
    _LABEL_BOX,
    BACKGROUND,
    ECDF_POINTS,
    INK,
    ITL_FLOOR_MS,
    REFERENCE,
    _ecdf,
    _figure,
    _hatch,
    _headline_level_note,
    _plain_log_axis,
    _reference,
    _save,
    _styled,
    _wants_log,
    legend_below,
)
from bench.report.data import ReportData, Series, extrapolated_answer, server_split


def ttft_chart(data: ReportData, path: Path) -> bool:
    drawn = [(s, s.values("ttft_ms")) for s in data.chart_series]
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
    boxes = [(s, b) for s in data.chart_series if (b := _box_stats(s, "output_tps")) is not None]
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
    for s in data.chart_series:
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
    short = [extrapolated_answer(d[0]) for d in drawn]
    ax.set_yticks(
        y,
        [f"{d[0].name}{' †' if n is not None else ''}\n(n={d[4]:,})" for d, n in zip(drawn, short, strict=True)]
        + [label for label, _, _ in ref_bars],
    )
    longest = [n for n in short if n is not None]
    if longest:  # never drawn as if measured: say how long the answers really were
        handles.append(
            Patch(facecolor="none", edgecolor="none", label=f"† extrapolated: answers were at most {max(longest):,.0f} tokens")
        )
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("time to a 100-token answer (ms): lower is better")
    ax.set_title(f"Time to a 100-token answer ({_headline_level_note(data)})", loc="left")
    legend_below(fig, handles, [str(h.get_label()) for h in handles])
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
    rows = [(s, server_split(s)) for s in data.chart_series]
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


def itl_chart(data: ReportData, path: Path) -> bool:
    """Inter-token gaps per series as a survival curve on log-log axes: stalls are the tail."""
    drawn = []
    for s in data.chart_series:
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
