"""The report's Method: definitions, statistics, the facts of each run, and the client's health.
Formats :class:`~bench.report.model.MethodRun` and :class:`~bench.report.model.HealthRun`."""

from __future__ import annotations

from bench.analysis.bootstrap import CONFIDENCE, MAX_SAMPLES, N_RESAMPLES
from bench.fmt import target_name
from bench.report.markdown_words import date
from bench.report.model import HealthRun, MethodRun, Overhead
from bench.report.tables import DASH, code, count, format_value, num, table
from bench.results.health import LevelHealth
from bench.schema import LoadLevel

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


def _scenario_file(r: MethodRun) -> str:
    if r.scenario_from_flags:
        return "none: given as command-line flags (the run directory keeps it as `scenario.toml`)"
    return code(r.scenario_path) if r.scenario_path else DASH


def _overhead(o: Overhead) -> str:
    parts = []
    if o.prep is not None:
        parts.append(
            f"client preparation before t0 (`sdk_prep_ms`) p50 {num(o.prep[0])} ms, p99 {num(o.prep[1])} ms "
            "(not billed to the provider)"
        )
    if o.start_lag is not None:
        parts.append(f"start lag (open loop) p50 {num(o.start_lag[0])} ms, p99 {num(o.start_lag[1])} ms")
    parts += [f"{key.replace('_', ' ')} {num(value)}" for key, value in o.extras]
    return "; ".join(parts) or DASH


def _health_rows(levels: tuple[LevelHealth, ...], workers: bool) -> list[list[str]]:
    rows = []
    shaped = any(level.shape for level in levels)
    for level in levels:
        rows.append(
            [target_name(level.target, level.client)]
            + ([level.shape] if shaped else [])
            + [LoadLevel.of(level.load_mode, float(level.load_level)).text]
            + ([str(level.worker)] if workers else [])
            + [
                format_value(level.cpu_util, "cores"),
                num(level.loop_lag_ms_p99),
                num(level.chunks_per_s),
                num(level.kb_per_stream),
                num(level.rss_peak_mb),
                f"{level.fds_start} → {level.fds_end}" if level.fds_start >= 0 else DASH,
            ]
        )
    return rows


def health_section(health: tuple[HealthRun, ...], multi: bool) -> list[str]:
    """Method → Client health: each level's sample, the budget, the verdict, the calibration."""
    if not health:
        return []
    lines = [
        "### Client health",
        "",
        "While each level ran, the measuring process sampled itself: CPU (1.00 is one full core), "
        "event-loop lag (how late a ready socket read was handled, which makes receive times late), chunks "
        "handled per second, and memory per concurrent stream. Over budget, the client rather than the "
        "provider may be what the figures describe.",
        "",
    ]
    for run in health:
        if multi:
            lines += [f"**{run.label.capitalize()}** ({code(run.run_id)}):", ""]
        if run.levels is not None and run.budget is not None:
            budget = run.budget
            if run.levels:
                workers = len({level.worker for level in run.levels}) > 1
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
                if any(level.shape for level in run.levels):
                    headers, align = [headers[0], "shape", *headers[1:]], ["left", *align]
                lines += [table(headers, _health_rows(run.levels, workers), align), ""]
            if run.findings:
                lines += [
                    f"**Saturated** (budget: CPU below {budget.cpu_util:g} of a core, event-loop lag p99 at most "
                    f"{budget.loop_lag_p99_ms:g} ms, open-loop start lag p99 at most {budget.start_lag_p99_ms:g} ms):",
                    "",
                ]
                lines += [f"- {f}" for f in run.findings]
                lines.append("")
            elif run.verdict is not None:
                lines += [run.verdict, ""]
        if run.calibration_note is not None:
            when = f" ({date(run.calibration_date)})" if run.calibration_date else ""
            lines += [f"Calibration{when}: {run.calibration_note}.", ""]
    return lines


def method_section(runs: tuple[MethodRun, ...], health: tuple[HealthRun, ...], multi: bool) -> list[str]:
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
    fields: list[tuple[str, list[str]]] = [
        ("run id", [code(r.run_id) for r in runs]),
        ("started", [date(r.started_at) for r in runs]),
        ("ended", [date(r.ended_at) for r in runs]),
        ("emulated", ["yes (bench's emulator)" if r.emulated else "no (live providers)" for r in runs]),
        ("scenario file", [_scenario_file(r) for r in runs]),
        ("fingerprint", [code(r.fingerprint) if r.fingerprint else DASH for r in runs]),
        ("client path", [r.clients for r in runs]),
        ("request", [r.request for r in runs]),
        ("prompts", [r.prompts for r in runs]),
        ("load", [r.load for r in runs]),
        *([("SLO classes", [r.slo_classes or DASH for r in runs])] if any(r.slo_classes for r in runs) else []),
        ("measured requests", [count(r.measured) for r in runs]),
        ("warm-up requests (excluded)", [count(r.warmup) for r in runs]),
        *(
            [("cancelled by the interruption (excluded)", [count(r.cancelled) for r in runs])]
            if any(r.cancelled for r in runs)
            else []
        ),
        ("retries observed", [count(r.retries) for r in runs]),
        ("token counts from", [", ".join(f"{k} {count(n)}" for k, n in r.token_sources) or DASH for r in runs]),
        ("versions", [r.versions for r in runs]),
        ("host", [r.host for r in runs]),
        ("git revision", [code(r.git_revision[:12]) if r.git_revision else DASH for r in runs]),
        ("client overhead", [_overhead(r.overhead) for r in runs]),
        *(
            [("event loop, workers, executor", [r.execution or DASH for r in runs])]
            if any(r.execution is not None for r in runs)
            else []
        ),
    ]
    rows = [[name, *values] for name, values in fields]
    lines += [table(["", *[r.name for r in runs]], rows, ["left"] * (1 + len(runs))), ""]
    notes = [r.prompt_note for r in runs if r.prompt_note]
    if notes:
        lines += [f"Prompts: {notes[0]}.", ""]
    lines += health_section(health, multi)
    lines += [
        "Regenerate with `bench report RUN_DIR [RUN_DIR …] --out DIR`: every figure is recomputed from the "
        "runs' `requests.jsonl`, so the same runs always give the same report.",
        "",
    ]
    return lines
