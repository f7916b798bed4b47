"""Capacity search: per target, the highest load at which the scenario's SLOs still hold.

The search, stated once (it is also written into every ``sweep.md``):

1. Start at the scenario's first load level (``--start`` overrides it).
2. While a level passes, double it, up to the ceiling (``--max-concurrency``/``--max-rate``).
3. If the very first level fails, halve instead until one passes (down to 1 stream, or to the
   start rate / 64), so the failing side is bracketed as well.
4. Bisect between the highest passing and the lowest failing level until they are one stream
   apart (closed loop) or within the stated relative precision (open loop, default 10 %).

Each probe is a real run of one target at one level through :func:`bench.run.runner.run_scenario`
(the scenario's requests, warm-up, timeout and client), kept as its own run directory. A probe
passes when every SLO check was judged and met, by the project's one SLO code path
(:func:`bench.analysis.metrics.judge_slos` with :func:`bench.scenario.slo.slo_for_scenario`, ``[target.slo]``
included); it fails when any check failed. With request shapes (a prompt-length ladder, both
cache states) a probe runs every shape at its level and passes only when every shape's checks
hold — each judged by its own ``[slo.class.NAME]`` where one covers it — so the capacity is the
load at which every rung still meets its SLOs. A probe with a check that could not be judged (no
data, no successful request) is *inconclusive*: never read as a pass, and the search of that
target stops there and says so. The answer assumes latency grows with load (monotone); a noisy
service can pass a level above one it failed, and the probe table shows every figure.

The strategy is ``bench.campaigns.search`` and a probe is ``bench.campaigns.probe``; this module
runs the whole sweep over the targets and writes ``sweep.json``. Their public names are
importable from here too, as they were before the split.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.campaigns.probe import RUNS_DIR, Mode, Probe, Verdict, run_probe, verdict_of
from bench.campaigns.search import (
    MAX_CONCURRENCY,
    MAX_RATE,
    RATE_FLOOR_DIVISOR,
    RATE_PRECISION,
    Outcome,
    ProbeFn,
    SearchSettings,
    TargetSweep,
    search,
)
from bench.errors import BenchError, writing
from bench.results import provenance
from bench.run.runner import RunOptions, apply_overrides, resolve_keys
from bench.run.stop_signals import StopSignals
from bench.scenario.model import Scenario
from bench.scenario.slo import merged_table
from bench.scenario.writer import scenario_to_toml

SWEEP_FILE: Final = "sweep.json"
MARKDOWN_FILE: Final = "sweep.md"
CHART_FILE: Final = "sweep.png"

__all__ = [
    "CHART_FILE",
    "MARKDOWN_FILE",
    "MAX_CONCURRENCY",
    "MAX_RATE",
    "RATE_FLOOR_DIVISOR",
    "RATE_PRECISION",
    "RUNS_DIR",
    "SWEEP_FILE",
    "Mode",
    "Outcome",
    "Probe",
    "ProbeFn",
    "SearchSettings",
    "SweepOptions",
    "SweepResult",
    "TargetSweep",
    "Verdict",
    "check_sweepable",
    "run_probe",
    "search",
    "settings_for",
    "sweep",
    "verdict_of",
    "write_sweep_json",
]


# --------------------------------------------------------------------------- the whole sweep


@dataclass
class SweepOptions:
    out: Path = Path("results")
    emulate: bool = False
    client: str | None = None
    targets: list[str] | None = None
    requests: int | None = None
    start: float | None = None
    max_level: float | None = None
    precision: float = RATE_PRECISION
    warn: Callable[[str], None] = field(default=lambda m: print(f"bench: warning: {m}", file=sys.stderr))
    #: The command's own SIGINT/SIGTERM handlers (``bench sweep``): each probe's run attaches to
    #: them, and once one signal arrived, later ones only say the sweep is stopping.
    stop_signals: StopSignals | None = None


@dataclass
class SweepResult:
    sweep_id: str
    sweep_dir: Path
    scenario: Scenario
    settings: SearchSettings
    emulated: bool
    started_at: str
    targets: list[TargetSweep] = field(default_factory=list)
    ended_at: str | None = None
    interrupted: bool = False
    #: ``--requests`` when given (else the scenario's own count applies).
    requests: int | None = None

    @property
    def slo_tables(self) -> dict[str, dict[str, float]]:
        """Each searched target's effective SLO table (``[slo]`` with its ``[target.slo]`` on top)."""

        by_name = {t.name: t for t in self.scenario.target}
        return {t.target: merged_table(self.scenario.slo, by_name[t.target].slo) for t in self.targets if t.target in by_name}

    def to_json(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return value if math.isfinite(value) else None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        targets = []
        tables = self.slo_tables
        for t in self.targets:
            probes = []
            for p in t.probes:
                data = asdict(p)
                data["slo"] = data.pop("checks")
                data["passed"] = p.verdict == "pass"
                data["why"] = p.why
                probes.append(data)
            targets.append({
                "target": t.target, "mode": t.mode, "outcome": t.outcome, "capacity": t.capacity,
                "first_fail": t.first_fail, "answer": t.answer(), "slo": tables.get(t.target, {}), "probes": probes,
            })  # fmt: skip
        return clean(
            {
                "sweep_id": self.sweep_id,
                "scenario": self.scenario.name,
                "scenario_path": self.scenario.source_path,
                "emulated": self.emulated,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "finished": self.ended_at is not None and not self.interrupted,
                "interrupted": self.interrupted,
                "search": {
                    "mode": self.settings.mode,
                    "start": self.settings.start,
                    "ceiling": self.settings.ceiling,
                    "floor": self.settings.lowest,
                    "precision": self.settings.precision if self.settings.mode == "rate" else None,
                    "rule": self.settings.describe(),
                },
                "requests": self.scenario.load.requests if self.requests is None else self.requests,
                "duration_s": self.scenario.load.duration_s if self.requests is None else None,
                "warmup": self.scenario.load.warmup,
                "targets": targets,
            }
        )


def check_sweepable(scenario: Scenario, targets: list[str] | None, client: str | None = None) -> list[str]:
    """The targets to search; bad input (no SLO checks, unknown target, two client paths) is a BenchError."""
    names = [t.name for t in scenario.target]
    if targets:
        unknown = [t for t in targets if t not in names]
        if unknown:
            raise BenchError(f"--target {unknown[0]!r}: no such target in {scenario.source_path}; targets: {', '.join(names)}")
        names = [n for n in names if n in targets]
    spec = scenario.slo_spec
    where = scenario.source_path or "scenario"
    several = [t.name for t in scenario.target if t.name in names and len(t.clients) > 1]
    if several and client is None:
        raise BenchError(
            f"{where}: target {several[0]!r} names two client paths; a capacity search measures with one: "
            "pick it with --client fast or --client sdk"
        )

    apply_overrides(scenario, RunOptions(targets=targets, client=client))  # what a probe would refuse, refused now
    if scenario.load.trace is not None:
        raise BenchError(
            f"{where}: load.trace: a sweep varies the request rate, and a trace replay sends at the trace's own times; "
            "run the trace at a few speedup values instead"
        )
    if not spec.has_checks:
        raise BenchError(
            f"{where}: a sweep needs SLOs: add an [slo] table with at least one check (e.g. ttft_p99_ms = 500); "
            "the capacity is the highest load at which they all hold"
        )
    without = [n for n in names if not spec.for_target(n).has_checks]
    if without:
        raise BenchError(
            f"{where}: target {without[0]!r} has no SLO checks (its [slo]/[target.slo] has only per-request thresholds or "
            "none); a sweep needs at least one check per target"
        )
    return names


def settings_for(scenario: Scenario, options: SweepOptions) -> SearchSettings:
    mode: Mode = scenario.load.mode
    start = options.start if options.start is not None else (scenario.load.levels[0] if scenario.load.levels else 1.0)
    ceiling = options.max_level if options.max_level is not None else (MAX_CONCURRENCY if mode == "concurrency" else MAX_RATE)
    ceiling = max(ceiling, start) if options.max_level is None else ceiling
    return SearchSettings(mode, float(start), float(ceiling), options.precision)


def _claim_dir(root: Path, name: str) -> tuple[str, Path]:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"--out {root}: cannot write there ({exc.strerror})") from None
    while True:
        sweep_id = provenance.new_run_id(f"{name}-sweep")
        path = root / sweep_id
        try:
            path.mkdir()
            return sweep_id, path
        except FileExistsError:
            time.sleep(0.001)
        except OSError as exc:
            raise BenchError(f"--out {root}: cannot write there ({exc.strerror})") from None


def sweep(
    scenario: Scenario,
    options: SweepOptions,
    *,
    on_probe: Callable[[Probe], None] | None = None,
    on_target: Callable[[TargetSweep], None] | None = None,
    write_report: Callable[[SweepResult], None] | None = None,
    probe_fn: Callable[[str, float, int, Path], Probe] | None = None,
) -> SweepResult:
    """Search every (chosen) target in turn; write sweep.json as it goes, and hand the result to
    ``write_report`` (the CLI passes the report's sweep.md and chart writer) after each target.

    ``probe_fn(target, level, order, sweep_dir)`` replaces the real probe (tests of the logic).
    A Ctrl-C ends the search: what finished is written and ``interrupted`` is set.
    """
    names = check_sweepable(scenario, options.targets, options.client)
    settings = settings_for(scenario, options)
    emulated = options.emulate or scenario.scenario.emulate
    if not emulated:
        resolve_keys(scenario, False)  # a missing key is bad input before any sweep directory exists
    sweep_id, sweep_dir = _claim_dir(options.out, scenario.name)
    result = SweepResult(sweep_id, sweep_dir, scenario, settings, emulated, provenance.utc_now(), requests=options.requests)
    try:
        (sweep_dir / "scenario.toml").write_text(scenario_to_toml(scenario, emulate=emulated), encoding="utf-8")
    except OSError as exc:
        options.warn(f"could not write {sweep_dir / 'scenario.toml'} ({exc.strerror})")
    order = 0
    said: set[str] = set()

    def warn_once(message: str) -> None:
        """Each probe is a run and checks its targets again: a warning is said once per sweep."""
        if message not in said:
            said.add(message)
            options.warn(message)

    def probe_for(target: str) -> ProbeFn:
        def probe(level: float) -> Probe:
            nonlocal order
            order += 1
            if probe_fn is not None:
                return probe_fn(target, level, order, sweep_dir)
            return run_probe(
                scenario, target, settings.mode, level, order=order, sweep_dir=sweep_dir, emulate=emulated,
                client=options.client, requests=options.requests, warn=warn_once, stop_signals=options.stop_signals,
            )  # fmt: skip

        return probe

    try:
        for name in names:
            current = TargetSweep(name, settings.mode, precision=settings.precision)
            result.targets.append(current)
            search(settings, name, probe_for(name), on_probe, into=current)
            write_sweep_json(result)
            if write_report is not None:
                write_report(result)
            if on_target is not None:
                on_target(current)
            if current.outcome == "interrupted":
                result.interrupted = True
                break
    except BenchError:  # a probe that could not run or write (a full disk): keep the sweep's record of what finished
        result.ended_at = provenance.utc_now()
        with contextlib.suppress(BenchError):
            write_sweep_json(result)
            if write_report is not None:
                write_report(result)
        raise
    except KeyboardInterrupt:  # between probes (a probe's own Ctrl-C ends it as "interrupted")
        result.interrupted = True
        current = result.targets[-1]
        current.outcome = "interrupted"
        passing = [p.level for p in current.probes if p.verdict == "pass"]
        current.capacity = max(passing) if passing else None
        if on_target is not None:
            on_target(current)
    result.ended_at = provenance.utc_now()
    write_sweep_json(result)
    if write_report is not None:
        write_report(result)
    return result


# --------------------------------------------------------------------------- outputs


def write_sweep_json(result: SweepResult) -> None:
    """sweep.json, rewritten after each target (a crash keeps the rest)."""
    path = result.sweep_dir / SWEEP_FILE
    with writing(result.sweep_dir):
        path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
