"""What the requests cost: list-price cost per target (with where the prices came from), and what
the SDK client path adds over the lean one. Formats the model's cost rows and SDK differences."""

from __future__ import annotations

import math

from bench.analysis.bootstrap import CONFIDENCE
from bench.analysis.sdk_cost import Difference
from bench.report.markdown_words import join
from bench.report.model import Cost, SdkCostRun
from bench.report.tables import DASH, code, count, format_value, heading, num, shape_column, table, usd
from bench.schema import LoadLevel

ORIGINS = {
    "scenario": "the scenario's `[target.price]`",
    "catalogue": "bench's model catalogue when the run started",
    "catalogue-today": "bench's model catalogue today (the run recorded no price)",
}


def cost_section(cost: Cost, multi: bool) -> list[str]:
    rows: list[list[str]] = []
    for c in cost.rows:
        base = ([c.run_label] if multi else []) + [c.target]
        speed = num(c.speed)
        if not c.has_price:
            rows.append(base + ["no price", "no price", "no price", "no price", speed, "no price"])
            continue
        rows.append(
            base
            + [
                f"{usd(c.price_input)} / {usd(c.price_output)}",
                usd(c.per_request),
                usd(c.per_request * 1000),
                format_value(c.per_usd, "tokens"),
                speed,
                usd(c.run_total) + f" ({count(c.requests)} requests)",
            ]
        )
    if not rows:
        return []
    headers = (["run"] if multi else []) + [
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
        '"no price", never $0.'
        + (" One row per target and request shape: a longer prompt costs more." if any(c.shape for c in cost.rows) else ""),
        "",
        table(
            *shape_column(
                headers,
                rows,
                ["left"] * (2 if multi else 1) + ["right"] * (len(headers) - (2 if multi else 1)),
                [c.shape for c in cost.rows],
                2 if multi else 1,
            )
        ),
        "",
    ]
    for src in cost.sources:
        lines.append(
            f"- Prices of {join(src.targets)}: {src.source}; read {src.as_of}; from {ORIGINS.get(src.origin, src.origin)}."
        )
    lines += [f"- {join(note.targets)}: {note.text}." for note in cost.notes]
    if cost.sources or cost.notes:
        lines.append("")
    return lines


def _difference_cell(d: Difference | None) -> str:
    """'lean → SDK: +Δ [low, high]', Δ in bold when its interval excludes no difference."""
    if d is None or not (math.isfinite(d.lean) and math.isfinite(d.sdk)):
        return DASH
    change = format_value(d.change, "signed")
    text = f"{num(d.lean)} → {num(d.sdk)}: " + (f"**{change}**" if d.firm else change)
    if math.isfinite(d.ci_low):
        text += f" [{format_value(d.ci_low, 'signed')}, {format_value(d.ci_high, 'signed')}]"
    return text


def sdk_cost_section(per_run: tuple[SdkCostRun, ...], multi: bool) -> list[str]:
    """Targets measured by both client paths: what the SDK path adds, per level (bench.analysis.sdk_cost)."""
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
    for run in per_run:
        if multi:
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
            for c in run.costs
        ]
        lines += [table(headers, rows, ["left", "left"] + ["right"] * (len(headers) - 2)), ""]
        if any(c.cpu_us_per_chunk is None for c in run.costs):
            lines += ["CPU per chunk needs the health sampler's slices of both paths, which this run did not record.", ""]
    return lines
