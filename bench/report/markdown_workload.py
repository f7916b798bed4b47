"""The report's "Prompt length, cache and turns" section: what the workload's shape did.
Formats :class:`~bench.report.model.WorkloadRun` (docs/metrics.md, "prefill fit")."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bench.fmt import target_name
from bench.report.model import WorkloadRun
from bench.report.tables import DASH, count, num, shape_column, share, table
from bench.schema import LoadLevel


def _ci(low: float, high: float) -> str:
    if not (math.isfinite(low) or math.isinf(high)):
        return ""
    return f" [{num(low)}–{'∞' if math.isinf(high) else num(high)}]"


def _cached(value: float) -> str:
    return share(value) if math.isfinite(value) else "not reported"


def workload_section(runs: tuple[WorkloadRun, ...], multi: bool, charts: Mapping[str, str]) -> list[str]:
    """Nothing when no run drew lengths, used a cache, held conversations or asked lengths."""
    if not runs:
        return []
    lines = ["## Prompt length, cache and turns", ""]
    if "prefill" in charts:
        lines += [f"![First-token time against prompt length]({charts['prefill']})", ""]
    for run in runs:
        if multi:
            lines += [f"**{run.label}**", ""]
        if run.prefill:
            by_cache = any(f.cache for f in run.prefill)
            lines += [
                "First-token time against the provider's input-token count, fitted as a straight line per "
                "target and level: a fixed cost (network, queueing: the part that does not grow with the "
                "prompt) plus prefill at the fitted speed, each with its pairs-bootstrap 95% interval. "
                + (
                    "Every rung of the prompt ladder is pooled into one line; cold and warm requests are fitted "
                    "apart, never together: the cold line keeps only requests whose whole prompt was prefilled, "
                    "the warm line keeps its cache hits (the line of a prompt whose shared prefix was cached). "
                    "Later conversation turns are left out of both."
                    if by_cache
                    else "Requests served partly from a prompt cache and later conversation turns are left out of the fit."
                ),
                "",
            ]
            rows = [
                [
                    target_name(f.target, f.client),
                    *([f.cache] if by_cache else []),
                    LoadLevel.of(f.load_mode, f.load_level).text,
                    count(f.n),
                    f"{num(f.tokens_min)}–{num(f.tokens_max)}",
                    (num(f.fixed_ms) + _ci(*f.fixed_ms_ci)) if f.fitted else DASH,
                    (num(f.prefill_tokens_per_s) + _ci(*f.prefill_tokens_per_s_ci)) if f.fitted else f.reason,
                ]
                for f in run.prefill
            ]
            headers = ["target", "load", "n", "input tokens", "fixed cost (ms) [95% CI]", "prefill tokens/s [95% CI]"]
            if by_cache:
                headers.insert(1, "cache")
            lines += [
                table(headers, rows, ["left"] * (2 if by_cache else 1) + ["right"] * (len(headers) - (2 if by_cache else 1))),
                "",
            ]
        if run.cold_warm:
            lines += [
                "Cold against warm first-token time at each prompt length: the median of each rung's cold requests "
                "and of its warm ones (every turn), warm ÷ cold (below 1.00×: the cache made the first token "
                "sooner), and the share of input tokens the provider reported serving from its cache.",
                "",
            ]
            rows = [
                [
                    target_name(c.target, c.client),
                    c.rung or DASH,
                    LoadLevel.of(c.load_mode, c.load_level).text,
                    f"{count(c.n_cold)} / {count(c.n_warm)}",
                    num(c.cold_ttft_ms_p50),
                    num(c.warm_ttft_ms_p50),
                    f"{c.ratio:.2f}×" if math.isfinite(c.ratio) else DASH,
                    _cached(c.cold_cached_share),
                    _cached(c.warm_cached_share),
                ]
                for c in run.cold_warm
            ]
            headers = [
                "target",
                "rung",
                "load",
                "n (cold / warm)",
                "cold first token p50 (ms)",
                "warm first token p50 (ms)",
                "warm ÷ cold",
                "cold: input from cache",
                "warm: input from cache",
            ]
            lines += [table(headers, rows, ["left", "left", "left"] + ["right"] * 6), ""]
        if run.cache:
            lines += [
                "Prompt cache, as each provider's usage reported it (cached input tokens are billed at the cached-input rate):",
                "",
            ]
            by_cache = any(c.cache for c in run.cache)
            rows = [
                [
                    target_name(c.target, c.client),
                    *([c.cache] if by_cache else []),
                    LoadLevel.of(c.load_mode, c.load_level).text,
                    count(c.n),
                    f"{count(c.hits)} of {count(c.n)}",
                    share(c.cached_share),
                    num(c.ttft_ms_p50),
                ]
                for c in run.cache
            ]
            headers = ["target", "load", "n", "requests with cached input", "input served from cache", "first token p50 (ms)"]
            if by_cache:
                headers.insert(1, "cache")
            lines += [table(headers, rows), ""]
        if run.turns:
            lines += ["By conversation turn (each turn sends the whole history so far):", ""]
            rows = [
                [
                    target_name(t.target, t.client),
                    LoadLevel.of(t.load_mode, t.load_level).text,
                    str(t.turn),
                    count(t.n),
                    num(t.input_tokens_p50),
                    share(t.cached_share) if math.isfinite(t.cached_share) else "not reported",
                    num(t.ttft_ms_p50),
                ]
                for t in run.turns
            ]
            headers = ["target", "load", "turn", "n", "input tokens p50", "served from cache", "first token p50 (ms)"]
            align = ["left"] + ["right"] * (len(headers) - 1)
            lines += [table(*shape_column(headers, rows, align, [t.shape for t in run.turns], 1)), ""]
        if run.tokens:
            lines += [
                "Prompt lengths asked for against the provider's own count of the same text (providers "
                "tokenise differently; bench's synthetic words are about one token each):",
                "",
            ]
            rows = [
                [target_name(t.target, t.client), count(t.n), num(t.asked_p50), num(t.counted_p50), f"{t.ratio_p50:.2f}×"]
                for t in run.tokens
            ]
            headers = ["target", "n", "asked p50", "counted p50", "counted ÷ asked p50"]
            align = ["left"] + ["right"] * (len(headers) - 1)
            lines += [table(*shape_column(headers, rows, align, [t.rung for t in run.tokens], 1)), ""]
    return lines
