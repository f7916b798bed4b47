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
included); it fails when any check failed. A probe with a check that could not be judged (no
data, no successful request) is *inconclusive*: never read as a pass, and the search of that
target stops there and says so. The answer assumes latency grows with load (monotone); a noisy
service can pass a level above one it failed, and the probe table shows every figure.
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
from typing import Any, Final, Literal

from bench.analysis.metrics import SloVerdict, aggregate, judge_slos
from bench.errors import BenchError, writing
from bench.results import provenance
from bench.run.runner import RunOptions, apply_overrides, resolve_keys, run_scenario
from bench.run.stop_signals import StopSignals
from bench.scenario.model import Scenario
from bench.scenario.slo import merged_table, slo_for_scenario
from bench.scenario.writer import scenario_to_toml
from bench.schema import LoadLevel

Mode = Literal["concurrency", "rate"]
Verdict = Literal["pass", "fail", "inconclusive", "interrupted"]
Outcome = Literal["found", "ceiling", "none", "inconclusive", "interrupted"]

#: Default ceilings of the doubling phase.
MAX_CONCURRENCY: Final = 256
MAX_RATE: Final = 256.0
#: Open loop: bisect until (fail − pass) / fail is at most this.
RATE_PRECISION: Final = 0.10
#: Open loop: when the first rate fails, halve down to start / this at most.
RATE_FLOOR_DIVISOR: Final = 64
SWEEP_FILE: Final = "sweep.json"
MARKDOWN_FILE: Final = "sweep.md"
CHART_FILE: Final = "sweep.png"
RUNS_DIR: Final = "runs"


# --------------------------------------------------------------------------- probes


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
            return "; ".join(c.text for c in self.failed)
        if self.verdict == "inconclusive":
            if not self.checks:
                return "no measured requests"
            return "; ".join(c.text for c in self.unjudged)
        return "; ".join(c.text for c in self.checks)


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


# --------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class SearchSettings:
    """How one target is searched. ``floor`` is the lowest level halving may reach."""

    mode: Mode
    start: float
    ceiling: float
    precision: float = RATE_PRECISION
    floor: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.precision < 1:  # NaN too; checked in closed loop as well, where it is unused
            raise BenchError(f"--precision {self.precision:g}: must be between 0 and 1 (e.g. 0.1 for 10 %)")
        if self.mode == "concurrency":
            if self.start < 1 or not float(self.start).is_integer():
                raise BenchError(f"start level {self.start:g}: streams must be a whole number, 1 or more")
            if self.ceiling < self.start or not float(self.ceiling).is_integer():
                raise BenchError(f"--max-concurrency {self.ceiling:g}: must be a whole number ≥ the start level {self.start:g}")
        else:
            if not (self.start > 0 and math.isfinite(self.start)):
                raise BenchError(f"start rate {self.start:g}: must be greater than 0")
            if not (self.ceiling >= self.start and math.isfinite(self.ceiling)):
                raise BenchError(f"--max-rate {self.ceiling:g}: must be ≥ the start rate {self.start:g}")

    @property
    def lowest(self) -> float:
        if self.floor is not None:
            return self.floor
        return 1.0 if self.mode == "concurrency" else self.start / RATE_FLOOR_DIVISOR

    def up(self, level: float) -> float:
        return min(level * 2, self.ceiling)

    def down(self, level: float) -> float | None:
        """The next level when halving, or None below the floor."""
        nxt = math.floor(level / 2) if self.mode == "concurrency" else level / 2
        return float(nxt) if nxt >= self.lowest - 1e-12 and nxt < level else None

    def converged(self, low: float, high: float) -> bool:
        if self.mode == "concurrency":
            return high - low <= 1
        return (high - low) <= self.precision * high

    def midpoint(self, low: float, high: float) -> float:
        if self.mode == "concurrency":
            return float((int(low) + int(high)) // 2)
        mid = (low + high) / 2
        rounded = float(f"{mid:.3g}")  # levels people can read back; strictly inside the bracket
        return rounded if low < rounded < high else mid

    def describe(self) -> str:
        text = (
            f"{self.mode}, from {LoadLevel.of(self.mode, self.start).text}, doubling while every SLO holds (up to {self.ceiling:g}); if the "
            f"first level fails, halving until one passes (down to {self.lowest:g}); then bisecting between the highest "
            "passing and the lowest failing level until "
        )
        text += "they are 1 stream apart" if self.mode == "concurrency" else f"they are within {self.precision:.0%} of each other"
        return text


@dataclass
class TargetSweep:
    """Every probe of one target, in the order run, and the answer."""

    target: str
    mode: Mode
    probes: list[Probe] = field(default_factory=list)
    outcome: Outcome = "inconclusive"
    capacity: float | None = None  # the highest passing level (the knee)
    first_fail: float | None = None  # the lowest failing level above it
    precision: float = RATE_PRECISION

    def probe_at(self, level: float | None) -> Probe | None:
        return next((p for p in self.probes if level is not None and p.level == level), None)

    @property
    def stopped_at(self) -> Probe | None:
        """The probe that stopped the search early (inconclusive or interrupted)."""
        last = self.probes[-1] if self.probes else None
        return last if last is not None and last.verdict in ("inconclusive", "interrupted") else None

    def answer(self) -> str:
        """One line: ``capacity: concurrency 12 (13 fails: TTFT p99 140 ms > 120 ms)``."""
        mode = self.mode
        passed = f"passes at {LoadLevel.of(mode, self.capacity).text}" if self.capacity is not None else "no level passed"
        fail = self.probe_at(self.first_fail)
        if self.outcome == "found" and self.capacity is not None and fail is not None:
            step = "" if mode == "concurrency" else f"; bisected to within {self.precision:.0%}"
            return f"capacity: {LoadLevel.of(mode, self.capacity).text} ({fail.level:g} fails: {fail.why}{step})"
        if self.outcome == "ceiling" and self.capacity is not None:
            flag = "--max-concurrency" if mode == "concurrency" else "--max-rate"
            return (
                f"capacity: at least {LoadLevel.of(mode, self.capacity).text} (every level passed up to the search's ceiling; "
                f"raise {flag} to look further)"
            )
        if self.outcome == "none" and fail is not None:
            return f"capacity: none — fails at {LoadLevel.of(mode, fail.level).text}, the lowest level tried ({fail.why})"
        stop = self.stopped_at
        if self.outcome == "interrupted":
            where = f" at {LoadLevel.of(mode, stop.level).text}" if stop is not None else ""
            return f"interrupted{where}; {passed} so far"
        if stop is not None:
            return f"inconclusive at {LoadLevel.of(mode, stop.level).text} ({stop.why}); {passed}; the search stopped there"
        return "inconclusive: no probe ran"


ProbeFn = Callable[[float], Probe]


def search(
    settings: SearchSettings,
    target: str,
    probe: ProbeFn,
    on_probe: Callable[[Probe], None] | None = None,
    *,
    into: TargetSweep | None = None,
) -> TargetSweep:
    """Run the stated search for one target; ``probe(level)`` runs (or fakes) one level.

    ``into`` is filled as probes finish, so a caller interrupted mid-search keeps them.
    """
    result = into if into is not None else TargetSweep(target, settings.mode, precision=settings.precision)
    good: float | None = None  # highest passing level
    bad: float | None = None  # lowest failing level

    def run(level: float) -> bool | None:
        p = probe(level)
        result.probes.append(p)
        if on_probe is not None:
            on_probe(p)
        if p.verdict in ("inconclusive", "interrupted"):
            result.outcome = "inconclusive" if p.verdict == "inconclusive" else "interrupted"
            return None
        return p.verdict == "pass"

    def finish(outcome: Outcome) -> TargetSweep:
        result.outcome, result.capacity, result.first_fail = outcome, good, bad
        return result

    def stop() -> TargetSweep:
        result.capacity, result.first_fail = good, bad
        return result

    level = settings.start
    verdict = run(level)
    if verdict is None:
        return stop()
    if verdict:  # double while it holds
        good = level
        while bad is None:
            if level >= settings.ceiling:
                return finish("ceiling")
            level = settings.up(level)
            verdict = run(level)
            if verdict is None:
                return stop()
            if verdict:
                good = level
            else:
                bad = level
    else:  # halve until it holds
        bad = level
        while good is None:
            lower = settings.down(level)
            if lower is None:
                return finish("none")
            level = lower
            verdict = run(level)
            if verdict is None:
                return stop()
            if verdict:
                good = level
            else:
                bad = level
    while not settings.converged(good, bad):
        level = settings.midpoint(good, bad)
        verdict = run(level)
        if verdict is None:
            return stop()
        if verdict:
            good = level
        else:
            bad = level
    return finish("found")


# --------------------------------------------------------------------------- a real probe


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
    if len(frame):
        outcome = judge_slos(frame, spec)
        checks = tuple(outcome.verdicts)
        agg = aggregate(frame, spec, ci=False)
        if len(agg):
            figures = {str(k): v for k, v in agg.iloc[0].items()}
    n = int(figures.get("n", 0) or 0)
    errors = int(figures.get("errors", 0) or 0)
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
    )


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
