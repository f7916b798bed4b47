"""The report's verdicts, as the model holds them: each later run against the first (the CI
gate's verdicts) and each run's SLO verdicts. Formats only; the verdicts are decided in
:mod:`bench.report.analyse_verdicts`."""

from __future__ import annotations

import math

from bench.analysis.metrics import SloVerdict
from bench.gate.compare import ErrorRateChange, MetricChange, Verdict
from bench.gate.prefill_change import PREFILL_METRIC
from bench.report.markdown_headline import EXTRAPOLATED
from bench.report.markdown_words import join
from bench.report.model import RunComparison, RunToRun, SloRun
from bench.report.tables import DASH, ci, code, format_value, heading, num, shape_column, share, table
from bench.schema import label, unit


def _change_cell(change: MetricChange) -> str:
    values = f"{num(change.baseline_p50)} → {num(change.candidate_p50)}"
    if change.verdict in (Verdict.NOT_MEASURED,):
        return DASH
    text = f"{values}: {format_value(change.change, 'change')}"
    if math.isfinite(change.ci_low):
        text += f" [{format_value(change.ci_low, 'change')}, {format_value(change.ci_high, 'change')}]"
    verdict = str(change.verdict)
    return f"{text} · " + (f"**{verdict}**" if change.verdict is Verdict.REGRESSION else verdict)


def _error_cell(change: ErrorRateChange) -> str:
    text = f"{share(change.baseline_rate)} → {share(change.candidate_rate)}: {format_value(change.change, 'points')}"
    verdict = str(change.verdict)
    return f"{text} · " + (f"**{verdict}**" if change.verdict is Verdict.REGRESSION else verdict)


#: How the gate's status opens its line.
STATUS = {"regression": "REGRESSION", "inconclusive": "INCONCLUSIVE", "no regression": "No regression"}
#: At most this many regressions are named in the line (all are bold in the table).
NAMED_REGRESSIONS = 3


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{format_value(n, 'count')} {word if n == 1 else plural or word + 's'}"


def _regression_text(change: MetricChange | ErrorRateChange) -> str:
    if isinstance(change, MetricChange):
        return f"{change.group.label} {heading(change.metric, 'p50', unit=False)} {format_value(change.change, 'change')}"
    return f"{change.group.label} error rate {format_value(change.change, 'points')}"


def gate_line(c: RunComparison) -> str:
    """The gate's verdict, counting exactly the cells and rows of the table under it."""
    kinds = [
        _plural(len(c.regressions), "regression"),
        _plural(c.improvements, "improvement"),
        f"{format_value(c.no_change, 'count')} no change",
    ]
    text = (
        f"**Gate: {STATUS.get(c.status, c.status)}.** Verdicts in this table: {format_value(c.judged, 'count')} judged "
        f"({', '.join(kinds)}), {format_value(c.inconclusive, 'count')} inconclusive (too few samples), over "
        f"{_plural(len(c.rows), 'row')}"
    )
    if c.one_run_rows:
        text += f", of which {_plural(c.one_run_rows, 'is', 'are')} in one run only (not judged)"
    text += "."
    if c.regressions:
        named = "; ".join(_regression_text(r) for r in c.regressions[:NAMED_REGRESSIONS])
        text += f" Regressed: {named}" + (" …" if len(c.regressions) > NAMED_REGRESSIONS else "") + "."
    return text


def _heading(metric: str, short_answers: float | None) -> str:
    """A compared figure's header; the 100-token answer marked † when it was extrapolated."""
    if metric == PREFILL_METRIC:
        return "prefill tokens/s (fit)"
    text = heading(metric, "p50", unit=False)
    return text + EXTRAPOLATED if metric == "response_100_ms" and short_answers is not None else text


def short_answers_note(short_answers: float | None, shown: bool) -> list[str]:
    """The † footnote under a table that shows the 100-token answer of short answers."""
    if short_answers is None or not shown:
        return []
    return [
        f"{EXTRAPOLATED} Extrapolated, not measured: some targets' answers were at most "
        f"{format_value(short_answers, 'count')} tokens long, so their 100-token answer is the first answer token + "
        "100 × the time per output token.",
        "",
    ]


def run_to_run_section(r2r: RunToRun, short_answers: float | None = None) -> list[str]:
    """Each later run against the first, judged by the CI gate's own code (bench.compare)."""
    settings = r2r.settings
    command = "bench compare RUN_1 RUN_N " + " ".join(f"--metric {m}" for m in r2r.metrics)
    lines = [
        "## Run to run",
        "",
        f"Each run against {r2r.base_label} ({code(r2r.base_run_id)}), per target and load level: the median of each headline "
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
    for comparison in r2r.comparisons:
        lines += [f"### {comparison.label.capitalize()} against {r2r.base_label}", ""]
        if comparison.refused is not None:
            lines += [f"The CI gate does not compare these runs: {comparison.refused}.", ""]
            continue
        lines += [gate_line(comparison), ""]
        headers = ["target", "load"] + [_heading(m, short_answers) for m in comparison.metrics] + ["error rate"]
        rows = []
        for row in comparison.rows:
            if row.only_in is not None:
                rows.append([row.target, row.level, *[f"only in {row.only_in} (not judged)"] * (len(headers) - 2)])
                continue
            cells = [_change_cell(c) if c is not None else DASH for c in row.cells]
            error = [_error_cell(row.error) if row.error is not None else DASH]
            rows.append([row.target, row.level, *cells, *error])
        align = ["left", "left"] + ["right"] * (len(headers) - 2)
        lines += [table(*shape_column(headers, rows, align, [r.shape for r in comparison.rows], 1)), ""]
        lines += short_answers_note(short_answers, "response_100_ms" in comparison.metrics)
        for warning in comparison.warnings:
            lines += [f"> ⚠️ {warning}.", ""]
    return lines


def _ms(column: str) -> str:
    """A latency's threshold says its unit; a speed's label (tokens/s) already does."""
    return " ms" if unit(column) == "ms" else ""


def _rule_text(v: SloVerdict) -> str:
    if v.column == "error_rate":
        return f"error rate ≤ {share(v.threshold)}"
    op = "≥" if v.at_least else "≤"
    text = f"{label(v.column)} {v.stat} {op} {num(v.threshold)}{_ms(v.column)}"
    if v.at_least and v.stat not in ("p50", "mean"):
        text += f" ({v.stat.removeprefix('p')}% of requests at least this fast)"
    return text


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


def _per_request_text(rules: tuple[tuple[str, bool, float], ...]) -> str:
    return join(
        [f"{label(column)} {'≥' if at_least else '≤'} {num(threshold)}{_ms(column)}" for column, at_least, threshold in rules]
    )


def slo_section(runs: tuple[SloRun, ...], multi: bool, short_answers: float | None = None) -> list[str]:
    lines = ["## SLO verdicts", ""]
    for run in runs:
        if run.empty:
            if multi:
                lines += [f"{run.label.capitalize()} has no `[slo]` table.", ""]
            continue
        if multi:
            lines += [f"### {run.label.capitalize()} ({code(run.run_id)})", ""]
        if run.headline is not None:
            lines += [
                run.headline + ". Each cell: verdict · measured value [95% CI]. A check passes on its measured "
                "value; the CI shows how firm the verdict is (bootstrap for percentiles, normal for means, Wilson "
                "for error rates).",
                "",
            ]
            rows = []
            for row in run.rows:
                out = [row.target, row.level]
                for column, v in zip(run.columns, row.cells, strict=True):
                    cell = _verdict_cell(v) if v is not None else DASH
                    if v is not None and column.own:
                        bound = share(v.threshold) if v.column == "error_rate" else num(v.threshold)
                        cell += f" ({'≥' if v.at_least else '≤'} {bound})"
                    out.append(cell)
                rows.append(out)
            shaped = any(row.shape for row in run.rows)
            per = ", per target and shape" if shaped else ", per target"
            headers = ["target", "load"] + [
                ("error rate" + per if c.first.column == "error_rate" else f"{label(c.first.column)} {c.first.stat}{per}")
                + f" ({code(c.key)})"
                if c.own
                else f"{_rule_text(c.first)} ({code(c.key)})"
                for c in run.columns
            ]
            short = [c.first.column == "response_100_ms" and short_answers is not None for c in run.columns]
            headers = headers[:2] + [h + EXTRAPOLATED if mark else h for h, mark in zip(headers[2:], short, strict=True)]
            align = ["left", "left"] + ["right"] * len(run.columns)
            lines += [table(*shape_column(headers, rows, align, [r.shape for r in run.rows], 1)), ""]
            if shaped and any(c.own for c in run.columns):
                lines += [
                    "Each cell's bound is its group's: a `[slo.class.NAME]` replaces the scenario's `[slo]` rules for "
                    "the request shapes it covers (see Method).",
                    "",
                ]
            lines += short_answers_note(short_answers, any(short))
        if run.per_request:
            lines += [
                f"Goodput counts the requests that succeeded and met every per-request threshold "
                f"({_per_request_text(run.per_request)}); see Load behaviour.",
                "",
            ]
    return lines
