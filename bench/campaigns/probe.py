"""One probe of a capacity search: a target at one load level, run for real and judged by its SLOs.

Each probe is a real run of one target at one level through :func:`bench.run.runner.run_scenario`
(the scenario's requests, warm-up, timeout and client), kept as its own run directory. A probe
passes when every SLO check was judged and met, by the project's one SLO code path
(:func:`bench.analysis.metrics.judge_slos` with :func:`bench.scenario.slo.slo_for_scenario`, ``[target.slo]``
included); it fails when any check failed. A probe with a check that could not be judged (no
data, no successful request) is *inconclusive*: never read as a pass, and the search of that
target stops there and says so. The answer assumes latency grows with load (monotone); a noisy
service can pass a level above one it failed, and the probe table shows every figure.

The search that chooses the levels is ``bench.campaigns.search``; this module runs and judges
one (docs/architecture.md, ``campaigns/``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from bench.analysis.metrics import SloVerdict, aggregate, judge_slos
from bench.run.runner import run_scenario
from bench.run.stop_signals import StopSignals
from bench.scenario.model import Scenario
from bench.scenario.slo import slo_for_scenario

Mode = Literal["concurrency", "rate"]
Verdict = Literal["pass", "fail", "inconclusive", "interrupted"]
#: Where a sweep keeps its probes' run directories.
RUNS_DIR: Final = "runs"


@dataclass(frozen=True)
class Probe:
    """One level run for one target: its figures, its SLO checks and its verdict."""

    target: str
    mode: Mode
    level: float
    order: int
    run_id: str
    run_dir: str  # relative to the sweep directory
    n: int
    ok: int
    errors: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    output_tps_p50: float
    agg_output_tps: float
    checks: tuple[SloVerdict, ...]
    verdict: Verdict
    elapsed_s: float = math.nan
    #: With request shapes (a ladder, both cache states), the shape whose figures are shown:
    #: the slowest at first token (p99); ``n`` and ``errors`` count every shape.
    shape: str = ""

    @property
    def failed(self) -> list[SloVerdict]:
        return [c for c in self.checks if c.passed is False]

    @property
    def unjudged(self) -> list[SloVerdict]:
        return [c for c in self.checks if c.passed is None]

    @property
    def why(self) -> str:
        """What decided the verdict: the failed checks, the unjudged ones, or the worst margin."""
        if self.verdict == "interrupted":
            return "interrupted"
        if self.verdict == "fail":
            return "; ".join(map(_said, self.failed))
        if self.verdict == "inconclusive":
            if not self.checks:
                return "no measured requests"
            return "; ".join(map(_said, self.unjudged))
        return "; ".join(map(_said, self.checks))


def _said(check: SloVerdict) -> str:
    """A check as a probe states it: with its request shape when there are several."""
    return f"{check.shape}: {check.text}" if check.shape else check.text


def verdict_of(checks: tuple[SloVerdict, ...], interrupted: bool) -> Verdict:
    """Any failed check fails the probe; otherwise any unjudged check (or none at all) leaves
    it inconclusive; only a probe whose every check was judged and met passes."""
    if interrupted:
        return "interrupted"
    if any(c.passed is False for c in checks):
        return "fail"
    if not checks or any(c.passed is None for c in checks):
        return "inconclusive"
    return "pass"


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def run_probe(
    scenario: Scenario,
    target: str,
    mode: Mode,
    level: float,
    *,
    order: int,
    sweep_dir: Path,
    emulate: bool,
    client: str | None,
    requests: int | None,
    warn: Callable[[str], None] | None = None,
    stop_signals: StopSignals | None = None,
) -> Probe:
    """One target at one level, a real run under ``sweep_dir/runs``, judged by ``judge_slos``."""

    levels: dict[str, Any] = {"concurrency": [int(level)]} if mode == "concurrency" else {"rate": [float(level)]}
    started = time.perf_counter()
    result = run_scenario(
        scenario, out=sweep_dir / RUNS_DIR, emulate=emulate, targets=[target], client=client, requests=requests,
        quiet=True, warn=warn, stop_signals=stop_signals, **levels,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    frame = result.frame
    spec = slo_for_scenario(result.meta.scenario)
    checks: tuple[SloVerdict, ...] = ()
    figures: dict[str, Any] = {}
    n = errors = 0
    if len(frame):
        outcome = judge_slos(frame, spec)
        checks = tuple(outcome.verdicts)
        agg = aggregate(frame, spec, ci=False)
        if len(agg):
            n, errors = int(agg["n"].sum()), int(agg["errors"].sum())
            slowest = agg["ttft_ms_p99"].fillna(-1.0).to_numpy().argmax()  # one group, or the slowest shape
            figures = {str(k): v for k, v in agg.iloc[int(slowest)].items()}
    return Probe(
        target=target,
        mode=mode,
        level=float(level),
        order=order,
        run_id=result.run_id,
        run_dir=str(result.run_dir.relative_to(sweep_dir)),
        n=n,
        ok=n - errors,
        errors=errors,
        ttft_p50_ms=_float(figures.get("ttft_ms_p50")),
        ttft_p99_ms=_float(figures.get("ttft_ms_p99")),
        output_tps_p50=_float(figures.get("output_tps_p50")),
        agg_output_tps=_float(figures.get("agg_output_tps")),
        checks=checks,
        verdict=verdict_of(checks, result.interrupted),
        elapsed_s=elapsed,
        shape=str(figures.get("shape") or ""),
    )
