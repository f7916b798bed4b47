"""The capacity search's own report: sweep.md and its chart (first-token latency and aggregate
throughput against load), written from a finished or partial search.

Drawn like the report's charts (:mod:`bench.report.charts`): matplotlib Agg without pyplot,
opaque white background, Okabe–Ito colours, the "EMULATED" mark on the image of an emulated
sweep, no timestamps in the PNG. Per target: TTFT p50 (solid) and p99 (dashed) on top,
aggregate output tokens/s below, one point per probe; filled markers passed the SLOs, hollow
ones failed them, a cross could not be judged. The knee (highest passing level) is a dotted
vertical line in the target's colour; each TTFT SLO threshold is a horizontal dashed line.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from bench.campaigns.sweep import CHART_FILE, MARKDOWN_FILE, RUNS_DIR, Probe, SweepResult, TargetSweep
from bench.errors import writing
from bench.report.chart_layout import (
    BACKGROUND,
    DPI,
    EMULATED_INK,
    EMULATED_MARK,
    INK,
    REFERENCE,
    STYLE,
)
from bench.report.data import PALETTE
from bench.scenario.slo import AggregateSlo, parse_key
from bench.schema import LoadLevel

_COMMA = FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1 or v == 0 else f"{v:g}")
_MAX_TICKS = 14
#: Labels sit on a white box so a line behind them never hides the text (as in the report).
_LABEL_BOX = {"boxstyle": "square,pad=0.15", "facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.9}


def _points(t: TargetSweep) -> list[Probe]:
    return sorted((p for p in t.probes if p.verdict != "interrupted"), key=lambda p: p.level)


def _marker_style(p: Probe, colour: str) -> dict[str, object]:
    if p.verdict == "pass":
        return {"marker": "o", "facecolor": colour, "edgecolor": colour}
    if p.verdict == "fail":
        return {"marker": "o", "facecolor": BACKGROUND, "edgecolor": colour}
    return {"marker": "x", "color": colour}


def _ttft_rules(table: dict[str, float]) -> tuple[list[AggregateSlo], list[str]]:
    """TTFT checks (drawn as thresholds) and every other check (named in the legend)."""
    drawn: list[AggregateSlo] = []
    other: list[str] = []
    for key, value in table.items():
        rule = parse_key(key, value) if key != "error_rate_max" else None
        if isinstance(rule, AggregateSlo) and rule.column == "ttft_ms":
            drawn.append(rule)
        elif key == "error_rate_max" or isinstance(rule, AggregateSlo):
            other.append(f"{key} = {value:g}")
    return drawn, other


def draw_sweep_chart(result: SweepResult, path: Path) -> bool:
    """Write the chart; False (and no file) when no probe finished."""
    targets = [t for t in result.targets if _points(t)]
    if not targets:
        if path.exists():
            path.unlink()
        return False
    mode = result.settings.mode
    tables = result.slo_tables
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 7.2), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax_lat, ax_tok = fig.subplots(2, 1, sharex=True)
        levels: list[float] = []
        thresholds: dict[tuple[str, float], list[str]] = {}
        others: dict[str, list[str]] = {}
        handles: list[Line2D] = []
        labels: list[str] = []
        for i, t in enumerate(targets):
            colour = PALETTE[i % len(PALETTE)]
            points = _points(t)
            x = [p.level for p in points]
            levels += x
            for ax, values, style in (
                (ax_lat, [p.ttft_p50_ms for p in points], "-"),
                (ax_lat, [p.ttft_p99_ms for p in points], "--"),
                (ax_tok, [p.agg_output_tps for p in points], "-"),
            ):
                ax.plot(x, values, linestyle=style, color=colour, linewidth=1.6, zorder=2)
                for p, y in zip(points, values, strict=True):
                    if math.isfinite(y):
                        ax.scatter([p.level], [y], s=30, linewidths=1.4, zorder=3, **_marker_style(p, colour))
            if t.capacity is not None:
                for ax in (ax_lat, ax_tok):
                    ax.axvline(t.capacity, color=colour, linestyle=":", linewidth=1.6, zorder=1)
                knee = t.probe_at(t.capacity)
                if knee is not None and math.isfinite(knee.ttft_p99_ms):
                    ax_lat.annotate(
                        f"knee: {t.capacity:g}", (t.capacity, knee.ttft_p99_ms), xytext=(-6, -4), textcoords="offset points",
                        ha="right", va="top", fontsize=8.5, color=colour, fontweight="bold", bbox=_LABEL_BOX,
                    )  # fmt: skip
            handles.append(Line2D([], [], color=colour, linewidth=2.5))
            labels.append(f"{t.target}: {_short_answer(t)}")
            drawn, other = _ttft_rules(tables.get(t.target, {}))
            for rule in drawn:
                thresholds.setdefault((rule.stat, rule.threshold), []).append(t.target)
            for text in other:
                others.setdefault(text, []).append(t.target)
        for i, ((stat, value), names) in enumerate(sorted(thresholds.items(), key=lambda item: item[0][1])):
            ax_lat.axhline(value, color=REFERENCE, linestyle=(0, (6, 3)), linewidth=1.2, zorder=1)
            whose = "" if len(names) == len(targets) else f" ({', '.join(names)})"
            below = i % 2 == 0 and len(thresholds) > 1  # close thresholds: labels on either side of their lines
            ax_lat.annotate(
                f"SLO: TTFT {stat} ≤ {value:g} ms{whose}", (0.01, value), xycoords=("axes fraction", "data"),
                xytext=(0, -3 if below else 3), textcoords="offset points", va="top" if below else "bottom",
                fontsize=8.5, color=REFERENCE, bbox=_LABEL_BOX,
            )  # fmt: skip
        knees = [t.capacity for t in targets if t.capacity is not None]
        _load_axis(ax_tok, mode, levels, knees)
        ax_lat.set_ylim(bottom=0)
        ax_tok.set_ylim(bottom=0)
        ax_lat.yaxis.set_major_formatter(_COMMA)
        ax_tok.yaxis.set_major_formatter(_COMMA)
        ax_lat.set_ylabel("time to first token (ms)")
        ax_tok.set_ylabel("aggregate output tokens/s")
        ax_lat.set_title("First-token latency against load (capacity search)", loc="left")
        ax_tok.set_title("Aggregate output tokens/s against load", loc="left")
        handles += [
            Line2D([], [], color=INK, linestyle="-", marker="o"),
            Line2D([], [], color=INK, linestyle="--", marker="o"),
            Line2D([], [], color=INK, linestyle="", marker="o", markerfacecolor=BACKGROUND),
            Line2D([], [], color=INK, linestyle=":"),
        ]
        labels += [
            "p50 (solid), filled: SLOs met",
            "p99 (dashed)",
            "hollow: SLOs failed (× no verdict)",
            "knee: highest passing level",
        ]
        if others:
            text = "; ".join(k if len(v) == len(targets) else f"{k} ({', '.join(v)})" for k, v in others.items())
            handles.append(Line2D([], [], linestyle=""))
            labels.append(f"other SLO checks (not drawn): {text}")
        fig.legend(handles, labels, loc="outside lower center", ncols=1 if max(len(x) for x in labels) > 45 else 2)
        metadata: dict[str, str | None] = {"Software": None}
        if result.emulated:
            fig.suptitle(EMULATED_MARK, x=0.01, ha="left", color=EMULATED_INK, fontsize=9.5, fontweight="bold")
            metadata["Description"] = "emulated"
        fig.savefig(path, dpi=DPI, facecolor=BACKGROUND, metadata=metadata)
    return True


def _short_answer(t: TargetSweep) -> str:

    if t.outcome == "found" and t.capacity is not None:
        return f"capacity {LoadLevel.of(t.mode, t.capacity).text}"
    if t.outcome == "ceiling" and t.capacity is not None:
        return f"capacity ≥ {LoadLevel.of(t.mode, t.capacity).text}"
    if t.outcome == "none":
        return "no level passed"
    return t.outcome


def _ticks(levels: list[float], knees: list[float], log: bool) -> list[float]:
    """Probed levels to label: the knees first, then any level not crowding a label already kept."""
    span = (max(levels) - min(levels)) or 1.0

    def pos(v: float) -> float:
        return math.log2(v) / max(math.log2(max(levels) / min(levels)), 1.0) if log else v / span

    kept = sorted(set(knees))
    for v in sorted(set(levels)):
        if all(abs(pos(v) - pos(k)) >= 0.035 for k in kept):
            kept.append(v)
    return sorted(kept)


def _load_axis(ax: object, mode: str, levels: list[float], knees: list[float]) -> None:

    assert isinstance(ax, Axes)
    ax.set_xlabel("concurrency (requests in flight)" if mode == "concurrency" else "offered rate (requests/s)")
    uniq = sorted(set(levels))
    log = bool(uniq and uniq[0] > 0 and uniq[-1] / uniq[0] >= 8)
    if log:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_formatter(NullFormatter())
    ticks = _ticks(uniq, knees, log)
    if len(ticks) <= _MAX_TICKS:
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])


def _cell(value: float, pattern: str = "{:,.1f}") -> str:
    return pattern.format(value) if math.isfinite(value) else "–"


def render_markdown(result: SweepResult, chart: bool) -> str:

    s = result.settings
    lines = [f"# Capacity search: {result.scenario.name}", ""]
    if result.emulated:
        lines += [f"**{EMULATED_MARK}.**", ""]
    load = result.scenario.load
    amount = (
        f"{result.requests} measured requests"
        if result.requests is not None
        else (f"{load.requests} measured requests" if load.requests is not None else f"{load.duration_s:g} s")
    )
    lines += [
        (
            f"Search: {s.describe()}. Each probe is one run of one target at one level ({amount}, +{load.warmup} "
            f"warm-up), kept under `{RUNS_DIR}/`. A probe passes when every SLO check was judged and met; one failed "
            "check fails it; a check without data makes it inconclusive, which is never read as a pass and stops that "
            "target's search."
        ),
        "",
    ]
    if result.interrupted:
        lines += ["**Interrupted**: the search stopped early; what finished is below.", ""]
    tables = result.slo_tables
    unit = "concurrency" if s.mode == "concurrency" else "rate (req/s)"
    for t in result.targets:
        slo = ", ".join(f"`{k} = {v:g}`" for k, v in tables.get(t.target, {}).items())
        lines += [f"## {t.target}", "", f"**{t.answer()}**", "", f"SLOs: {slo}.", ""]
        lines += [
            f"| {unit} | probe | n | errors | TTFT p50 ms | TTFT p99 ms | output tok/s p50 | aggregate tok/s | verdict | SLO checks | run |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
        ]
        for p in sorted(t.probes, key=lambda p: p.level):
            knee = " ◀ knee" if t.capacity is not None and p.level == t.capacity else ""
            verdict = {"pass": "pass", "fail": "**FAIL**", "inconclusive": "inconclusive", "interrupted": "interrupted"}[
                p.verdict
            ]
            checks = "; ".join(c.text for c in p.checks) or "–"
            lines.append(
                f"| {p.level:g}{knee} | {p.order} | {p.n} | {p.errors} | {_cell(p.ttft_p50_ms)} | {_cell(p.ttft_p99_ms)} | "
                f"{_cell(p.output_tps_p50, '{:,.0f}')} | {_cell(p.agg_output_tps, '{:,.0f}')} | {verdict} | {checks} | "
                f"`{p.run_dir}` |"
            )
        lines.append("")
    if chart:
        lines += [f"![Latency and throughput against load, knee marked]({CHART_FILE})", ""]
    return "\n".join(lines)


def write_outputs(result: SweepResult) -> None:
    """sweep.md and the chart beside the search's sweep.json, rewritten after each target."""
    with writing(result.sweep_dir):
        chart = draw_sweep_chart(result, result.sweep_dir / CHART_FILE)
        (result.sweep_dir / MARKDOWN_FILE).write_text(render_markdown(result, chart), encoding="utf-8")
