"""The table ``bench run`` prints at the end: per target × load level, from the metrics module."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench import schema
from bench.analysis.metrics import ArrivalRate, aggregate, arrival_rates, judge_slos, measured
from bench.analysis.saturation import saturation, summary_lines
from bench.analysis.workload import shape_order
from bench.fmt import number, target_name
from bench.results.row_checks import set_aside
from bench.results.run_file import RunMeta
from bench.scenario.slo import slo_for_scenario
from bench.schema import LoadLevel

#: Open loop: a p99 start lag beyond this means the client, not the server, set the pace.
OVERLOAD_LAG_MS = 50.0


def _stat(column: str, stat: str, pattern: str) -> tuple[str, str, str]:
    """(aggregate column, terse header such as ``TTFT p50 ms``, number pattern)."""
    unit = " ms" if schema.unit(column) == "ms" else ""
    return f"{column}_{stat}", f"{schema.abbrev(column)} {stat}{unit}", pattern


#: (aggregate column, header, number pattern) of each figure after the target and load.
_COLUMNS = (
    ("n", "n", "{:.0f}"),
    ("errors", "errors", "{:.0f}"),
    _stat("ttft_ms", "p50", "{:.1f}"),
    _stat("ttft_ms", "p99", "{:.1f}"),
    _stat("output_tps", "p50", "{:.0f}"),
    _stat("e2e_ms", "p50", "{:.0f}"),
)


def summary_table(frame: pd.DataFrame, meta: RunMeta) -> Table:
    title = f"{meta.scenario_name or 'run'} — {meta.run_id or ''}"
    if meta.emulated:
        title += " (emulated: figures come from the built-in emulator, not the real providers)"
    table = Table(title=title, title_justify="left")
    table.add_column("target")
    table.add_column("load")
    shaped = bool(len(frame)) and bool(frame["shape"].astype("object").fillna("").ne("").any())
    if shaped:  # a ladder, bins or both cache states: a row per request shape
        table.add_column("shape")
    for _, header, _ in _COLUMNS:
        table.add_column(header, justify="right")
    rates = {(r.target, r.client, r.offered, r.shape): r for r in arrival_rates(frame)} if len(frame) else {}
    if rates:
        table.add_column("offered req/s", justify="right")
        table.add_column("achieved req/s", justify="right")
    if len(frame):
        agg = aggregate(frame, ci=False)
        records = agg.to_dict(orient="records")
        if shaped:  # targets in the scenario's order, shapes by length: not the order groups finished in
            targets = [t.get("label") for t in meta.scenario.get("targets") or [] if isinstance(t, dict)]
            rank = {str(t): i for i, t in enumerate(targets)}
            records.sort(key=lambda v: (rank.get(str(v["target"]), len(rank)), shape_order(str(v["shape"]))))
        for values in records:
            load = LoadLevel.of(values["load_mode"], values["load_level"]).text
            cells = [number(values.get(col), pat) for col, _, pat in _COLUMNS]
            target, client, shape = str(values["target"]), str(values["client"]), str(values["shape"])
            if rates:
                cells += _rate_cells(
                    rates.get((target, client, float(values["load_level"]), shape)) if values["load_mode"] == "rate" else None
                )
            table.add_row(target_name(target, client), load, *([shape] if shaped else []), *cells)
    return table


def _rate_cells(rate: ArrivalRate | None) -> list[str]:
    if rate is None:
        return ["–", "–"]
    achieved = number(rate.achieved, "{:.2f}") + (" (short)" if rate.short else "")
    return [f"{rate.offered:g}", achieved]


def rate_warning(rate: ArrivalRate) -> str:
    """The line said when a level's achieved rate fell short beyond Poisson noise."""
    return (
        f"warning: {rate.name} {LoadLevel('rate', rate.offered).text}: achieved {rate.achieved:.2f} req/s of {rate.offered:g} "
        f"offered ({rate.n} requests over {rate.span_s:.1f} s; Poisson noise allows down to {rate.floor:.2f}) — "
        "the client fell behind the arrival schedule, so this level did not offer the load it names"
    )


def notes(frame: pd.DataFrame, meta: RunMeta) -> list[str]:
    """What a reader of the table must not miss: an overloaded client, a short arrival rate, the SLO verdicts."""
    out: list[str] = []
    if meta.error:
        out.append(f"stopped early ({meta.error}): the table covers the requests recorded before")
    elif meta.interrupted:
        out.append("interrupted: the table covers the requests that finished before the run was stopped")
    aside = set_aside(frame)
    if aside is not None:
        out.append(f"{aside.describe()}: the table leaves them out")
    if not len(frame):
        return out
    rows = measured(frame)
    open_loop = rows[rows["load_mode"] == "rate"]
    shapes = open_loop["shape"].astype("object").fillna("") if "shape" in open_loop else ""
    for (target, level, client, shape), group in open_loop.assign(shape=shapes).groupby(
        ["target", "load_level", "client", "shape"], sort=False, dropna=False
    ):
        lag_p99 = group["start_lag_ms"].quantile(0.99)
        if lag_p99 > OVERLOAD_LAG_MS:
            name = target_name(str(target), client if isinstance(client, str) else None) + (f" [{shape}]" if shape else "")
            out.append(
                f"warning: {name} {LoadLevel.of('rate', level).text}: requests started up to {lag_p99:.0f} ms late (p99) — the client "
                "could not keep up with the arrival rate, so this level did not offer the load it names"
            )
    out.extend(rate_warning(r) for r in arrival_rates(frame) if r.short)
    out.extend(client_health_lines(meta))
    limited = int((rows["error_kind"] == "client_resources").sum())
    if limited:
        out.append(
            f"warning: {limited} requests failed on this machine's own limits (open files, ports or memory), not the "
            "provider's: raise `ulimit -n`, or spread the load with --workers; they are not provider errors"
        )
    spec = slo_for_scenario(meta.scenario)
    if spec.has_checks:
        outcome = judge_slos(frame, spec)
        line = outcome.headline
        if outcome.failed:
            line += f"; failing: {outcome.failed_text()}"
        if outcome.failed or outcome.no_data:
            line += " (details: the report, or bench check)"
        out.append(line)
    return out


def client_health_lines(meta: RunMeta) -> list[str]:
    """Whether the client kept within its budget while it measured (run.json ``client_health``);
    nothing for runs recorded before the harness sampled itself."""
    if meta.client_health is None:
        return []
    levels = meta.client_health.levels
    lines = summary_lines(saturation(levels), levels)
    memory = [level.kb_per_stream for level in levels if level.kb_per_stream is not None and level.streams >= 8]
    if memory:
        lines.append(f"client memory: {max(memory):.0f} KB per concurrent stream at most (levels of 8 streams or more)")
    return lines


def print_summary(frame: pd.DataFrame, meta: RunMeta, console: Console | None = None) -> None:
    console = console or Console(width=160)
    console.print(summary_table(frame, meta))
    for line in notes(frame, meta):
        console.print(line, highlight=False, markup=False)
