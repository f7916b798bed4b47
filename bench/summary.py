"""The table ``bench run`` prints at the end: per target × load level, from the metrics module."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.metrics import aggregate

_COLUMNS = (
    ("n", "n", "{:.0f}"),
    ("errors", "errors", "{:.0f}"),
    ("ttft_ms_p50", "TTFT p50 ms", "{:.1f}"),
    ("ttft_ms_p99", "TTFT p99 ms", "{:.1f}"),
    ("output_tps_p50", "output tokens/s p50", "{:.0f}"),
    ("e2e_ms_p50", "e2e p50 ms", "{:.0f}"),
)


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return pattern.format(value)


def summary_table(frame: pd.DataFrame, meta: dict[str, Any]) -> Table:
    title = f"{meta.get('scenario_name', 'run')} — {meta.get('run_id', '')}"
    if meta.get("emulated"):
        title += " (emulated: figures come from the built-in emulator, not the real providers)"
    table = Table(title=title, title_justify="left")
    table.add_column("target")
    table.add_column("load")
    for _, header, _ in _COLUMNS:
        table.add_column(header, justify="right")
    if len(frame):
        agg = aggregate(frame, ci=False)
        for row in agg.itertuples(index=False):
            values = row._asdict()
            load = f"{values['load_mode']}={values['load_level']:g}"
            table.add_row(str(values["target"]), load, *(_fmt(values.get(col), pat) for col, _, pat in _COLUMNS))
    return table


def print_summary(frame: pd.DataFrame, meta: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=160)
    console.print(summary_table(frame, meta))
    if meta.get("interrupted"):
        console.print("interrupted: the table covers the requests that finished before Ctrl-C")
