"""The report's sections past the headline: load behaviour per level, the run over time, where
the time went (server timings, reasoning) and the errors. Formats the model only."""

from __future__ import annotations

from collections.abc import Mapping

from bench.report.markdown_headline import extrapolated_note, response_100
from bench.report.model import ErrorRow, Load, OverTime, ReasoningRow, SplitRow
from bench.report.tables import DASH, code, count, format_value, heading, num, shape_column, share, table


def load_section(load: Load | None, multi: bool, charts: Mapping[str, str]) -> list[str]:
    lines = ["## Load behaviour", ""]
    if load is None:
        return lines + ["No measured requests.", ""]
    goodput, open_loop = load.goodput, load.open_loop
    headers = (["run"] if multi else []) + [
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
    rows = []
    for a in load.rows:
        row = ([a.run_label] if multi else []) + [
            a.target,
            a.level,
            count(a.n),
            num(a.ttft_p50),
            num(a.ttft_p99),
            num(a.e2e_p50),
            num(a.e2e_p99),
            num(a.tps_p50),
            num(a.itl_p99),
            num(a.agg_tps),
            format_value(a.rps, "req/s"),
        ]
        if goodput:
            row += [format_value(a.goodput_rps, "req/s"), share(a.goodput_share)]
        row += [share(a.error_rate)]
        if open_loop:
            row += [num(a.start_lag_p99)]
            rate = a.rate
            row += [f"{rate.offered:g}", num(rate.achieved) + (" ⚠️" if rate.short else "")] if rate else [DASH, DASH]
        rows.append(row)
    align = ["left"] * (3 if multi else 2) + ["right"] * (len(headers) - (3 if multi else 2))
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
        table(*shape_column(headers, rows, align, [a.shape for a in load.rows], 2 if multi else 1)),
        "",
    ]
    for rate in load.short:
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


def over_time_section(over_time: OverTime | None, charts: Mapping[str, str]) -> list[str]:
    """First token and output speed per request over the run's time: warm-up, throttling, drift."""
    if "over_time" not in charts or over_time is None:
        return []
    sample = (
        f" The chart draws {count(over_time.shown)} of the {count(over_time.total)} successful measured requests as dots (a seeded "
        "random sample of each target); the median line uses every request."
        if over_time.shown < over_time.total
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


def time_section(
    splits: tuple[SplitRow, ...], reasoning: tuple[ReasoningRow, ...], multi: bool, charts: Mapping[str, str]
) -> list[str]:
    lines = ["## Where the time went", ""]
    if not splits and not reasoning:
        return lines + [
            "No target reported server-side timings, and no target streamed reasoning before its answer, "
            "so a request's time cannot be split further than the tables above.",
            "",
        ]
    lead = 2 if multi else 1
    if splits:
        rows = [
            ([sp.run_label] if multi else [])
            + [
                sp.target,
                count(sp.n),
                num(sp.queue),
                num(sp.prompt),
                num(sp.completion),
                num(sp.rest),
                num(sp.e2e),
                num(sp.server_tps),
                num(sp.client_tps),
            ]
            for sp in splits
        ]
        headers = (["run"] if multi else []) + [
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
            table(
                *shape_column(
                    headers, rows, ["left"] * lead + ["right"] * (len(headers) - lead), [sp.shape for sp in splits], lead
                )
            ),
            "",
        ]
        if "time_split" in charts:
            lines += [f"![Where the time went]({charts['time_split']})", ""]
    if reasoning:
        rows = [
            ([r.run_label] if multi else [])
            + [
                r.target,
                num(r.ttft_p50),
                num(r.ttfa_p50),
                num(r.thinking_p50),
                num(r.reasoning_tokens_p50),
                response_100(r),
            ]
            for r in reasoning
        ]
        headers = (["run"] if multi else []) + [
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
            table(
                *shape_column(
                    headers, rows, ["left"] * lead + ["right"] * (len(headers) - lead), [r.shape for r in reasoning], lead
                )
            ),
            "",
            *extrapolated_note(reasoning),
        ]
    return lines


def errors_section(errors: tuple[ErrorRow, ...], warm_failed: int, multi: bool) -> list[str]:
    lines = ["## Errors", ""]
    rows = [
        ([e.run_label] if multi else [])
        + [
            e.target,
            code(e.kind),
            count(e.count),
            share(e.share),
            ", ".join(str(x) for x in e.statuses) or DASH,
            e.example if e.example is not None else DASH,
        ]
        for e in errors
    ]
    if rows:
        headers = (["run"] if multi else []) + [
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
            table(
                *shape_column(
                    headers,
                    rows,
                    ["left"] * (3 if multi else 2) + ["right", "right", "left", "left"],
                    [e.shape for e in errors],
                    2 if multi else 1,
                )
            ),
            "",
        ]
    else:
        lines += ["No measured request failed.", ""]
    if warm_failed:
        lines += [f"{count(warm_failed)} warm-up request{'s' if warm_failed != 1 else ''} also failed (excluded above).", ""]
    return lines
