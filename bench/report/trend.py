"""``bench trend``: a trend (:mod:`bench.gate.trend`) as markdown with a chart, HTML or JSON.

The markdown opens with the answer CI asks for — the newest step's verdict (and, with a
baseline, the newest run against it) — then the chart (``trend.png``: one panel per headline
figure, one line per target and load level, the gate's regressions and improvements ringed,
the baseline marked), the steps, and one table per target and level. The same text without
the image is the GitHub job summary (``--summary "$GITHUB_STEP_SUMMARY"``), since a job
summary cannot show a file of the job. HTML embeds the chart (the report's own renderer).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.analysis.metrics import GroupKey
from bench.errors import BenchError
from bench.fmt import json_safe
from bench.gate.compare import Verdict
from bench.gate.trend import FIGURE_METRIC, FIGURES, Step, StepVerdict, Trend, regression_marks
from bench.report.charts import STYLE, TICK_FORMATTER, legend_below, save_figure
from bench.report.data import series_style
from bench.schema import LoadLevel

TREND_FORMATS: Final[tuple[str, ...]] = ("md", "html", "json")
CHART_FILE: Final = "trend.png"
REPORT_FILE: Final = "README.md"
HTML_FILE: Final = "report.html"
JSON_FILE: Final = "trend.json"
REGRESSION_INK: Final = "#B00020"
IMPROVEMENT_INK: Final = "#009E73"
#: Most dated tick labels along the chart's x axis (more would overlap).
MAX_X_LABELS: Final = 10

_MARK: Final[dict[str, str]] = {
    Verdict.REGRESSION: "🔴 regression",
    Verdict.IMPROVEMENT: "🟢 improvement",
    "not comparable": "⚪ not comparable",
    "inconclusive": "⚠️ inconclusive",
    "no regression": "no regression",
    "regression": "🔴 regression",
}


def _when(point_started: str | None, run_id: str) -> str:
    """The run's start as a reader dates it (YYYY-MM-DD HH:MM UTC), else its run id's date."""
    if point_started:
        return point_started.replace("T", " ")[:16]
    head = run_id[:15]
    if len(head) == 15 and head[:8].isdigit():
        return f"{head[:4]}-{head[4:6]}-{head[6:8]} {head[9:11]}:{head[11:13]}"
    return run_id


def _value(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "—"
    if unit == "":
        return f"{value:.1%}"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return f"{text} {unit}".rstrip()


def _cell(value: float, unit: str, verdict: StepVerdict | None) -> str:
    text = _value(value, unit)
    if verdict is None or verdict.verdict not in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
        return text
    if unit == "":
        change = f"{verdict.change * 100:+.1f} pts"
    else:
        change = f"{verdict.change:+.0%}"
        if math.isfinite(verdict.ci_low):
            change += f" [{verdict.ci_low:+.0%}, {verdict.ci_high:+.0%}]"
    mark = "🔴" if verdict.verdict == Verdict.REGRESSION else "🟢"
    strong = "**" if verdict.verdict == Verdict.REGRESSION else ""
    return f"{text} {mark} {strong}{change}{strong}"


def _step_into(trend: Trend, index: int) -> Step | None:
    return next((s for s in trend.steps if s.after == index), None)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    """A pipe table; the first ``left`` columns left-aligned, the numbers right-aligned."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(":--" if i < left else "--:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


def _run_label(trend: Trend, i: int) -> str:
    point = trend.points[i]
    return f"**{point.label}** ({point.run_id})" if point.is_baseline else point.run_id


def _lead(step: Step) -> str:
    return {"regression": "🔴 ", "inconclusive": "⚠️ ", "not comparable": "⚪ not comparable: "}.get(step.status, "")


def _headline(trend: Trend) -> list[str]:
    latest = trend.latest
    first, last = trend.points[0], trend.points[-1]
    lines = [f"# Trend over {len(trend.points)} runs", ""]
    if any(p.emulated for p in trend.points):
        lines += ["> **Emulated runs among these:** figures from bench's built-in emulator, not from the providers.", ""]
    if latest is None:
        lines += [f"One run ({last.run_id}): nothing to compare yet.", ""]
    else:
        before = trend.points[latest.before]
        lines += [f"**Newest step** ({before.run_id} → {last.run_id}): {_lead(latest)}{latest.headline}"]
        if trend.vs_baseline is not None and trend.baseline is not None:
            base = trend.points[trend.baseline]
            vs = trend.vs_baseline
            lines += ["", f"**Against {base.label}** ({base.run_id} → {last.run_id}): {_lead(vs)}{vs.headline}"]
        lines.append("")
    s = trend.settings
    lines += [
        f"Runs from {_when(first.started_at, first.run_id)} to {_when(last.started_at, last.run_id)}, in time order. "
        f"Each step is a run against the run before it, judged by the CI gate (the code of `bench compare`): a median "
        f"is a regression when it moved the wrong way by more than {s.threshold:.0%} and its "
        f"{s.confidence:.0%} interval (simultaneous over the step's comparisons) excludes no change; error rates by "
        f"Fisher's exact test; fewer than {s.min_samples} successful requests a side get no verdict. TTFT p99 is shown "
        "but not judged (the gate compares medians).",
        "",
    ]
    return lines


def _steps_section(trend: Trend) -> list[str]:
    if not trend.steps:
        return []
    rows = []
    for step in trend.steps:
        rows.append(
            [
                str(step.after + 1),
                _run_label(trend, step.after),
                _when(trend.points[step.after].started_at, trend.points[step.after].run_id),
                _MARK.get(step.status, step.status),
                step.headline,
            ]
        )
    headers = ["#", "run", "started", "against the run before", "the gate's headline"]
    return ["## Steps", "", *_table(headers, rows, left=len(headers)), ""]


def _group_section(trend: Trend, group: GroupKey) -> list[str]:
    headers = ["run", "started", *[title for _k, _c, _q, title, _u in FIGURES], "requests"]
    rows = []
    for i, point in enumerate(trend.points):
        figures = trend.figures[i].get(group)
        if figures is None:
            continue
        step = _step_into(trend, i)
        verdicts = step.verdicts.get(group, {}) if step is not None else {}
        cells = [_cell(figures.get(key, math.nan), unit, verdicts.get(key)) for key, _c, _q, _t, unit in FIGURES]
        note = " (not comparable with the run before)" if step is not None and step.status == "not comparable" else ""
        rows.append([_run_label(trend, i) + note, _when(point.started_at, point.run_id), *cells, f"{trend.counts[i][group]:,}"])
    title = f"## {_where(group)}"
    return [title, "", *_table(headers, rows), ""]


def _where(group: GroupKey) -> str:
    """``groq/llama at concurrency 4`` (``, input 2000, warm`` with a request shape)."""
    where = f"{group.name} at {LoadLevel.of(group.load_mode, group.load_level).text}"
    return f"{where}, {group.shape}" if group.shape else where


def render_trend_markdown(trend: Trend, *, chart: str | None = CHART_FILE) -> str:
    """The trend as markdown; ``chart`` is the chart's relative file name (None: no image, the job summary)."""
    lines = _headline(trend)
    if chart:
        lines += [f"![Headline figures over the runs]({chart})", ""]
    lines += _steps_section(trend)
    for group in trend.groups:
        lines += _group_section(trend, group)
    return "\n".join(lines).rstrip() + "\n"


def render_trend_json(trend: Trend) -> str:
    return json.dumps(json_safe(trend.to_dict()), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- chart


def _x_labels(trend: Trend) -> tuple[list[int], list[str]]:
    n = len(trend.points)
    every = max(1, math.ceil(n / MAX_X_LABELS))
    ticks = list(range(0, n, every))
    if trend.baseline is not None and trend.baseline not in ticks:
        ticks = sorted({*ticks, trend.baseline})
        ticks = [t for t in ticks if t == trend.baseline or all(abs(t - u) >= every for u in ticks if u == trend.baseline)]
    return ticks, [_when(trend.points[i].started_at, trend.points[i].run_id)[:10] for i in ticks]


def trend_chart(trend: Trend, path: Path) -> None:
    """One panel per headline figure against the runs in time order; regressions ringed in red."""
    x = np.arange(len(trend.points))
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 1.8 + 2.1 * len(FIGURES)), dpi=110, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(FIGURES), 1, sharex=True, squeeze=False)[:, 0]
        handles: list[Line2D] = []
        labels: list[str] = []
        for i, group in enumerate(trend.groups):
            colour, marker, dash = series_style(i)
            handles.append(Line2D([], [], color=colour, linestyle=dash, marker=marker, linewidth=1.8))
            labels.append(_where(group))
        for ax, (key, _column, _q, title, unit) in zip(axes, FIGURES, strict=True):
            for i, group in enumerate(trend.groups):
                colour, marker, dash = series_style(i)
                y = np.array([f.get(group, {}).get(key, math.nan) for f in trend.figures], dtype="float64")
                scale = 100.0 if unit == "" else 1.0
                ax.plot(x, y * scale, color=colour, linestyle=dash, marker=marker, markersize=3.5, linewidth=1.6)
                if key in FIGURE_METRIC:
                    for at, verdict in regression_marks(trend, group, key):
                        ink = REGRESSION_INK if verdict is Verdict.REGRESSION else IMPROVEMENT_INK
                        ax.plot([at], [y[at] * scale], marker="o", markersize=10, markerfacecolor="none",
                                markeredgecolor=ink, markeredgewidth=1.8, linestyle="none")  # fmt: skip
            if trend.baseline is not None:
                ax.axvline(trend.baseline, color="#555555", linestyle="--", linewidth=1.0)
            for step in trend.steps:
                if step.status == "not comparable":
                    ax.axvline(step.after - 0.5, color="#999999", linestyle=":", linewidth=1.2)
            ax.set_ylabel("%" if unit == "" else unit)
            ax.set_title(title + (" (not judged: the gate compares medians)" if key not in FIGURE_METRIC else ""), loc="left")
            ax.yaxis.set_major_formatter(TICK_FORMATTER)
            if unit == "":
                top = max(
                    [1.0, *[v * 100.0 for f in trend.figures for g in f.values() if math.isfinite(v := g.get(key, math.nan))]]
                )
                ax.set_ylim(0, top * 1.1)
        ticks, tick_labels = _x_labels(trend)
        axes[-1].set_xticks(ticks, tick_labels, rotation=30, ha="right")
        axes[-1].set_xlabel("run start (UTC), oldest first")
        handles += [
            Line2D([], [], marker="o", markersize=9, markerfacecolor="none", markeredgecolor=REGRESSION_INK,
                   markeredgewidth=1.8, linestyle="none"),
            Line2D([], [], marker="o", markersize=9, markerfacecolor="none", markeredgecolor=IMPROVEMENT_INK,
                   markeredgewidth=1.8, linestyle="none"),
        ]  # fmt: skip
        labels += ["the gate: regression against the run before", "the gate: improvement against the run before"]
        if trend.baseline is not None:
            handles.append(Line2D([], [], color="#555555", linestyle="--"))
            labels.append(f"{trend.points[trend.baseline].label} ({trend.points[trend.baseline].run_id})")
        if any(step.status == "not comparable" for step in trend.steps):
            handles.append(Line2D([], [], color="#999999", linestyle=":"))
            labels.append("not comparable with the run before (e.g. the scenario's fingerprint changed)")
        legend_below(fig, handles, labels)
        save_figure(fig, path, emulated=any(bool(p.emulated) for p in trend.points))


# --------------------------------------------------------------------------- files


def render_trend(trend: Trend, out_dir: Path, formats: Sequence[str] = ("md",)) -> dict[str, Path]:
    """Write the trend into ``out_dir``: {format: path}. md: README.md + trend.png; html:
    report.html (chart embedded); json: trend.json."""
    unknown = [f for f in formats if f not in TREND_FORMATS]
    if unknown or not formats:
        raise BenchError(f"trend format {unknown[0] if unknown else ''!r}: choose {', '.join(TREND_FORMATS)}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"{out_dir}: cannot create the output directory ({exc.strerror})") from None
    written: dict[str, Path] = {}
    if "md" in formats or "html" in formats:
        chart = out_dir / CHART_FILE
        trend_chart(trend, chart)
        text = render_trend_markdown(trend)
        if "md" in formats:
            written["md"] = out_dir / REPORT_FILE
            written["md"].write_text(text, encoding="utf-8")
        if "html" in formats:
            from bench.report.html import render_html  # noqa: PLC0415 - markdown-it only for HTML

            written["html"] = out_dir / HTML_FILE
            written["html"].write_text(render_html(text, {CHART_FILE: chart.read_bytes()}), encoding="utf-8")
            if "md" not in formats:
                chart.unlink()
    if "json" in formats:
        written["json"] = out_dir / JSON_FILE
        written["json"].write_text(render_trend_json(trend), encoding="utf-8")
    return written


def append_summary(trend: Trend, path: Path) -> None:
    """Append the trend's markdown, without the image, to ``path`` (a GitHub job summary)."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(render_trend_markdown(trend, chart=None))
    except OSError as exc:
        raise BenchError(f"{path}: cannot append the summary ({exc.strerror})") from None


__all__: Final = [
    "TREND_FORMATS",
    "append_summary",
    "render_trend",
    "render_trend_json",
    "render_trend_markdown",
    "trend_chart",
]
