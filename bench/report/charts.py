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

from collections.abc import Callable
from pathlib import Path

import matplotlib as mpl

from bench.report.chart_distributions import itl_chart, output_tps_chart, response_100_chart, time_split_chart, ttft_chart
from bench.report.chart_layout import (
    _COMMA,
    BACKGROUND,
    DPI,
    ECDF_POINTS,
    EMULATED_INK,
    EMULATED_MARK,
    HATCHES,
    INK,
    REFERENCES,
    STYLE,
    TICK_FORMATTER,
    Reference,
    _ecdf,
    _exact,
    _figure,
    _save,
    _wants_log,
    legend_below,
    save_figure,
)
from bench.report.chart_load import latency_vs_load_chart, throughput_vs_load_chart
from bench.report.chart_prefill import prefill_chart
from bench.report.chart_time import over_time_chart
from bench.report.data import ReportData

CHART_FILES: dict[str, str] = {
    "ttft": "ttft_distribution.png",
    "output_tps": "output_tps.png",
    "response_100": "response_100.png",
    "latency_vs_load": "latency_vs_load.png",
    "throughput_vs_load": "throughput_vs_load.png",
    "time_split": "time_split.png",
    "over_time": "over_time.png",
    "itl": "itl_distribution.png",
    "prefill": "ttft_vs_input_tokens.png",
}


CHARTS: dict[str, Callable[[ReportData, Path], bool]] = {
    "ttft": ttft_chart,
    "output_tps": output_tps_chart,
    "response_100": response_100_chart,
    "latency_vs_load": latency_vs_load_chart,
    "throughput_vs_load": throughput_vs_load_chart,
    "time_split": time_split_chart,
    "over_time": over_time_chart,
    "itl": itl_chart,
    "prefill": prefill_chart,
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


__all__ = [
    "BACKGROUND",
    "CHARTS",
    "CHART_FILES",
    "DPI",
    "ECDF_POINTS",
    "EMULATED_INK",
    "EMULATED_MARK",
    "HATCHES",
    "INK",
    "REFERENCES",
    "STYLE",
    "TICK_FORMATTER",
    "_COMMA",
    "Reference",
    "_ecdf",
    "_exact",
    "_figure",
    "_save",
    "_wants_log",
    "itl_chart",
    "latency_vs_load_chart",
    "legend_below",
    "output_tps_chart",
    "over_time_chart",
    "render_charts",
    "response_100_chart",
    "save_figure",
    "throughput_vs_load_chart",
    "time_split_chart",
    "ttft_chart",
]
