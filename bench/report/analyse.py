"""The report's one analysis step: :func:`build_model` turns the loaded runs (``ReportData``) into
the :class:`~bench.report.model.ReportModel` every renderer formats.

Everything the report *decides* happens here or in the modules this one calls (percentiles,
costs, the CI gate's comparisons, SLO verdicts, health findings), so that the markdown and
the HTML only format, and a count in a sentence is the count of the table under it.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pandas as pd

from bench.analysis.cost import cost_summary
from bench.analysis.metrics import arrival_rates, ok_mask, percentiles
from bench.analysis.prefill import prefill_fits, ranges_widely
from bench.analysis.sdk_cost import sdk_costs
from bench.analysis.workload import by_turn, cache_use, cold_warm, token_counts
from bench.report.analyse_answer import answer
from bench.report.analyse_method import clients_by_target, health_runs, method_runs, saturation_findings
from bench.report.analyse_verdicts import run_to_run, slo_runs
from bench.report.data import ReportData, RunView, Series, extrapolated_answer, server_split, shape_text, target_rank
from bench.report.model import (
    Cost,
    CostNote,
    CostRow,
    CostSource,
    ErrorRow,
    Headline,
    HeadlineRow,
    LevelRow,
    Load,
    OverTime,
    ReasoningRow,
    ReportModel,
    RunFacts,
    RunsCompared,
    SdkCostRun,
    SplitRow,
    WorkloadRun,
)
from bench.results.row_checks import set_aside
from bench.results.run_file import RUN_FILE, split_fingerprint
from bench.schema import ERROR_KINDS, LoadLevel


def _f(value: object) -> float:
    """A figure of an aggregate row as a float; NaN when missing (pandas' NA included)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v


def cost_summaries(data: ReportData) -> dict[int, pd.DataFrame]:
    """Per run (by index), bench.analysis.cost's per-level summary: computed once, read by the
    Cost section and the answer first."""
    return {r.index: cost_summary(r.frame, r.meta) for r in data.runs if len(r.frame)}


def build_model(data: ReportData) -> ReportModel:
    """Everything the report states about ``data``, decided once."""
    summaries = cost_summaries(data)
    return ReportModel(
        multi=data.multi,
        runs=tuple(_run_facts(r) for r in data.runs),
        saturation=saturation_findings(data),
        runs_compared=_runs_compared(data) if data.multi else None,
        answer=answer(data, summaries),
        headline=headline(data),
        run_to_run=run_to_run(data) if data.multi else None,
        cost=cost(data, summaries) if data.series else None,
        slo=slo_runs(data),
        load=load(data) if data.series else None,
        sdk_costs=_sdk_costs(data),
        over_time=over_time(data),
        time_split=tuple(_split_rows(data)),
        reasoning=tuple(_reasoning_rows(data)),
        errors=tuple(_error_rows(data)),
        warm_failed=sum(
            int((r.frame["warmup"].to_numpy(dtype=bool, na_value=False) & ~ok_mask(r.frame)).sum()) for r in data.runs
        ),
        method=method_runs(data),
        health=health_runs(data),
        short_answers=_short_answers(data),
        workload=workload_runs(data),
    )


def workload_runs(data: ReportData) -> tuple[WorkloadRun, ...]:
    """Each run's prefill fits (only groups whose prompt lengths varied), cache use, turns and
    token counts, and cold against warm per input rung; runs with none of these are left out.
    With request shapes, rows follow the scenario's target order (as the other tables do)."""
    out = []
    for r in data.runs:
        # A fit only where prompt lengths ranged widely (a fixed prompt's counts vary by a few
        # tokens, and a line through them is noise), as the gate judges it.
        fits = [f for f in prefill_fits(r.frame) if ranges_widely(np.array([f.tokens_min, f.tokens_max]))]
        cache, turns, tokens, both = cache_use(r.frame), by_turn(r.frame), token_counts(r.frame), cold_warm(r.frame)
        if r.shaped:
            rank = target_rank(r)

            def key(row: Any, rank: dict[str, int] = rank) -> int:
                return rank.get(row.target, len(rank))

            fits, cache, turns = sorted(fits, key=key), sorted(cache, key=key), sorted(turns, key=key)
            tokens, both = sorted(tokens, key=key), sorted(both, key=key)
        run = WorkloadRun(r.label, tuple(fits), tuple(cache), tuple(turns), tuple(tokens), tuple(both))
        if not run.empty:
            out.append(run)
    return tuple(out)


def _short_answers(data: ReportData) -> float | None:
    longest = [n for s in data.series if (n := extrapolated_answer(s)) is not None]
    return max(longest) if longest else None


def over_time(data: ReportData) -> OverTime:
    """How many requests the chart over the run's time draws, of how many (a sample above a limit)."""
    drawn = [t for t in data.over_time() if t.seconds.size]
    return OverTime(total=sum(t.seconds.size for t in drawn), shown=sum(t.shown.size for t in drawn))


# --------------------------------------------------------------------------- header


def _run_facts(run: RunView) -> RunFacts:
    meta = run.meta
    aside = set_aside(run.run.frame)
    return RunFacts(
        label=run.label,
        run_id=run.run_id,
        scenario_name=run.scenario_name,
        description=str(meta.scenario_description or run.scenario.get("description") or ""),
        started_at=meta.started_at if isinstance(meta.started_at, str) else None,
        hostname=str(meta.host.get("hostname", "–")),
        emulated=run.emulated,
        emulated_recorded=meta.emulated,
        fingerprint=meta.fingerprint or None,
        measured=len(run.measured),
        warmup=run.warmup_rows,
        cancelled=run.cancelled_rows,
        stopped_by=str(meta.error) if meta.error else None,
        interrupted=bool(meta.interrupted or meta.finished is False),
        has_run_file=(run.run_dir / RUN_FILE).is_file(),
        set_aside=aside.describe() if aside is not None else None,
        set_aside_source=str(aside.source) if aside is not None else None,
    )


def _runs_compared(data: ReportData) -> RunsCompared:
    shapes = {split_fingerprint(r.meta.fingerprint)[0] if r.meta.fingerprint else None for r in data.runs}
    clients = [tuple(sorted({c for cs in clients_by_target(r).values() for c in cs})) for r in data.runs]
    if len(shapes) != 1 or None in shapes:
        kind = "fingerprints"
    elif len(set(clients)) > 1:
        kind = "clients"
    else:
        kind = "same"
    return RunsCompared(kind, tuple((r.label, c) for r, c in zip(data.runs, clients, strict=True)))


# --------------------------------------------------------------------------- headline


def has_reasoning(s: Series) -> bool:
    ttft = s.rows["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)
    ttfa = s.rows["ttfa_ms"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return bool(np.any(ttfa - ttft > 1e-6))


def e2e_tps(s: Series) -> float:
    """Median end-to-end tokens/s: output tokens ÷ the whole request time (prompt included)."""
    ok = s.ok_rows
    tokens = ok["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    e2e = ok["e2e_ms"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(e2e > 0, tokens / (e2e / 1000.0), np.nan)
    return float(percentiles(rate, [50])[0])


def streamed(s: Series) -> bool:
    rows = s.rows if len(s.rows) else s.run.frame
    return bool(rows["stream"].to_numpy(dtype=bool, na_value=False).any()) if len(rows) else s.run.streamed


def headline_level(series: list[Series]) -> str | None:
    """The one headline level every series shares, as the report names it; None when they differ."""
    levels = {(str(s.headline["load_mode"]), float(s.headline["load_level"])) for s in series}
    if len(levels) == 1:
        mode, level = next(iter(levels))
        return LoadLevel.of(mode, level).text
    return None


def headline(data: ReportData) -> Headline:
    streaming = any(streamed(s) for s in data.series)
    rows = []
    for s in data.series:
        h = s.headline
        is_streamed = streamed(s)
        rows.append(
            HeadlineRow(
                run_label=s.run.label,
                target=s.shown,
                model=s.model,
                streamed=is_streamed,
                ttft_p50=_f(h["ttft_ms_p50"]),
                ttft_p50_low=_f(h["ttft_ms_p50_ci_low"]),
                ttft_p50_high=_f(h["ttft_ms_p50_ci_high"]),
                ttft_p90=_f(h["ttft_ms_p90"]),
                ttfa_p50=_f(h["ttfa_ms_p50"]),
                tps_p50=_f(h["output_tps_p50"]),
                tps_p50_low=_f(h["output_tps_p50_ci_low"]),
                tps_p50_high=_f(h["output_tps_p50_ci_high"]),
                tps_p10=_f(h["output_tps_p10"]),
                response_100_p50=_f(h["response_100_ms_p50"]),
                response_100_longest=extrapolated_answer(s),
                e2e_p50=_f(h["e2e_ms_p50"]),
                e2e_p50_low=_f(h["e2e_ms_p50_ci_low"]),
                e2e_p50_high=_f(h["e2e_ms_p50_ci_high"]),
                e2e_p90=_f(h["e2e_ms_p90"]),
                e2e_tps_p50=math.nan if is_streamed else e2e_tps(s),
                error_rate=_f(h["error_rate"]),
                n=_f(h["n"]),
                shape=s.shape,
            )
        )
    return Headline(
        rows=tuple(rows),
        streaming=streaming,
        whole=any(not streamed(s) for s in data.series),
        reasoning=streaming and any(has_reasoning(s) for s in data.series),
        show_model=any(s.target != f"{s.provider}/{s.model}" for s in data.series),
        level=headline_level(data.series) if data.series else None,
        reference=data.reference,
        shaped=data.shaped,
        chart_shape=data.headline_shape,
    )


# --------------------------------------------------------------------------- cost


def _cost_by_target(summary: pd.DataFrame | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per (target, client path, request shape), over every load level: bench.analysis.cost's
    per-level summary, summed (each shape apart: a long prompt costs more than a short one)."""
    if summary is None:
        return {}
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    shapes = summary["shape"].map(shape_text) if "shape" in summary.columns else pd.Series("", index=summary.index)
    for (target, client, shape), part in summary.assign(shape=shapes).groupby(
        ["target", "client", "shape"], sort=False, dropna=False
    ):
        cost = part["cost_per_run_usd"].to_numpy(dtype="float64")
        n = part["priced_requests"].to_numpy(dtype="int64")
        per_usd = part["output_tokens_per_usd"].to_numpy(dtype="float64")
        priced = ~np.isnan(cost)
        total = float(cost[priced].sum()) if priced.any() else math.nan
        tokens = float(np.nansum(per_usd[priced] * cost[priced])) if priced.any() else math.nan
        first = part.iloc[0]
        notes = [str(x) for x in dict.fromkeys(part["cost_note"].tolist()) if x]
        out[(str(target), client if isinstance(client, str) else "", str(shape))] = {
            "has_price": bool(first["has_price"]),
            "input": first["price_input_per_mtok_usd"],
            "output": first["price_output_per_mtok_usd"],
            "as_of": first["price_as_of"],
            "source": first["price_source"],
            "origin": first["price_origin"],
            "requests": int(n.sum()),
            "run": total,
            "per_request": total / n.sum() if n.sum() else math.nan,
            "per_usd": tokens / total if total and total > 0 else math.nan,
            "notes": notes,
        }
    return out


def cost_by_series(data: ReportData, summaries: dict[int, pd.DataFrame]) -> list[tuple[Series, dict[str, Any]]]:
    """Each series with its cost summary (series without one are left out)."""
    costs = {r.index: _cost_by_target(summaries.get(r.index)) for r in data.runs}
    out = []
    for s in data.series:
        c = costs[s.run.index].get((s.target, s.client, s.shape))
        if c is not None:
            out.append((s, c))
    return out


def cost(data: ReportData, summaries: dict[int, pd.DataFrame]) -> Cost:
    rows: list[CostRow] = []
    sources: dict[tuple[str, str, str], list[str]] = {}
    notes: dict[str, list[str]] = {}
    for s, c in cost_by_series(data, summaries):
        speed = _f(s.headline["output_tps_p50"]) if streamed(s) else e2e_tps(s)
        rows.append(
            CostRow(
                run_label=s.run.label,
                target=s.shown,
                has_price=bool(c["has_price"]),
                price_input=_f(c["input"]),
                price_output=_f(c["output"]),
                per_request=_f(c["per_request"]),
                per_usd=_f(c["per_usd"]),
                speed=speed,
                run_total=_f(c["run"]),
                requests=int(c["requests"]),
                shape=s.shape,
            )
        )
        if c["has_price"]:
            key = (str(c["source"] or "source not recorded"), str(c["as_of"] or "date not recorded"), str(c["origin"]))
            sources.setdefault(key, []).append(s.shown)
        for note in c["notes"]:
            for part in note.split("; "):
                if part != "no price":
                    notes.setdefault(part, [])
                    if s.shown not in notes[part]:
                        notes[part].append(s.shown)
    return Cost(
        rows=tuple(rows),
        sources=tuple(CostSource(src, as_of, origin, tuple(dict.fromkeys(t))) for (src, as_of, origin), t in sources.items()),
        notes=tuple(CostNote(text, tuple(t)) for text, t in notes.items()),
    )


# --------------------------------------------------------------------------- load


def _level_rows(s: Series, mode: str, level: float) -> pd.DataFrame:
    m = s.run.measured
    mask = (
        s.mask(m)
        & (m["load_mode"] == mode).to_numpy(dtype=bool, na_value=False)
        & np.isclose(m["load_level"].to_numpy(dtype="float64", na_value=np.nan), level)
    )
    return m.loc[mask]


def load(data: ReportData) -> Load:
    goodput = any(r.slo.per_request for r in data.runs)
    open_loop = any((s.levels["load_mode"] == "rate").any() for s in data.series)
    rates = (
        {(r.index, a.target, a.client, a.shape, a.offered): a for r in data.runs for a in arrival_rates(r.measured)}
        if open_loop
        else {}
    )
    rows = []
    for s in data.series:
        for _, a in s.levels.iterrows():
            mode, level = str(a["load_mode"]), float(a["load_level"])
            lag = math.nan
            rate = None
            if open_loop:
                lags = _level_rows(s, mode, level)["start_lag_ms"]
                lag = float(percentiles(lags.to_numpy(dtype="float64", na_value=np.nan), [99])[0])
                rate = rates.get((s.run.index, s.target, s.client, s.shape, level)) if mode == "rate" else None
            rows.append(
                LevelRow(
                    run_label=s.run.label,
                    target=s.shown,
                    level=LoadLevel.of(mode, level).text,
                    n=_f(a["n"]),
                    ttft_p50=_f(a["ttft_ms_p50"]),
                    ttft_p99=_f(a["ttft_ms_p99"]),
                    e2e_p50=_f(a["e2e_ms_p50"]),
                    e2e_p99=_f(a["e2e_ms_p99"]),
                    tps_p50=_f(a["output_tps_p50"]),
                    itl_p99=_f(a["itl_ms_p99"]),
                    agg_tps=_f(a["agg_output_tps"]),
                    rps=_f(a["rps"]),
                    goodput_rps=_f(a["goodput_rps"]) if goodput else math.nan,
                    goodput_share=_f(a["goodput_share"]) if goodput else math.nan,
                    error_rate=_f(a["error_rate"]),
                    start_lag_p99=lag,
                    rate=rate,
                    shape=s.shape,
                )
            )
    return Load(tuple(rows), goodput, open_loop, tuple(r for r in rates.values() if r.short))


def _sdk_costs(data: ReportData) -> tuple[SdkCostRun, ...]:
    out = []
    for run in data.runs:
        costs = sdk_costs(run.frame, run.meta.client_health.levels if run.meta.client_health else ())
        if costs:
            out.append(SdkCostRun(run.label, run.run_id, tuple(costs)))
    return tuple(out)


# --------------------------------------------------------------------------- time split, errors


def _split_rows(data: ReportData) -> list[SplitRow]:
    rows = []
    for s in data.series:
        sp = server_split(s)
        if sp is None:
            continue
        rows.append(
            SplitRow(
                run_label=s.run.label,
                target=s.shown,
                n=sp["n"],
                queue=sp["queue_ms"],
                prompt=sp["prompt_ms"],
                completion=sp["completion_ms"],
                rest=sp["rest_ms"],
                e2e=sp["e2e_ms"],
                server_tps=sp["server_tps_p50"],
                client_tps=_f(s.headline["output_tps_p50"]),
                shape=s.shape,
            )
        )
    return rows


def _reasoning_rows(data: ReportData) -> list[ReasoningRow]:
    rows = []
    for s in data.series:
        if not has_reasoning(s):
            continue
        ok = s.ok_rows
        ttft = ok["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)
        ttfa = ok["ttfa_ms"].to_numpy(dtype="float64", na_value=np.nan)
        h = s.headline
        rows.append(
            ReasoningRow(
                run_label=s.run.label,
                target=s.shown,
                ttft_p50=_f(h["ttft_ms_p50"]),
                ttfa_p50=_f(h["ttfa_ms_p50"]),
                thinking_p50=float(percentiles(ttfa - ttft, [50])[0]),
                reasoning_tokens_p50=float(
                    percentiles(ok["reasoning_tokens"].to_numpy(dtype="float64", na_value=np.nan), [50])[0]
                ),
                response_100_p50=_f(h["response_100_ms_p50"]),
                response_100_longest=extrapolated_answer(s),
                shape=s.shape,
            )
        )
    return rows


def _example(messages: pd.Series) -> str | None:
    for value in messages.tolist():
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= 80 else text[:79] + "…"
    return None


def _series_counts(m: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Measured requests per (target, client path, shape), a missing client or shape read as ""
    (as Series.mask does)."""
    out: dict[tuple[str, str, str], int] = {}
    sizes = m.groupby(["target", "client", "shape"], dropna=False, observed=True, sort=False).size()
    for group, n in sizes.items():
        target, client, shape = cast(tuple[object, object, object], group)
        key = (str(target), client if isinstance(client, str) else "", shape_text(shape))
        out[key] = out.get(key, 0) + int(n)
    return out


def _error_rows(data: ReportData) -> list[ErrorRow]:
    rows = []
    order = {k: i for i, k in enumerate(ERROR_KINDS)}
    # Per run, its failed rows cut once and its requests counted once: a million-row run is
    # not masked once per series.
    per_run: dict[int, tuple[pd.DataFrame, dict[tuple[str, str, str], int]]] = {}
    for s in data.series:
        if s.run.index not in per_run:
            m = s.run.measured
            m = (m if "shape" in m.columns else m.assign(shape=""))[
                ["target", "client", "shape", "status", "error_kind", "error_message", "http_status"]
            ]
            per_run[s.run.index] = (m.loc[~ok_mask(m)], _series_counts(m))
        failed, counts = per_run[s.run.index]
        bad = failed.loc[s.mask(failed)]
        if bad.empty:
            continue
        total = counts.get((s.target, s.client, s.shape), len(bad))
        kinds = bad["error_kind"].astype("object").where(bad["error_kind"].notna(), "other")
        for kind in sorted(set(kinds.tolist()), key=lambda k: (order.get(k, len(order)), k)):
            these = bad.loc[(kinds == kind).to_numpy(dtype=bool)]
            rows.append(
                ErrorRow(
                    run_label=s.run.label,
                    target=s.shown,
                    kind=str(kind),
                    count=len(these),
                    share=len(these) / total,
                    statuses=tuple(sorted({int(x) for x in these["http_status"].dropna().tolist()})),
                    example=_example(these["error_message"]),
                    shape=s.shape,
                )
            )
    return rows
