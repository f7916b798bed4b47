"""The gate's verdicts as text, Markdown (a PR comment) and JSON: ``bench compare`` and ``bench check``."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Final, Literal

from tabulate import tabulate

from bench import schema
from bench.analysis.metrics import SloOutcome, SloVerdict
from bench.fmt import json_safe
from bench.gate.compare import (
    Comparison,
    ErrorRateChange,
    MetricChange,
    Verdict,
    change_text,
    magnitude,
)

Format = Literal["text", "md", "json"]
FORMATS: Final[tuple[str, ...]] = ("text", "md", "json")

_MARK: Final[dict[Verdict, str]] = {
    Verdict.REGRESSION: "🔴 regression",
    Verdict.IMPROVEMENT: "🟢 improvement",
    Verdict.NO_CHANGE: "no change",
    Verdict.INSUFFICIENT: "⚠️ too few samples",
    Verdict.NOT_MEASURED: "n/a",
}


def _fmt(value: float, metric: str) -> str:
    if not math.isfinite(value):
        return "—"
    unit = f" {schema.unit(metric)}".rstrip()
    return f"{value:,.1f}{unit}" if abs(value) < 1000 else f"{value:,.0f}{unit}"


def _rows(comparison: Comparison) -> list[dict[str, str]]:
    """Table rows, largest changes first (regressions before everything else)."""
    rows: list[MetricChange | ErrorRateChange] = [*comparison.metrics, *comparison.errors]
    rows.sort(key=lambda r: (r.verdict is not Verdict.REGRESSION, -magnitude(r)))
    out = []
    for r in rows:
        if isinstance(r, ErrorRateChange):
            if r.verdict is Verdict.NO_CHANGE and r.baseline_errors == r.candidate_errors == 0:
                continue  # nothing failed anywhere: not worth a line
            base = f"{r.baseline_errors}/{r.baseline_n} ({r.baseline_rate:.1%})"
            cand = f"{r.candidate_errors}/{r.candidate_n} ({r.candidate_rate:.1%})"
            if r.candidate_error_kinds:
                cand += " " + ", ".join(f"{k}×{v}" for k, v in r.candidate_error_kinds.items())
        else:
            base = f"{_fmt(r.baseline_p50, r.metric)} (n={r.n_baseline})"
            cand = f"{_fmt(r.candidate_p50, r.metric)} (n={r.n_candidate})"
        out.append(
            {
                "target @ load": r.group.label,
                "metric": "error rate" if isinstance(r, ErrorRateChange) else f"{r.metric} p50",
                "baseline": base,
                "candidate": cand,
                "change [CI]": change_text(r),
                "verdict": str(r.verdict),
            }
        )
    for key in comparison.only_in_baseline:
        out.append(
            {
                "target @ load": key.label,
                "metric": "—",
                "baseline": "present",
                "candidate": "missing",
                "change [CI]": "—",
                "verdict": str(Verdict.BASELINE_ONLY),
            }
        )
    for key in comparison.only_in_candidate:
        out.append(
            {
                "target @ load": key.label,
                "metric": "—",
                "baseline": "missing",
                "candidate": "present",
                "change [CI]": "—",
                "verdict": str(Verdict.CANDIDATE_ONLY),
            }
        )
    return out


def _method(comparison: Comparison) -> str:
    s = comparison.settings
    m = comparison.family_size
    # The count here is the Bonferroni family (metric tests that had the samples), not the
    # verdict line's judged total, which also counts error rates: say which it is.
    return (
        f"Regression = median worse by more than {s.threshold:.0%} *and* the {s.confidence:.0%} simultaneous CI "
        f"of the ratio of medians excludes no change (simultaneous over the {m} metric test{'' if m == 1 else 's'} "
        f"with enough samples; bootstrap widened for serial correlation); error rate: +{s.error_threshold * 100:.0f} pts "
        f"and one-sided Fisher tests (pooled, then per group), {len(comparison.errors)} group{'' if len(comparison.errors) == 1 else 's'}; "
        f"at least {s.min_samples} successful requests a side."
    )


def render_text(comparison: Comparison) -> str:

    lines = [comparison.headline, f"baseline:  {comparison.baseline.label}", f"candidate: {comparison.candidate.label}", ""]
    rows = _rows(comparison)
    lines.append(tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True) if rows else "(no rows)")
    lines.append("")
    lines.extend(f"warning: {w}" for w in comparison.warnings)
    lines.append(_method(comparison))
    return "\n".join(lines) + "\n"


def render_markdown(comparison: Comparison) -> str:
    """A compact PR comment: one-line verdict on top, then the table, largest changes first."""

    icon = {"regression": "🔴", "inconclusive": "⚠️"}.get(comparison.status, "✅")
    lines = [f"{icon} **{comparison.headline}**", ""]
    emulated = comparison.candidate.emulated or comparison.baseline.emulated
    lines.append(
        f"Baseline: {comparison.baseline.label} · Candidate: {comparison.candidate.label}"
        + (" · *emulated (not a provider measurement)*" if emulated else "")
    )
    lines.append("")
    rows = [{**r, "verdict": _MARK.get(Verdict(r["verdict"]), r["verdict"])} for r in _rows(comparison)]
    if rows:
        lines.append(tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True))
        lines.append("")
    lines.extend(f"> ⚠️ {w}" for w in comparison.warnings)
    if comparison.warnings:
        lines.append("")
    lines.append(f"<sub>{_method(comparison)}</sub>")
    return "\n".join(lines) + "\n"


def render_json(comparison: Comparison) -> str:
    return json.dumps(comparison.to_dict(), indent=2, sort_keys=False) + "\n"


def render(comparison: Comparison, fmt: Format) -> str:
    if fmt == "md":
        return render_markdown(comparison)
    if fmt == "json":
        return render_json(comparison)
    return render_text(comparison)


# --------------------------------------------------------------------------- bench check


def _slo_rows(verdicts: list[SloVerdict]) -> list[dict[str, str]]:
    rows = []
    for v in verdicts:
        bound = "≥" if v.at_least else "≤"
        if v.column == "error_rate":
            measured = f"{v.measured:.1%}"
            ci = f"[{v.ci_low:.1%}, {v.ci_high:.1%}]"
            threshold = f"{bound} {v.threshold:.1%}"
        else:
            measured = f"{v.measured:,.1f}" if math.isfinite(v.measured) else "—"
            ci = f"[{v.ci_low:,.1f}, {v.ci_high:,.1f}]" if math.isfinite(v.ci_low) else "—"
            threshold = f"{bound} {v.threshold:g}"
        verdict = {True: "pass", False: "FAIL", None: "no data"}[v.passed]
        if v.passed is None and v.reason:
            verdict += f" ({v.reason})"
        rows.append(
            {
                "target @ load": v.group.label,
                "slo": v.key,
                "measured": measured,
                "95% CI": ci,
                "threshold": threshold,
                "verdict": verdict,
            }
        )
    return rows


def render_check(run_label: str, outcome: SloOutcome, fmt: str) -> tuple[str, str]:
    """``bench check``'s report of one run's SLO verdicts, and its headline."""

    verdicts = list(outcome.verdicts)
    headline = outcome.headline
    if fmt == "json":
        data = {
            "run": run_label,
            "headline": headline,
            "status": outcome.status,
            "passed": not outcome.failed,
            "without_data": len(outcome.no_data),
            "verdicts": [json_safe(asdict(v)) for v in verdicts],
        }
        return json.dumps(data, indent=2) + "\n", headline
    rows = _slo_rows(verdicts)
    if fmt == "md":
        icon = {"failed": "🔴", "met": "✅"}.get(outcome.status, "⚠️")
        body = tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True)
        return f"{icon} **{headline}**\n\n{run_label}\n\n{body}\n", headline
    body = tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True)
    return f"{headline}\n{run_label}\n\n{body}\n", headline
