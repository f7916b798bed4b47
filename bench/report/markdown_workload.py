"""The report's "Prompt length, cache and turns" section: what the workload's shape did.
Formats :class:`~bench.report.model.WorkloadRun` (docs/metrics.md, "prefill fit")."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bench.fmt import target_name
from bench.report.model import WorkloadRun
from bench.report.tables import DASH, count, num, share, table
from bench.schema import LoadLevel


def _ci(low: float, high: float) -> str:
    if not (math.isfinite(low) or math.isinf(high)):
        return ""
    return f" [{num(low)}–{'∞' if math.isinf(high) else num(high)}]"


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
            lines += [
                "First-token time against the provider's input-token count, fitted as a straight line per "
                "target and level: a fixed cost (network, queueing: the part that does not grow with the "
                "prompt) plus prefill at the fitted speed, each with its pairs-bootstrap 95% interval. Requests "
                "served partly from a prompt cache and later conversation turns are left out of the fit.",
                "",
            ]
            rows = [
                [
                    target_name(f.target, f.client),
                    LoadLevel.of(f.load_mode, f.load_level).text,
                    count(f.n),
                    f"{num(f.tokens_min)}–{num(f.tokens_max)}",
                    (num(f.fixed_ms) + _ci(*f.fixed_ms_ci)) if f.fitted else DASH,
                    (num(f.prefill_tokens_per_s) + _ci(*f.prefill_tokens_per_s_ci)) if f.fitted else f.reason,
                ]
                for f in run.prefill
            ]
            lines += [
                table(["target", "load", "n", "input tokens", "fixed cost (ms) [95% CI]", "prefill tokens/s [95% CI]"], rows),
                "",
            ]
        if run.cache:
            lines += [
                "Prompt cache, as each provider's usage reported it (cached input tokens are billed at the cached-input rate):",
                "",
            ]
            rows = [
                [
                    target_name(c.target, c.client),
                    LoadLevel.of(c.load_mode, c.load_level).text,
                    count(c.n),
                    f"{count(c.hits)} of {count(c.n)}",
                    share(c.cached_share),
                    num(c.ttft_ms_p50),
                ]
                for c in run.cache
            ]
            lines += [
                table(
                    ["target", "load", "n", "requests with cached input", "input served from cache", "first token p50 (ms)"], rows
                ),
                "",
            ]
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
            lines += [
                table(["target", "load", "turn", "n", "input tokens p50", "served from cache", "first token p50 (ms)"], rows),
                "",
            ]
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
            lines += [table(["target", "n", "asked p50", "counted p50", "counted ÷ asked p50"], rows), ""]
    return lines
