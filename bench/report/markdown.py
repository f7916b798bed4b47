"""The report's README.md: one function per section, assembled by :func:`render_markdown`.

Nothing here reads a clock or iterates an unordered collection, so the same runs always give
the same bytes (reports go into git; a diff must mean the numbers changed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis.bootstrap import CONFIDENCE, MAX_SAMPLES, N_RESAMPLES
from bench.analysis.cost import cost_summary
from bench.analysis.metrics import GroupKey, SloVerdict, arrival_rates, judge_slos, ok_mask, percentiles
from bench.analysis.saturation import saturation, summary_lines
from bench.analysis.sdk_cost import Difference, sdk_costs
from bench.errors import BenchError
from bench.fmt import target_name
from bench.gate.compare import CompareSettings, ErrorRateChange, MetricChange, Side, SideInfo, Verdict, compare_sides
from bench.report.data import ReportData, RunView, Series, server_split
from bench.report.tables import DASH, as_float, ci, code, count, heading, num, share, table, with_ci
from bench.results.health import Budget, LevelHealth
from bench.results.row_checks import set_aside
from bench.results.run_file import RUN_FILE, RunMeta, split_fingerprint
from bench.scenario.flags import FLAGS_SOURCE
from bench.scenario.slo import slo_for_scenario
from bench.schema import ERROR_KINDS, LoadLevel, label, unit


def _date(iso: object) -> str:
    if not isinstance(iso, str) or not iso:
        return "unknown date"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- header


def header(data: ReportData) -> list[str]:
    """Title, emulator banner (within the first five lines), scenario, date, counts."""
    runs = data.runs
    names = list(dict.fromkeys(r.scenario_name for r in runs))
    lines: list[str] = []
    if data.multi:
        title = f"{names[0]} ({len(runs)} runs)" if len(names) == 1 else _join(names)
        lines += [f"# Benchmark comparison: {title}", ""]
    else:
        lines += [f"# Benchmark report: {names[0]}", ""]
    emulated = [r for r in runs if r.emulated]
    if emulated and not data.multi:
        lines += [
            "> **Emulated run:** every figure below comes from bench's built-in emulator, not from the "
            "real providers. It shows what the harness measures, not how fast any provider is.",
            "",
        ]
    elif emulated:
        which = "all runs" if len(emulated) == len(runs) else _join([r.label for r in emulated])
        lines += [
            f"> **Emulated:** {which} ran against bench's built-in emulator; "
            f"{'its' if len(emulated) == 1 else 'their'} figures come from the emulator, not from the real providers.",
            "",
        ]
    lines += saturation_warning(data)
    for run in runs:
        prefix = f"**{run.label.capitalize()}:** " if data.multi else ""
        scenario = run.scenario
        description = str(run.meta.scenario_description or scenario.get("description") or "")
        parts = [f"{prefix}**Scenario:** {code(run.scenario_name)}" + (f" — {description}" if description else "")]
        parts.append(f"**Run:** {code(run.run_id)}")
        parts.append(f"**Date:** {_date(run.meta.started_at)}")
        parts.append(f"**Requests:** {_request_counts(run)}")
        lines.append(" · ".join(parts) + ("  " if data.multi and run is not runs[-1] else ""))
    lines.append("")
    for run in runs:
        if run.meta.error:
            who = run.label.capitalize() if data.multi else "This run"
            lines += [
                f"> **Incomplete:** {who} stopped early ({run.meta.error}); the figures cover the requests recorded before.",
                "",
            ]
        elif run.meta.interrupted or run.meta.finished is False:
            who = f"{run.label.capitalize()} was" if data.multi else "This run was"
            lines += [
                f"> **Incomplete:** {who} interrupted before the end; the figures cover the requests that finished.",
                "",
            ]
    for run in runs:
        if not (run.run_dir / RUN_FILE).is_file():
            who = run.label.capitalize() if data.multi else "This run"
            known = (
                "it ran against bench's emulator (its scenario.toml says so)"
                if run.meta.emulated
                else "it ran against real providers (its scenario.toml says so)"
                if run.meta.emulated is False
                else "bench cannot tell whether it ran against the emulator or against real providers"
            )
            lines += [f"> **No run.json:** {who} has no run.json (killed at its start, or removed); {known}.", ""]
        aside = set_aside(run.run.frame)
        if aside is not None:
            who = f"{run.label.capitalize()}: " if data.multi else ""
            lines += [f"> **Values set aside:** {who}{aside.describe()} in {code(aside.source)}; no figure includes them.", ""]
    if data.multi:
        lines += runs_compared(data)
    return lines


def _request_counts(run: RunView) -> str:
    """'130 measured, 3 warm-up (excluded), 4 cancelled by the interruption (excluded)'."""
    text = f"{count(len(run.measured))} measured"
    if run.warmup_rows:
        text += f", {count(run.warmup_rows)} warm-up (excluded)"
    if run.cancelled_rows:
        text += f", {count(run.cancelled_rows)} cancelled by the interruption (excluded)"
    return text


def runs_compared(data: ReportData) -> list[str]:
    rows = []
    for run in data.runs:
        host = run.meta.host
        rows.append(
            [
                run.label,
                code(run.run_id),
                _date(run.meta.started_at),
                str(host.get("hostname", DASH)),
                "yes" if run.emulated else "no",
                code(run.meta.fingerprint or DASH),
                count(len(run.measured)),
            ]
        )
    shapes = {split_fingerprint(r.meta.fingerprint)[0] if r.meta.fingerprint else None for r in data.runs}
    clients = [sorted({c for cs in _clients_by_target(r).values() for c in cs}) for r in data.runs]
    if len(shapes) != 1 or None in shapes:
        note = (
            "**The scenario fingerprints differ:** the runs did not measure the same request shape, "
            "so a difference below is not only the providers' doing."
        )
    elif len({tuple(c) for c in clients}) > 1:
        which = "; ".join(f"{r.label}: {', '.join(c) or 'not recorded'}" for r, c in zip(data.runs, clients, strict=True))
        note = (
            f"**Measured by different clients** ({which}): the runs sent the same requests, but the SDK path's own "
            "cost is in some runs' figures and not in others', so a difference below is not only the providers' doing."
        )
    else:
        note = (
            "All runs share one scenario fingerprint (same request settings, prompt shape, load mode and client "
            "paths): their figures are comparable."
        )
    return [
        "## Runs compared",
        "",
        table(
            ["run", "run id", "date", "host", "emulated", "fingerprint", "measured requests"],
            rows,
            ["left", "left", "left", "left", "left", "left", "right"],
        ),
        "",
        note,
        "",
    ]


# --------------------------------------------------------------------------- headline


def _has_reasoning(s: Series) -> bool:
    ttft = s.rows["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)
    ttfa = s.rows["ttfa_ms"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return bool(np.any(ttfa - ttft > 1e-6))


def _level_note(series: list[Series]) -> str:
    levels = {(str(s.headline["load_mode"]), float(s.headline["load_level"])) for s in series}
    if len(levels) == 1:
        mode, level = next(iter(levels))
        return f"At {LoadLevel.of(mode, level).text}, the lowest load level"
    return "At each target's lowest load level"


#: Reference figures a scenario can ask for (``[report] reference``): name -> (title, note, rows).
REFERENCES: dict[str, tuple[str, str, tuple[tuple[str, str, str, str], ...]]] = {
    "groq-2024": (
        "Reference: figures expected in 2024 (not measured here)",
        "The figures the original Groq integration brief expected from each provider in 2024, on models "
        'that have since been retired. Shown because the scenario sets `[report] reference = "groq-2024"`; '
        "they are not measurements and did not come from this run.",
        (
            ("Groq (Llama 3.1 70B)", "50–100 ms", "500+", "200–300 ms"),
            ("OpenAI GPT-4 Turbo", "200–300 ms", "50–100", "1–2 s"),
            ("Anthropic Claude", "300–400 ms", "40–80", "1.5–2.5 s"),
        ),
    ),
}


def _e2e_tps(s: Series) -> float:
    """Median end-to-end tokens/s: output tokens ÷ the whole request time (prompt included)."""
    ok = s.ok_rows
    tokens = ok["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    e2e = ok["e2e_ms"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(e2e > 0, tokens / (e2e / 1000.0), np.nan)
    return float(percentiles(rate, [50])[0])


def _streamed(s: Series) -> bool:
    rows = s.rows if len(s.rows) else s.run.frame
    return bool(rows["stream"].to_numpy(dtype=bool, na_value=False).any()) if len(rows) else s.run.streamed


def reference_section(data: ReportData) -> list[str]:
    """The published reference table, only when a scenario asked for it by name."""
    if data.reference is None or data.reference not in REFERENCES:
        return []
    title, note, rows = REFERENCES[data.reference]
    return [
        f"### {title}",
        "",
        note,
        "",
        table(["provider (model)", "first token", "tokens/s", "100-token answer"], [list(r) for r in rows]),
        "",
    ]


def headline(data: ReportData, charts: Mapping[str, str]) -> list[str]:
    lines = ["## Headline", ""]
    if not data.series:
        return lines + ["No measured requests: there is nothing to summarise.", ""]
    streaming = any(_streamed(s) for s in data.series)
    whole = any(not _streamed(s) for s in data.series)
    reasoning = streaming and any(_has_reasoning(s) for s in data.series)
    show_model = any(s.target != f"{s.provider}/{s.model}" for s in data.series)
    headers = (["run"] if data.multi else []) + ["target"] + (["model"] if show_model else [])
    if streaming:
        headers += [heading("ttft_ms", "p50", ci=True), heading("ttft_ms", "p90")]
        if reasoning:
            headers += [heading("ttfa_ms", "p50")]
        headers += [
            heading("output_tps", "p50", ci=True),
            heading("output_tps", "p10"),
            heading("response_100_ms", "p50"),
            heading("e2e_ms", "p50"),
        ]
    else:
        headers += [heading("e2e_ms", "p50", ci=True), heading("e2e_ms", "p90")]
    if whole:
        headers += ["end-to-end tokens/s p50"]
    headers += ["error rate", "n"]
    rows = []
    for s in data.series:
        h = s.headline
        row = ([s.run.label] if data.multi else []) + [s.shown] + ([s.model] if show_model else [])
        if streaming:
            row += [with_ci(h["ttft_ms_p50"], h["ttft_ms_p50_ci_low"], h["ttft_ms_p50_ci_high"]), num(h["ttft_ms_p90"])]
            if reasoning:
                row += [num(h["ttfa_ms_p50"])]
            row += [
                with_ci(h["output_tps_p50"], h["output_tps_p50_ci_low"], h["output_tps_p50_ci_high"]),
                num(h["output_tps_p10"]),
                num(h["response_100_ms_p50"]),
                num(h["e2e_ms_p50"]),
            ]
        else:
            row += [with_ci(h["e2e_ms_p50"], h["e2e_ms_p50_ci_low"], h["e2e_ms_p50_ci_high"]), num(h["e2e_ms_p90"])]
        if whole:
            row += [num(_e2e_tps(s)) if not _streamed(s) else DASH]
        row += [share(h["error_rate"]), count(h["n"])]
        rows.append(row)
    align = ["left"] * ((2 if data.multi else 1) + (1 if show_model else 0))
    align += ["right"] * (len(headers) - len(align))
    if streaming:
        note = (
            _level_note(data.series)
            + ". Medians with bootstrap 95% confidence intervals in brackets; for tokens/s the bad tail is "
            "the low end, so p10 is shown (90% of requests streamed at least that fast). "
            "Latency and speed figures cover successful requests; error rate and n cover all measured requests."
            + (" First token counts reasoning; first answer token does not." if reasoning else "")
            + (
                " Targets that did not stream have no first-token or streaming figures; their end-to-end "
                "tokens/s is output tokens ÷ end-to-end time."
                if whole
                else ""
            )
        )
    else:
        note = (
            _level_note(data.series)
            + ". The requests did not stream, so there is no first-token or streaming-speed figure: end-to-end "
            "time covers the whole response, and end-to-end tokens/s is output tokens ÷ end-to-end time "
            "(prompt processing included). Medians with bootstrap 95% confidence intervals in brackets. "
            "Latency and speed figures cover successful requests; error rate and n cover all measured requests."
        )
    lines += [note, "", table(headers, rows, align), ""]
    lines += reference_section(data)
    for key, alt in (
        ("ttft", "Time to first token per target"),
        ("output_tps", "Output tokens/s per target"),
        ("response_100", "Time to a 100-token answer per target"),
    ):
        if key in charts:
            lines += [f"![{alt}]({charts[key]})", ""]
    return lines


# --------------------------------------------------------------------------- client saturation


def _health(run: RunView) -> tuple[list[LevelHealth], Budget, list[str]] | None:
    """run.json's client health: the levels, the budget it was judged by, the findings' messages
    (from :func:`bench.run.health.saturation`, the code the run's summary used); None when not sampled."""
    health = run.meta.client_health
    if health is None:
        return None
    levels, budget = health.levels, health.budget
    findings = [f.message for f in saturation(levels, budget=budget)]
    if not findings and health.saturated:
        findings = list(health.findings)
    return levels, budget, findings


#: At most this many findings are repeated in the warning at the top; all are in the method.
TOP_FINDINGS = 4


def saturation_warning(data: ReportData) -> list[str]:
    """A warning near the top when the measuring client went over its budget in any run."""
    lines: list[str] = []
    for run in data.runs:
        health = _health(run)
        if health is None or not health[2]:
            continue
        findings = health[2]
        who = f"In {run.label}, the" if data.multi else "The"
        lines.append(
            f"> **Client saturated:** {who} measuring client went over its health budget "
            f"({count(len(findings))} level{'s' if len(findings) != 1 else ''}), so some figures below may describe "
            "this client rather than the provider:"
        )
        lines.append(">")
        lines += [f"> - {f}" for f in findings[:TOP_FINDINGS]]
        if len(findings) > TOP_FINDINGS:
            lines.append(f"> - … and {count(len(findings) - TOP_FINDINGS)} more (Method → Client health).")
        lines.append("")
    return lines


def _health_rows(levels: list[LevelHealth], workers: bool) -> list[list[str]]:
    rows = []
    for level in levels:
        rows.append(
            [target_name(level.target, level.client), LoadLevel.of(level.load_mode, float(level.load_level)).text]
            + ([str(level.worker)] if workers else [])
            + [
                f"{level.cpu_util:.2f}",
                num(level.loop_lag_ms_p99),
                num(level.chunks_per_s),
                num(level.kb_per_stream),
                num(level.rss_peak_mb),
                f"{level.fds_start} → {level.fds_end}" if level.fds_start >= 0 else DASH,
            ]
        )
    return rows


def health_section(data: ReportData) -> list[str]:
    """Method → Client health: each level's sample, the budget, the verdict, the calibration."""
    lines: list[str] = []
    for run in data.runs:
        health = _health(run)
        calibration = run.meta.calibration
        if health is None and calibration is None:
            continue
        if not lines:
            lines += [
                "### Client health",
                "",
                "While each level ran, the measuring process sampled itself: CPU (1.00 is one full core), "
                "event-loop lag (how late a ready socket read was handled, which makes receive times late), chunks "
                "handled per second, and memory per concurrent stream. Over budget, the client rather than the "
                "provider may be what the figures describe.",
                "",
            ]
        if data.multi:
            lines += [f"**{run.label.capitalize()}** ({code(run.run_id)}):", ""]
        if health is not None:
            levels, budget, findings = health
            if levels:
                workers = len({level.worker for level in levels}) > 1
                headers = (
                    ["target", "load"]
                    + (["worker"] if workers else [])
                    + [
                        "client CPU (cores)",
                        "loop lag p99 (ms)",
                        "chunks/s",
                        "KB per stream",
                        "peak RSS (MB)",
                        "open files",
                    ]
                )
                align = ["left", "left"] + ["right"] * (len(headers) - 2)
                lines += [table(headers, _health_rows(levels, workers), align), ""]
            verdict = summary_lines(saturation(levels, budget=budget), levels, budget) if not findings else []
            if findings:
                lines += [
                    f"**Saturated** (budget: CPU below {budget.cpu_util:g} of a core, event-loop lag p99 at most "
                    f"{budget.loop_lag_p99_ms:g} ms, open-loop start lag p99 at most {budget.start_lag_p99_ms:g} ms):",
                    "",
                ]
                lines += [f"- {f}" for f in findings]
                lines.append("")
            else:
                lines += [_sentence(verdict[0].removeprefix("client health: ")) + ".", ""]
        if calibration is not None and calibration.note:
            when = f" ({_date(calibration.date)})" if calibration.date else ""
            lines += [f"Calibration{when}: {calibration.note}.", ""]
    return lines


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- cost


def usd(value: object) -> str:
    """US dollars with three significant figures, never scientific: $12.3, $0.0123, $0.0000606."""
    v = as_float(value)
    if v is None:
        return DASH
    if v == 0:
        return "$0"
    if abs(v) >= 100:
        return f"${v:,.0f}"
    decimals = max(2, 2 - math.floor(math.log10(abs(v))))
    return f"${v:.{decimals}f}"


def _cost_by_target(run: RunView) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (target, client path), over every load level: bench.analysis.cost's per-level summary, summed."""
    if not len(run.frame):
        return {}
    summary = cost_summary(run.frame, run.meta)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (target, client), part in summary.groupby(["target", "client"], sort=False, dropna=False):
        cost = part["cost_per_run_usd"].to_numpy(dtype="float64")
        n = part["priced_requests"].to_numpy(dtype="int64")
        per_usd = part["output_tokens_per_usd"].to_numpy(dtype="float64")
        priced = ~np.isnan(cost)
        total = float(cost[priced].sum()) if priced.any() else math.nan
        tokens = float(np.nansum(per_usd[priced] * cost[priced])) if priced.any() else math.nan
        first = part.iloc[0]
        notes = [str(x) for x in dict.fromkeys(part["cost_note"].tolist()) if x]
        out[(str(target), client if isinstance(client, str) else "")] = {
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


ORIGINS = {
    "scenario": "the scenario's `[target.price]`",
    "catalogue": "bench's model catalogue when the run started",
    "catalogue-today": "bench's model catalogue today (the run recorded no price)",
}


def cost_section(data: ReportData) -> list[str]:
    if not data.series:
        return []
    costs = {r.index: _cost_by_target(r) for r in data.runs}
    rows: list[list[str]] = []
    sources: dict[tuple[str, str, str], list[str]] = {}
    for s in data.series:
        c = costs[s.run.index].get((s.target, s.client))
        if c is None:
            continue
        base = ([s.run.label] if data.multi else []) + [s.shown]
        speed = num(s.headline["output_tps_p50"]) if _streamed(s) else num(_e2e_tps(s))
        if not c["has_price"]:
            rows.append(base + ["no price", "no price", "no price", "no price", speed, "no price"])
            continue
        rows.append(
            base
            + [
                f"{usd(c['input'])} / {usd(c['output'])}",
                usd(c["per_request"]),
                usd(c["per_request"] * 1000),
                num(c["per_usd"]),
                speed,
                usd(c["run"]) + f" ({count(c['requests'])} requests)",
            ]
        )
        key = (str(c["source"] or "source not recorded"), str(c["as_of"] or "date not recorded"), str(c["origin"]))
        sources.setdefault(key, []).append(s.shown)
    if not rows:
        return []
    headers = (["run"] if data.multi else []) + [
        "target",
        "price in / out ($ per M tokens)",
        "cost per request (mean)",
        "cost per 1k requests",
        "output tokens per $",
        heading("output_tps", "p50"),
        "cost of the run",
    ]
    lines = [
        "## Cost",
        "",
        "What the measured requests would cost at list price, in US dollars: input and output tokens (reasoning "
        "included) × the price per million tokens, over the successful measured requests of every load level. "
        "Tokens/s p50 (the headline level) is beside it, for speed per dollar. A target without a price says "
        '"no price", never $0.',
        "",
        table(headers, rows, ["left"] * (2 if data.multi else 1) + ["right"] * (len(headers) - (2 if data.multi else 1))),
        "",
    ]
    for (source, as_of, origin), targets in sources.items():
        who = _join(list(dict.fromkeys(targets)))
        lines.append(f"- Prices of {who}: {source}; read {as_of}; from {ORIGINS.get(origin, origin)}.")
    notes: dict[str, list[str]] = {}
    for s in data.series:
        c = costs[s.run.index].get((s.target, s.client))
        for note in (c or {}).get("notes", []):
            for part in note.split("; "):
                if part != "no price":
                    notes.setdefault(part, [])
                    if s.shown not in notes[part]:
                        notes[part].append(s.shown)
    lines += [f"- {_join(targets)}: {part}." for part, targets in notes.items()]
    if sources or notes:
        lines.append("")
    return lines


# --------------------------------------------------------------------------- run to run

#: Headline figures the run-to-run table compares, in the headline's order.
RUN_TO_RUN_STREAMED: tuple[str, ...] = ("ttft_ms", "output_tps", "response_100_ms", "e2e_ms")
RUN_TO_RUN_WHOLE: tuple[str, ...] = ("e2e_ms",)


def _pct(x: float) -> str:
    return f"{x:+.1%}" if math.isfinite(x) else DASH


def _change_cell(change: MetricChange) -> str:
    values = f"{num(change.baseline_p50)} → {num(change.candidate_p50)}"
    if change.verdict in (Verdict.NOT_MEASURED,):
        return DASH
    text = f"{values}: {_pct(change.change)}"
    if math.isfinite(change.ci_low):
        text += f" [{_pct(change.ci_low)}, {_pct(change.ci_high)}]"
    verdict = str(change.verdict)
    return f"{text} · " + (f"**{verdict}**" if change.verdict is Verdict.REGRESSION else verdict)


def _error_cell(change: ErrorRateChange) -> str:
    text = f"{share(change.baseline_rate)} → {share(change.candidate_rate)}: {change.change * 100:+.1f} pts"
    verdict = str(change.verdict)
    return f"{text} · " + (f"**{verdict}**" if change.verdict is Verdict.REGRESSION else verdict)


def _side(run: RunView) -> Side:
    return Side(SideInfo.from_meta(run.label, "run", str(run.run_dir), run.meta), run.run)


def run_to_run_section(data: ReportData) -> list[str]:
    """Each later run against the first, judged by the CI gate's own code (bench.compare)."""
    if not data.multi:
        return []
    base = data.runs[0]
    streamed = any(r.streamed for r in data.runs)
    metrics = RUN_TO_RUN_STREAMED if streamed else RUN_TO_RUN_WHOLE
    settings = CompareSettings(metrics=metrics)
    command = "bench compare RUN_1 RUN_N " + " ".join(f"--metric {m}" for m in metrics)
    lines = [
        "## Run to run",
        "",
        f"Each run against {base.label} ({code(base.run_id)}), per target and load level: the median of each headline "
        "figure in both runs, the change with its interval, and the verdict of bench's CI gate — the same code and "
        f"settings as {code(command)}. A change is a regression only when the median got worse by more than "
        f"{settings.threshold:.0%} *and* the interval excludes no change; intervals are bootstrap intervals of the "
        f"ratio of medians, simultaneous at {settings.confidence:.0%} over all comparisons of a pair and widened for "
        f"serial correlation; no verdict below {settings.min_samples} successful requests a side. Error rates: "
        f"one-sided Fisher tests and a margin of {settings.error_threshold * 100:g} percentage point"
        + ("" if settings.error_threshold * 100 == 1 else "s")
        + ".",
        "",
    ]
    for run in data.runs[1:]:
        lines += [f"### {run.label.capitalize()} against {base.label}", ""]
        try:
            comparison = compare_sides(_side(base), _side(run), settings)
        except BenchError as exc:
            lines += [f"The CI gate does not compare these runs: {exc}.", ""]
            continue
        lines += [f"**Gate:** {comparison.headline}.", ""]
        by_group: dict[GroupKey, dict[str, MetricChange | ErrorRateChange]] = {}
        for change in comparison.metrics:
            by_group.setdefault(change.group, {})[change.metric] = change
        for err in comparison.errors:
            by_group.setdefault(err.group, {})["error_rate"] = err
        shown = [
            m
            for m in metrics
            if any(isinstance(g.get(m), MetricChange) and g[m].verdict is not Verdict.NOT_MEASURED for g in by_group.values())
        ]
        headers = ["target", "load"] + [heading(m, "p50", unit=False) for m in shown] + ["error rate"]
        rows = []
        for group, cells in by_group.items():
            row = [group.name, LoadLevel.of(group.load_mode, group.load_level).text]
            row += [_change_cell(c) if isinstance(c := cells.get(m), MetricChange) else DASH for m in shown]
            error = cells.get("error_rate")
            row += [_error_cell(error) if isinstance(error, ErrorRateChange) else DASH]
            rows.append(row)
        lines += [table(headers, rows, ["left", "left"] + ["right"] * (len(headers) - 2)), ""]
        for warning in comparison.warnings:
            lines += [f"> ⚠️ {warning}.", ""]
    return lines


# --------------------------------------------------------------------------- SLOs


def _rule_text(v: SloVerdict) -> str:
    if v.column == "error_rate":
        return f"error rate ≤ {share(v.threshold)}"
    op = "≥" if v.at_least else "≤"
    text = f"{label(v.column)} {v.stat} {op} {num(v.threshold)}{_ms(v.column)}"
    if v.at_least and v.stat not in ("p50", "mean"):
        text += f" ({v.stat.removeprefix('p')}% of requests at least this fast)"
    return text


def _ms(column: str) -> str:
    """A latency's threshold says its unit; a speed's label (tokens/s) already does."""
    return " ms" if unit(column) == "ms" else ""


def _measured_text(v: SloVerdict) -> str:
    if v.column == "error_rate":
        return share(v.measured)
    return num(v.measured)


def _ci_text(v: SloVerdict) -> str:
    if v.column == "error_rate":
        return "" if math.isnan(v.ci_low) else f"[{share(v.ci_low)}–{share(v.ci_high)}]"
    return ci(v.ci_low, v.ci_high)


def _verdict_cell(v: SloVerdict) -> str:
    if v.passed is None:
        return "no data"
    text = ("pass" if v.passed else "**FAIL**") + " · " + _measured_text(v)
    interval = _ci_text(v)
    return f"{text} {interval}" if interval else text


def _per_request_text(run: RunView) -> str:
    parts = []
    for rule in run.slo.per_request:
        parts.append(f"{label(rule.column)} {'≥' if rule.at_least else '≤'} {num(rule.threshold)}{_ms(rule.column)}")
    return _join(parts)


def slo_section(data: ReportData) -> list[str]:
    # Verdicts come from the one code path the summary, bench check and the pytest plugin
    # use (judge_slos), with every [target.slo] applied to its own target.
    specs = [slo_for_scenario(run.scenario) for run in data.runs]
    if all(spec.empty for spec in specs):
        return []
    lines = ["## SLO verdicts", ""]
    for run, spec in zip(data.runs, specs, strict=True):
        if spec.empty:
            if data.multi:
                lines += [f"{run.label.capitalize()} has no `[slo]` table.", ""]
            continue
        if data.multi:
            lines += [f"### {run.label.capitalize()} ({code(run.run_id)})", ""]
        outcome = judge_slos(run.measured, spec) if spec.has_checks else None
        if outcome is not None and outcome.verdicts:
            verdicts = outcome.verdicts
            lines += [
                outcome.headline + ". Each cell: verdict · measured value [95% CI]. A check passes on its measured "
                "value; the CI shows how firm the verdict is (bootstrap for percentiles, normal for means, Wilson "
                "for error rates).",
                "",
            ]
            keys = list(dict.fromkeys(v.key for v in verdicts))
            groups = list(dict.fromkeys(v.group for v in verdicts))
            by_cell = {(v.group, v.key): v for v in verdicts}
            first = {v.key: v for v in reversed(verdicts)}
            # A key whose threshold differs between targets ([target.slo]) shows it in each cell.
            own = {k for k in keys if len({v.threshold for v in verdicts if v.key == k}) > 1}
            rows = []
            for group in groups:
                row = [group.name, LoadLevel.of(group.load_mode, group.load_level).text]
                for key in keys:
                    v = by_cell.get((group, key))
                    cell = _verdict_cell(v) if v is not None else DASH
                    if v is not None and key in own:
                        bound = share(v.threshold) if v.column == "error_rate" else num(v.threshold)
                        cell += f" ({'≥' if v.at_least else '≤'} {bound})"
                    row.append(cell)
                rows.append(row)
            headers = ["target", "load"] + [
                (
                    "error rate, per target"
                    if first[k].column == "error_rate"
                    else f"{label(first[k].column)} {first[k].stat}, per target"
                )
                + f" ({code(k)})"
                if k in own
                else f"{_rule_text(first[k])} ({code(k)})"
                for k in keys
            ]
            lines += [table(headers, rows, ["left", "left"] + ["right"] * len(keys)), ""]
        if run.slo.per_request:
            lines += [
                f"Goodput counts the requests that succeeded and met every per-request threshold "
                f"({_per_request_text(run)}); see Load behaviour.",
                "",
            ]
    return lines


# --------------------------------------------------------------------------- load


def _level_rows(s: Series, mode: str, level: float) -> pd.DataFrame:
    m = s.run.measured
    mask = (
        s.mask(m)
        & (m["load_mode"] == mode).to_numpy(dtype=bool, na_value=False)
        & np.isclose(m["load_level"].to_numpy(dtype="float64", na_value=np.nan), level)
    )
    return m.loc[mask]


def load_section(data: ReportData, charts: Mapping[str, str]) -> list[str]:
    lines = ["## Load behaviour", ""]
    if not data.series:
        return lines + ["No measured requests.", ""]
    goodput = any(r.slo.per_request for r in data.runs)
    open_loop = any((s.levels["load_mode"] == "rate").any() for s in data.series)
    headers = (["run"] if data.multi else []) + [
        "target",
        "load",
        "n",
        heading("ttft_ms", "p50"),
        heading("ttft_ms", "p99"),
        heading("e2e_ms", "p50"),
        heading("e2e_ms", "p99"),
        heading("output_tps", "p50") + " (per request)",
        heading("itl_ms", "p99"),
        "aggregate tokens/s",
        "requests/s",
    ]
    if goodput:
        headers += ["goodput (req/s)", "goodput share"]
    headers += ["error rate"]
    if open_loop:
        headers += [heading("start_lag_ms", "p99"), "offered req/s", "achieved req/s"]
    rates = (
        {(r.index, a.target, a.client, a.offered): a for r in data.runs for a in arrival_rates(r.measured)} if open_loop else {}
    )
    rows = []
    for s in data.series:
        for _, a in s.levels.iterrows():
            row = ([s.run.label] if data.multi else []) + [
                s.shown,
                LoadLevel.of(str(a["load_mode"]), float(a["load_level"])).text,
                count(a["n"]),
                num(a["ttft_ms_p50"]),
                num(a["ttft_ms_p99"]),
                num(a["e2e_ms_p50"]),
                num(a["e2e_ms_p99"]),
                num(a["output_tps_p50"]),
                num(a["itl_ms_p99"]),
                num(a["agg_output_tps"]),
                num(a["rps"]),
            ]
            if goodput:
                row += [num(a["goodput_rps"]), share(a["goodput_share"])]
            row += [share(a["error_rate"])]
            if open_loop:
                lag = _level_rows(s, str(a["load_mode"]), float(a["load_level"]))["start_lag_ms"]
                row += [num(percentiles(lag.to_numpy(dtype="float64", na_value=np.nan), [99])[0])]
                rate = rates.get((s.run.index, s.target, s.client, float(a["load_level"]))) if a["load_mode"] == "rate" else None
                row += [f"{rate.offered:g}", num(rate.achieved) + (" ⚠️" if rate.short else "")] if rate else [DASH, DASH]
            rows.append(row)
    align = ["left"] * (3 if data.multi else 2) + ["right"] * (len(headers) - (3 if data.multi else 2))
    lines += [
        "Per target and load level. ITL p99 is the 99th percentile of every gap between content events "
        "(vLLM's ITL): stalls mid-stream show here. Aggregate tokens/s is every output token of the level's successful "
        "requests over its measured window (first request's start to last request's end); requests/s "
        "counts all measured requests over the same window."
        + (" Goodput counts only requests that succeeded and met every per-request SLO." if goodput else "")
        + (
            " Start lag (open loop) is how late a request left after it was due: a large lag means the client, "
            "not the provider, was the bottleneck."
            if open_loop
            else ""
        )
        + (
            " Achieved req/s is the rate requests actually left at (gaps between the first and last measured "
            "start); ⚠️ marks a level that fell short of the offered rate by more than Poisson noise "
            "(3 standard deviations)."
            if open_loop
            else ""
        ),
        "",
        table(headers, rows, align),
        "",
    ]
    for rate in (r for r in rates.values() if r.short):
        lines += [
            f"⚠️ {rate.name} at {rate.offered:g} req/s offered: {num(rate.achieved)} req/s achieved over "
            f"{num(rate.span_s)} s ({rate.n} requests; Poisson noise allows down to {num(rate.floor)}): the client "
            "fell behind the arrival schedule, so this level did not offer the load it names.",
            "",
        ]
    for key, alt in (("latency_vs_load", "First-token latency against load"), ("throughput_vs_load", "Throughput against load")):
        if key in charts:
            lines += [f"![{alt}]({charts[key]})", ""]
    if "itl" in charts:
        lines += [
            "Every gap between successive content events at the headline level, as the share of gaps at least "
            "that long (both axes logarithmic): a stream that stalls shows as a long tail on the right, which a "
            "median hides.",
            "",
            f"![Inter-token gaps: the tail]({charts['itl']})",
            "",
        ]
    return lines


# --------------------------------------------------------------------------- what the SDK costs


def _signed(value: float) -> str:
    text = num(value)
    return text if text == DASH or text.startswith("-") or text == "0" else "+" + text


def _difference_cell(d: Difference | None) -> str:
    """'lean → SDK: +Δ [low, high]', Δ in bold when its interval excludes no difference."""
    if d is None or not (math.isfinite(d.lean) and math.isfinite(d.sdk)):
        return DASH
    change = _signed(d.change)
    text = f"{num(d.lean)} → {num(d.sdk)}: " + (f"**{change}**" if d.firm else change)
    if math.isfinite(d.ci_low):
        text += f" [{_signed(d.ci_low)}, {_signed(d.ci_high)}]"
    return text


def sdk_cost_section(data: ReportData) -> list[str]:
    """Targets measured by both client paths: what the SDK path adds, per level (bench.analysis.sdk_cost)."""
    per_run = [(run, sdk_costs(run.frame, run.meta.client_health.levels if run.meta.client_health else ())) for run in data.runs]
    per_run = [(run, costs) for run, costs in per_run if costs]
    if not per_run:
        return []
    lines = [
        "## What the SDK costs",
        "",
        "Targets measured by both client paths, one after the other within each load level (neither's work was "
        "in the other's figures): the lean client's figure → the SDK path's, and the difference (SDK − lean) "
        f"with its bootstrap {CONFIDENCE:.0%} interval; bold where the interval excludes no difference. First token: "
        "the difference of the two medians (and p99s), resampling requests. Inter-token time: the mean gap between "
        "content events (streaming time after the first content event ÷ gaps), resampling requests. CPU per chunk: "
        "the measuring process's CPU time ÷ the chunks it handled, in µs, all-in (client library, harness, health "
        "sampler), resampling the health sampler's time slices of the level. Where the SDK path reads time "
        "differently, the lean path's figure is the closer one to the provider's: see `docs/method.md`, "
        '"Client paths".',
        "",
    ]
    headers = [
        "target",
        "load",
        "n (lean / SDK)",
        "first token p50 (ms)",
        "first token p99 (ms)",
        "inter-token mean (ms)",
        "CPU per chunk (µs)",
    ]
    for run, costs in per_run:
        if data.multi:
            lines += [f"### {run.label.capitalize()} ({code(run.run_id)})", ""]
        rows = [
            [
                c.target,
                LoadLevel.of(c.load_mode, c.load_level).text,
                f"{count(c.n_lean)} / {count(c.n_sdk)}",
                _difference_cell(c.ttft_p50_ms),
                _difference_cell(c.ttft_p99_ms),
                _difference_cell(c.itl_mean_ms),
                _difference_cell(c.cpu_us_per_chunk),
            ]
            for c in costs
        ]
        lines += [table(headers, rows, ["left", "left"] + ["right"] * (len(headers) - 2)), ""]
        if any(c.cpu_us_per_chunk is None for c in costs):
            lines += ["CPU per chunk needs the health sampler's slices of both paths, which this run did not record.", ""]
    return lines


def over_time_section(data: ReportData, charts: Mapping[str, str]) -> list[str]:
    """First token and output speed per request over the run's time: warm-up, throttling, drift."""
    if "over_time" not in charts:
        return []
    drawn = [t for t in data.over_time() if t.seconds.size]
    total = sum(t.seconds.size for t in drawn)
    shown = sum(t.shown.size for t in drawn)
    sample = (
        f" The chart draws {count(shown)} of the {count(total)} successful measured requests as dots (a seeded "
        "random sample of each target); the median line uses every request."
        if shown < total
        else ""
    )
    return [
        "## Over the run",
        "",
        "First token and output speed of every successful measured request, by target, against the seconds since "
        "the run's first request left (`started_at_ns`), with the median per time bin: a slow start (cold "
        "connections, a provider warming up), throttling or drift during the run shows here, which the "
        "percentiles above cannot show." + sample,
        "",
        f"![First token and output speed over the run]({charts['over_time']})",
        "",
    ]


# --------------------------------------------------------------------------- time split


def time_section(data: ReportData, charts: Mapping[str, str]) -> list[str]:
    lines = ["## Where the time went", ""]
    splits = [(s, sp) for s in data.series if (sp := server_split(s)) is not None]
    reasoning = [s for s in data.series if _has_reasoning(s)]
    if not splits and not reasoning:
        return lines + [
            "No target reported server-side timings, and no target streamed reasoning before its answer, "
            "so a request's time cannot be split further than the tables above.",
            "",
        ]
    if splits:
        rows = []
        for s, sp in splits:
            rows.append(
                ([s.run.label] if data.multi else [])
                + [
                    s.shown,
                    count(sp["n"]),
                    num(sp["queue_ms"]),
                    num(sp["prompt_ms"]),
                    num(sp["completion_ms"]),
                    num(sp["rest_ms"]),
                    num(sp["e2e_ms"]),
                    num(sp["server_tps_p50"]),
                    num(s.headline["output_tps_p50"]),
                ]
            )
        headers = (["run"] if data.multi else []) + [
            "target",
            "requests",
            "queue (ms)",
            "prompt (ms)",
            "completion (ms)",
            "network + client (ms)",
            "e2e (ms)",
            "server tokens/s p50",
            "client tokens/s p50",
        ]
        lines += [
            "### Server-side timings",
            "",
            "Groq reports, per request, how long it queued, processed the prompt and generated the "
            "completion (`x_groq.usage`). The rest of the end-to-end time is network, TLS, proxies and the "
            "client. Means over successful requests at the headline load level, so the parts add up; server "
            "tokens/s is the provider's own completion_tokens ÷ completion_time, client tokens/s is measured here "
            "from the stream (after the first token).",
            "",
            table(headers, rows, ["left"] * (2 if data.multi else 1) + ["right"] * (len(headers) - (2 if data.multi else 1))),
            "",
        ]
        if "time_split" in charts:
            lines += [f"![Where the time went]({charts['time_split']})", ""]
    if reasoning:
        rows = []
        for s in reasoning:
            ok = s.ok_rows
            ttft = ok["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)
            ttfa = ok["ttfa_ms"].to_numpy(dtype="float64", na_value=np.nan)
            thinking = percentiles(ttfa - ttft, [50])[0]
            rtoks = percentiles(ok["reasoning_tokens"].to_numpy(dtype="float64", na_value=np.nan), [50])[0]
            h = s.headline
            rows.append(
                ([s.run.label] if data.multi else [])
                + [
                    s.shown,
                    num(h["ttft_ms_p50"]),
                    num(h["ttfa_ms_p50"]),
                    num(thinking),
                    num(rtoks),
                    num(h["response_100_ms_p50"]),
                ]
            )
        headers = (["run"] if data.multi else []) + [
            "target",
            heading("ttft_ms", "p50"),
            heading("ttfa_ms", "p50"),
            "reasoning before the answer p50 (ms)",
            "reasoning tokens p50",
            heading("response_100_ms", "p50"),
        ]
        lines += [
            "### Reasoning before the answer",
            "",
            "Reasoning models stream their reasoning first. The first token counts it; the first *answer* token "
            "(Artificial Analysis' TTFT for reasoning models) does not, and the 100-token answer starts from it.",
            "",
            table(headers, rows, ["left"] * (2 if data.multi else 1) + ["right"] * (len(headers) - (2 if data.multi else 1))),
            "",
        ]
    return lines


# --------------------------------------------------------------------------- errors


def _example(messages: pd.Series) -> str:
    for value in messages.tolist():
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= 80 else text[:79] + "…"
    return DASH


def errors_section(data: ReportData) -> list[str]:
    lines = ["## Errors", ""]
    rows = []
    for s in data.series:
        m = s.run.measured[["target", "client", "status", "error_kind", "error_message", "http_status"]]
        mine = m.loc[s.mask(m)]
        bad = mine.loc[~ok_mask(mine)]
        if bad.empty:
            continue
        kinds = bad["error_kind"].astype("object").where(bad["error_kind"].notna(), "other")
        order = {k: i for i, k in enumerate(ERROR_KINDS)}
        for kind in sorted(set(kinds.tolist()), key=lambda k: (order.get(k, len(order)), k)):
            these = bad.loc[(kinds == kind).to_numpy(dtype=bool)]
            statuses = sorted({int(x) for x in these["http_status"].dropna().tolist()})
            rows.append(
                ([s.run.label] if data.multi else [])
                + [
                    s.shown,
                    code(kind),
                    count(len(these)),
                    share(len(these) / len(mine)),
                    ", ".join(str(x) for x in statuses) or DASH,
                    _example(these["error_message"]),
                ]
            )
    warm_failed = sum(int((r.frame["warmup"].to_numpy(dtype=bool, na_value=False) & ~ok_mask(r.frame)).sum()) for r in data.runs)
    if rows:
        headers = (["run"] if data.multi else []) + [
            "target",
            "error kind",
            "count",
            "share of measured",
            "HTTP status",
            "example message",
        ]
        lines += [
            "Measured requests that failed, by error kind, over all load levels (the kinds are a closed set, "
            "listed in `docs/metrics.md` in bench's repository).",
            "",
            table(headers, rows, ["left"] * (3 if data.multi else 2) + ["right", "right", "left", "left"]),
            "",
        ]
    else:
        lines += ["No measured request failed.", ""]
    if warm_failed:
        lines += [f"{count(warm_failed)} warm-up request{'s' if warm_failed != 1 else ''} also failed (excluded above).", ""]
    return lines


# --------------------------------------------------------------------------- method

DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("first token (TTFT, `ttft_ms`)", "first content event − t0; reasoning counts."),
    (
        "first answer token (TTFA, `ttfa_ms`)",
        "first *answer* content event − t0 (reasoning excluded); equals TTFT for models that do not reason. Artificial Analysis' TTFT for reasoning models.",
    ),
    ("first byte (`ttfb_ms`)", "response headers received − t0: the server's acknowledgement."),
    ("end-to-end (e2e, `e2e_ms`)", "end of the response (last event) − t0."),
    (
        "tokens/s (`output_tps`)",
        "tokens streamed after the first content event ÷ (last − first content event): Artificial Analysis' output speed, per request. For speeds the bad tail is the low end (p1, p10).",
    ),
    ("time per output token (TPOT, `tpot_ms`)", "1000 ÷ tokens/s. This is what aiperf and guidellm call ITL."),
    (
        "inter-token latency (ITL, `itl_ms`)",
        "every gap between successive content events, pooled over requests: vLLM's ITL (not aiperf's/guidellm's, which is TPOT above).",
    ),
    ("100-token answer (`response_100_ms`)", "TTFA + 100 × TPOT per request: how long a reader waits for a 100-token answer."),
    (
        "aggregate tokens/s",
        "output tokens of a level's successful measured requests ÷ the measured window (first measured request's t0 to the last one's end).",
    ),
    (
        "requests/s, goodput",
        "measured requests ÷ the same window; goodput counts only requests that succeeded and met every per-request SLO (and its share of all measured requests).",
    ),
    (
        "error rate",
        "failed measured requests ÷ measured requests; error kinds are a closed set (rate_limited, auth, timeout, stream_interrupted …).",
    ),
)


#: Where t0 is taken, as bench/run/measure.py and bench/timing.py do it (docs/method.md in full).
T0_TEXT = (
    "**t0** is when the request's first attempt left for the server: the moment it began opening a connection "
    "if it needed one (so connect and TLS time stay inside every latency), otherwise the moment its last request "
    "bytes were handed to the socket. The SDK path stamps both from an instrumented network backend under the "
    "SDK's HTTP client (falling back to the HTTP client's request hook where that is not possible); the lean "
    "path stamps its own single write. The client library's work before t0 is recorded as `sdk_prep_ms` and not "
    "billed to the provider; with retries, t0 stays at the first attempt."
)


def _scenario_path(path: object) -> str:
    """As recorded, but an absolute path is cut to its last two parts: a report must not depend
    on (or reveal) where the run's checkout lived."""
    if not isinstance(path, str) or not path:
        return DASH
    if path == FLAGS_SOURCE:
        return "none: given as command-line flags (the run directory keeps it as `scenario.toml`)"
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return code("…/" + "/".join(parts[-2:]))
    return code(path)


def _versions(meta: RunMeta) -> str:
    versions = meta.versions
    return ", ".join(f"{k} {versions[k]}" for k in sorted(versions)) or DASH


def _host(meta: RunMeta) -> str:
    host = meta.host
    if not host:
        return DASH
    parts = [str(host.get(k)) for k in ("hostname", "platform", "machine") if host.get(k)]
    if host.get("cpu_count"):
        parts.append(f"{host['cpu_count']} CPUs")
    return ", ".join(parts)


def _table(value: object) -> dict[str, Any]:
    """A table of the recorded scenario, or an empty one when an old or odd run.json lacks it."""
    return value if isinstance(value, dict) else {}


def _settings(run: RunView) -> tuple[str, str, str]:
    sc = run.scenario
    req = _table(sc.get("request"))
    prompts = _table(sc.get("prompts"))
    load = _table(sc.get("load"))
    request = ", ".join(f"{k} = {req[k]}" for k in ("stream", "max_tokens", "temperature", "max_retries") if k in req) or DASH
    prompt = DASH
    if prompts:
        prompt = f"{prompts.get('source', '?')}, ~{prompts.get('input_tokens', '?')} input tokens"
        if prompts.get("seed") is not None:
            prompt += f", seed {prompts['seed']}"
    if run.meta.prompts_unique:
        prompt += "; unique prompt per request (no prompt-cache flattery)"
    load_text = DASH
    if load:
        levels = ", ".join(f"{float(x):g}" for x in load.get("levels") or [])
        load_text = f"{load.get('mode', '?')} [{levels}]"
        if load.get("requests") is not None:
            load_text += f", {load['requests']} requests per level"
        if load.get("duration_s") is not None:
            load_text += f", {load['duration_s']} s per level"
        load_text += f", {load.get('warmup', 0)} warm-up per level, timeout {load.get('timeout_s', '?')} s"
    return request, prompt, load_text


def _overhead(run: RunView) -> str:
    """The client's own cost and saturation: from the rows when they carry it, else from run.json."""
    parts = []
    m = run.measured
    covered: set[str] = set()
    if len(m):
        prep = percentiles(m["sdk_prep_ms"].to_numpy(dtype="float64", na_value=np.nan), [50, 99])
        if not math.isnan(prep[0]):
            covered.add("sdk_prep_ms")
            parts.append(
                f"client preparation before t0 (`sdk_prep_ms`) p50 {num(prep[0])} ms, p99 {num(prep[1])} ms "
                "(not billed to the provider)"
            )
        lag = percentiles(m["start_lag_ms"].to_numpy(dtype="float64", na_value=np.nan), [50, 99])
        if not math.isnan(lag[0]):
            covered.add("start_lag_ms")
            parts.append(f"start lag (open loop) p50 {num(lag[0])} ms, p99 {num(lag[1])} ms")
    overhead = run.meta.overhead
    for key in sorted(overhead):
        value = overhead[key]
        if any(key.startswith(c) for c in covered) or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key.replace('_', ' ')} {num(value)}")
    return "; ".join(parts) or DASH


def _token_sources(run: RunView) -> str:
    m = run.measured
    sources = m["token_source"].loc[ok_mask(m)]
    if sources.empty:
        return DASH
    counts = sources.astype("object").fillna("none").value_counts()
    return ", ".join(f"{k} {counts[k]:,}" for k in sorted(counts.index))


#: What each client path is, for the method table.
CLIENT_NOTES: dict[str, str] = {
    "fast": "bench's lean HTTP client, the default: no SDK on the hot path, one write per request, stamps per socket read",
    "sdk": "each provider's official SDK, connection pool sized to the level's concurrency: what an application using the SDK sees, the SDK's own cost included",
}


def _clients_by_target(run: RunView) -> dict[str, list[str]]:
    """Which client paths measured each target: from its requests, else from run.json."""
    m = run.measured
    out: dict[str, list[str]] = {}
    if len(m):
        pairs = zip(m["target"].astype("object").tolist(), m["client"].astype("object").tolist(), strict=True)
        for target, client in dict.fromkeys(pairs):
            if isinstance(client, str) and client:
                out.setdefault(str(target), []).append(client)
    if out:
        return {target: sorted(clients, key=lambda c: (c != "fast", c)) for target, clients in out.items()}
    for target in run.scenario.get("targets") or []:
        if isinstance(target, dict) and target.get("label"):
            client = target.get("client")
            out[str(target["label"])] = [str(c) for c in client] if isinstance(client, list) else [str(client)] if client else []
    if not any(out.values()) and run.meta.client:
        return {"": run.meta.client.split(",")}
    return out


def _clients(run: RunView) -> str:
    """Which client measured each target (one line when every target had the same)."""
    by_target = {target: clients for target, clients in _clients_by_target(run).items() if clients}
    if not by_target:
        return DASH
    used = sorted({c for clients in by_target.values() for c in clients}, key=lambda c: (c != "fast", c))
    sets = {tuple(clients) for clients in by_target.values()}
    if len(used) == 1:
        return f"{used[0]} ({CLIENT_NOTES[used[0]]})" if used[0] in CLIENT_NOTES else used[0]
    notes = "; ".join(f"{c} is {CLIENT_NOTES[c]}" if c in CLIENT_NOTES else c for c in used)
    if len(sets) == 1:
        which = " and ".join(next(iter(sets))) + " for every target, one after the other within each load level"
    else:
        which = "; ".join(f"{target}: {' and '.join(clients)}" for target, clients in by_target.items())
    return f"{which} ({notes})"


def _execution(run: RunView) -> str:
    meta = run.meta
    parts = []
    if meta.event_loop:
        parts.append(f"{meta.event_loop} event loop")
    if meta.workers is not None:
        parts.append(f"{meta.workers} worker process{'es' if meta.workers != 1 else ''}")
    if meta.executor:
        parts.append(f"executor {meta.executor}")
    return ", ".join(parts) or DASH


def method_section(data: ReportData) -> list[str]:
    lines = [
        "## Method",
        "",
        "### Definitions",
        "",
        "All latencies come from `time.perf_counter_ns()` on the client; wall-clock time is used only to place "
        "requests in the measured window.",
        "",
        T0_TEXT,
        "",
        "Definitions (every column, with units and sources: `docs/metrics.md` in bench's repository; the "
        "method in full: `docs/method.md`):",
        "",
    ]
    lines += [f"- **{name}**: {text}" for name, text in DEFINITIONS]
    lines += [
        "",
        "### Statistics",
        "",
        "- Warm-up requests are recorded but excluded from every statistic; n counts measured requests only.",
        "- Latency and speed statistics use successful requests; percentiles interpolate linearly between "
        "order statistics (numpy's default).",
        f"- {CONFIDENCE:.0%} confidence intervals of medians are percentile-bootstrap intervals from {N_RESAMPLES:,} seeded "
        "resamples (drawn through the resample's order statistics, which is exactly the ordinary bootstrap). "
        f"A group with more than {MAX_SAMPLES:,} values is first subsampled to {MAX_SAMPLES:,} (seeded, "
        "without replacement), which makes its interval conservative (wider than the full data would give).",
        "- SLO checks pass or fail on the measured value; means get a normal-approximation interval and "
        "error rates a Wilson interval.",
        "",
        "### Runs",
        "",
    ]
    names = [r.label or "this run" for r in data.runs]
    fields: list[tuple[str, list[str]]] = [
        ("run id", [code(r.run_id) for r in data.runs]),
        ("started", [_date(r.meta.started_at) for r in data.runs]),
        ("ended", [_date(r.meta.ended_at) for r in data.runs]),
        ("emulated", ["yes (bench's emulator)" if r.emulated else "no (live providers)" for r in data.runs]),
        ("scenario file", [_scenario_path(r.meta.scenario_path) for r in data.runs]),
        ("fingerprint", [code(r.meta.fingerprint) if r.meta.fingerprint else DASH for r in data.runs]),
        ("client path", [_clients(r) for r in data.runs]),
        ("request", [_settings(r)[0] for r in data.runs]),
        ("prompts", [_settings(r)[1] for r in data.runs]),
        ("load", [_settings(r)[2] for r in data.runs]),
        ("measured requests", [count(len(r.measured)) for r in data.runs]),
        ("warm-up requests (excluded)", [count(r.warmup_rows) for r in data.runs]),
        *(
            [("cancelled by the interruption (excluded)", [count(r.cancelled_rows) for r in data.runs])]
            if any(r.cancelled_rows for r in data.runs)
            else []
        ),
        ("retries observed", [count(int(r.measured["retries"].sum())) if len(r.measured) else "0" for r in data.runs]),
        ("token counts from", [_token_sources(r) for r in data.runs]),
        ("versions", [_versions(r.meta) for r in data.runs]),
        ("host", [_host(r.meta) for r in data.runs]),
        ("git revision", [code(r.meta.git_revision[:12]) if r.meta.git_revision else DASH for r in data.runs]),
        ("client overhead", [_overhead(r) for r in data.runs]),
        *(
            [("event loop, workers, executor", [_execution(r) for r in data.runs])]
            if any(v is not None for r in data.runs for v in (r.meta.event_loop, r.meta.workers, r.meta.executor))
            else []
        ),
    ]
    rows = [[name, *values] for name, values in fields]
    lines += [table(["", *names], rows, ["left"] * (1 + len(names))), ""]
    notes = [r.meta.prompt_note for r in data.runs if r.meta.prompt_note]
    if notes:
        lines += [f"Prompts: {notes[0]}.", ""]
    lines += health_section(data)
    lines += [
        "Regenerate with `bench report RUN_DIR [RUN_DIR …] --out DIR`: every figure is recomputed from the "
        "runs' `requests.jsonl`, so the same runs always give the same report.",
        "",
    ]
    return lines


def render_markdown(data: ReportData, charts: Mapping[str, str]) -> str:
    lines = header(data)
    lines += headline(data, charts)
    lines += run_to_run_section(data)
    lines += cost_section(data)
    lines += slo_section(data)
    lines += load_section(data, charts)
    lines += sdk_cost_section(data)
    lines += over_time_section(data, charts)
    lines += time_section(data, charts)
    lines += errors_section(data)
    lines += method_section(data)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
