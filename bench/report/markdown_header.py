"""The report's opening: title, emulator banner (within the first five lines), the warning of a
saturated client, one line per run (scenario, run, date, requests), and what the runs compared
share. Formats :class:`~bench.report.model.ReportModel`; decides nothing."""

from __future__ import annotations

from bench.report.markdown_words import date, join
from bench.report.model import ReportModel, RunFacts, RunsCompared
from bench.report.tables import DASH, code, count, table

#: At most this many findings are repeated in the warning at the top; all are in the method.
TOP_FINDINGS = 4


def title(model: ReportModel) -> list[str]:
    runs = model.runs
    names = list(dict.fromkeys(r.scenario_name for r in runs))
    if model.multi:
        text = f"{names[0]} ({len(runs)} runs)" if len(names) == 1 else join(names)
        return [f"# Benchmark comparison: {text}", ""]
    return [f"# Benchmark report: {names[0]}", ""]


def banner(model: ReportModel) -> list[str]:
    runs = model.runs
    emulated = [r for r in runs if r.emulated]
    if emulated and not model.multi:
        return [
            "> **Emulated run:** every figure below comes from bench's built-in emulator, not from the "
            "real providers. It shows what the harness measures, not how fast any provider is.",
            "",
        ]
    if emulated:
        which = "all runs" if len(emulated) == len(runs) else join([r.label for r in emulated])
        return [
            f"> **Emulated:** {which} ran against bench's built-in emulator; "
            f"{'its' if len(emulated) == 1 else 'their'} figures come from the emulator, not from the real providers.",
            "",
        ]
    return []


def saturation_warning(model: ReportModel) -> list[str]:
    """A warning near the top when the measuring client went over its budget in any run."""
    lines: list[str] = []
    for sat in model.saturation:
        findings = sat.findings
        who = f"In {sat.label}, the" if model.multi else "The"
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


def _request_counts(run: RunFacts) -> str:
    """'130 measured, 3 warm-up (excluded), 4 cancelled by the interruption (excluded)'."""
    text = f"{count(run.measured)} measured"
    if run.warmup:
        text += f", {count(run.warmup)} warm-up (excluded)"
    if run.cancelled:
        text += f", {count(run.cancelled)} cancelled by the interruption (excluded)"
    return text


def run_lines(model: ReportModel) -> list[str]:
    """One line per run, then what a reader must know before any figure: incomplete runs, a
    missing run.json, values the loader set aside."""
    runs = model.runs
    multi = model.multi
    lines: list[str] = []
    for run in runs:
        prefix = f"**{run.label.capitalize()}:** " if multi else ""
        parts = [f"{prefix}**Scenario:** {code(run.scenario_name)}" + (f" — {run.description}" if run.description else "")]
        parts.append(f"**Run:** {code(run.run_id)}")
        parts.append(f"**Date:** {date(run.started_at)}")
        parts.append(f"**Requests:** {_request_counts(run)}")
        lines.append(" · ".join(parts) + ("  " if multi and run is not runs[-1] else ""))
    lines.append("")
    for run in runs:
        if run.stopped_by:
            who = run.label.capitalize() if multi else "This run"
            lines += [
                f"> **Incomplete:** {who} stopped early ({run.stopped_by}); the figures cover the requests recorded before.",
                "",
            ]
        elif run.interrupted:
            who = f"{run.label.capitalize()} was" if multi else "This run was"
            lines += [
                f"> **Incomplete:** {who} interrupted before the end; the figures cover the requests that finished.",
                "",
            ]
    for run in runs:
        if not run.has_run_file:
            who = run.label.capitalize() if multi else "This run"
            known = (
                "it ran against bench's emulator (its scenario.toml says so)"
                if run.emulated_recorded
                else "it ran against real providers (its scenario.toml says so)"
                if run.emulated_recorded is False
                else "bench cannot tell whether it ran against the emulator or against real providers"
            )
            lines += [f"> **No run.json:** {who} has no run.json (killed at its start, or removed); {known}.", ""]
        if run.set_aside is not None:
            who = f"{run.label.capitalize()}: " if multi else ""
            lines += [
                f"> **Values set aside:** {who}{run.set_aside} in {code(run.set_aside_source)}; no figure includes them.",
                "",
            ]
    return lines


def runs_compared(model: ReportModel, compared: RunsCompared) -> list[str]:
    rows = [
        [
            run.label,
            code(run.run_id),
            date(run.started_at),
            run.hostname,
            "yes" if run.emulated else "no",
            code(run.fingerprint or DASH),
            count(run.measured),
        ]
        for run in model.runs
    ]
    if compared.kind == "fingerprints":
        note = (
            "**The scenario fingerprints differ:** the runs did not measure the same request shape, "
            "so a difference below is not only the providers' doing."
        )
    elif compared.kind == "clients":
        which = "; ".join(f"{label}: {', '.join(c) or 'not recorded'}" for label, c in compared.clients)
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
