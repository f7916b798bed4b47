"""The report's Headline: each target at its headline (lowest) load level, medians with their
CIs, and the published reference figures when the scenario asked for them. Formats the model."""

from __future__ import annotations

from collections.abc import Mapping

from bench.report.model import Headline, HeadlineRow, ReasoningRow
from bench.report.tables import DASH, format_value, heading, share, table, with_ci

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

#: Marks a figure computed past what was measured (the 100-token answer of short answers).
EXTRAPOLATED = "†"


def level_note(level: str | None) -> str:
    return f"At {level}, the lowest load level" if level is not None else "At each target's lowest load level"


def reference_section(reference: str | None) -> list[str]:
    """The published reference table, only when a scenario asked for it by name."""
    if reference is None or reference not in REFERENCES:
        return []
    title, note, rows = REFERENCES[reference]
    return [
        f"### {title}",
        "",
        note,
        "",
        table(["provider (model)", "first token", "tokens/s", "100-token answer"], [list(r) for r in rows]),
        "",
    ]


def response_100(row: HeadlineRow | ReasoningRow) -> str:
    """The 100-token answer p50, marked when it is extrapolated rather than measured."""
    text = format_value(row.response_100_p50, "ms")
    return text + EXTRAPOLATED if row.response_100_longest is not None and text != DASH else text


def extrapolated_note(rows: tuple[HeadlineRow, ...] | tuple[ReasoningRow, ...]) -> list[str]:
    """The footnote of the † mark, when a row carries it: how long the answers really were."""
    marked = [r for r in rows if r.response_100_longest is not None and format_value(r.response_100_p50, "ms") != DASH]
    if not marked:
        return []
    longest = format_value(max(r.response_100_longest or 0.0 for r in marked), "count")
    whose = "the answers were" if len(marked) == len(rows) else f"the answers of the targets marked {EXTRAPOLATED} were"
    return [
        f"{EXTRAPOLATED} Extrapolated, not measured: {whose} at most {longest} tokens long, so the 100-token answer is "
        "the first answer token + 100 × the time per output token.",
        "",
    ]


def headline_section(head: Headline, multi: bool, charts: Mapping[str, str]) -> list[str]:
    lines = ["## Headline", ""]
    if not head.rows:
        return lines + ["No measured requests: there is nothing to summarise.", ""]
    streaming, whole, reasoning, show_model = head.streaming, head.whole, head.reasoning, head.show_model
    shaped = head.shaped
    headers = (["run"] if multi else []) + ["target"] + (["model"] if show_model else []) + (["shape"] if shaped else [])
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
    for h in head.rows:
        row = ([h.run_label] if multi else []) + [h.target] + ([h.model] if show_model else []) + ([h.shape] if shaped else [])
        if streaming:
            row += [with_ci(h.ttft_p50, h.ttft_p50_low, h.ttft_p50_high), format_value(h.ttft_p90, "ms")]
            if reasoning:
                row += [format_value(h.ttfa_p50, "ms")]
            row += [
                with_ci(h.tps_p50, h.tps_p50_low, h.tps_p50_high),
                format_value(h.tps_p10, "tokens/s"),
                response_100(h),
                format_value(h.e2e_p50, "ms"),
            ]
        else:
            row += [with_ci(h.e2e_p50, h.e2e_p50_low, h.e2e_p50_high), format_value(h.e2e_p90, "ms")]
        if whole:
            row += [format_value(h.e2e_tps_p50, "tokens/s") if not h.streamed else DASH]
        row += [share(h.error_rate), format_value(h.n, "count")]
        rows.append(row)
    align = ["left"] * ((2 if multi else 1) + (1 if show_model else 0) + (1 if shaped else 0))
    align += ["right"] * (len(headers) - len(align))
    if streaming:
        note = (
            level_note(head.level)
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
            level_note(head.level)
            + ". The requests did not stream, so there is no first-token or streaming-speed figure: end-to-end "
            "time covers the whole response, and end-to-end tokens/s is output tokens ÷ end-to-end time "
            "(prompt processing included). Medians with bootstrap 95% confidence intervals in brackets. "
            "Latency and speed figures cover successful requests; error rate and n cover all measured requests."
        )
    if shaped:
        note += (
            " One row per target and request shape (a prompt-length rung, a cache state, a length bin: each ran as a "
            "group of its own), targets in the scenario's order, shapes from the shortest prompt up, cold before warm."
        )
    lines += [note, "", table(headers, rows, align), ""]
    if streaming:
        lines += extrapolated_note(head.rows)
    lines += reference_section(head.reference)
    if head.chart_shape and any(key in charts for key in ("ttft", "output_tps", "response_100")):
        lines += [
            f"The charts below draw each target at one request shape only, `{head.chart_shape}`: a distribution "
            "pooled over shapes would mix them.",
            "",
        ]
    for key, alt in (
        ("ttft", "Time to first token per target"),
        ("output_tps", "Output tokens/s per target"),
        ("response_100", "Time to a 100-token answer per target"),
    ):
        if key in charts:
            lines += [f"![{alt}]({charts[key]})", ""]
    return lines
