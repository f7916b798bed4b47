"""The table ``bench run`` prints at the end: per target × load level, from the metrics module."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.metrics import aggregate, evaluate_slo, measured
from bench.slo import slo_from_table

#: Open loop: a p99 start lag beyond this means the client, not the server, set the pace.
OVERLOAD_LAG_MS = 50.0

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


def notes(frame: pd.DataFrame, meta: dict[str, Any]) -> list[str]:
    """What a reader of the table must not miss: an overloaded client, the SLO verdicts."""
    out: list[str] = []
    if meta.get("interrupted"):
        out.append("interrupted: the table covers the requests that finished before Ctrl-C")
    if not len(frame):
        return out
    rows = measured(frame)
    open_loop = rows[rows["load_mode"] == "rate"]
    for (target, level), group in open_loop.groupby(["target", "load_level"], sort=False):
        lag_p99 = group["start_lag_ms"].quantile(0.99)
        if lag_p99 > OVERLOAD_LAG_MS:
            out.append(
                f"warning: {target} rate={level:g}: requests started up to {lag_p99:.0f} ms late (p99) — the client "
                "could not keep up with the arrival rate, so this level did not offer the load it names"
            )
    table = (meta.get("scenario") or {}).get("slo")
    if table:
        verdicts = evaluate_slo(frame, slo_from_table(table))
        judged = [v for v in verdicts if v.passed is not None]
        failed = [v for v in judged if not v.passed]
        line = f"SLOs: {len(judged) - len(failed)} of {len(judged)} checks pass"
        if failed:
            worst = ", ".join(f"{v.target} {v.key}" for v in failed[:3]) + (" …" if len(failed) > 3 else "")
            line += f"; failing: {worst} (details: the report, or bench check)"
        out.append(line)
    return out


def print_summary(frame: pd.DataFrame, meta: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=160)
    console.print(summary_table(frame, meta))
    for line in notes(frame, meta):
        console.print(line, highlight=False, markup=False)
