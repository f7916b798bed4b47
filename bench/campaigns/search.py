"""The capacity search's strategy: which load level to probe next, and when the answer is found.

The search, stated once (it is also written into every ``sweep.md``):

1. Start at the scenario's first load level (``--start`` overrides it).
2. While a level passes, double it, up to the ceiling (``--max-concurrency``/``--max-rate``).
3. If the very first level fails, halve instead until one passes (down to 1 stream, or to the
   start rate / 64), so the failing side is bracketed as well.
4. Bisect between the highest passing and the lowest failing level until they are one stream
   apart (closed loop) or within the stated relative precision (open loop, default 10 %).

The strategy only reads each probe's verdict (``bench.campaigns.probe``), so it runs the same
against real probes and against the fakes its tests use (docs/architecture.md, ``campaigns/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from bench.campaigns.probe import Mode, Probe
from bench.errors import BenchError
from bench.schema import LoadLevel

Outcome = Literal["found", "ceiling", "none", "inconclusive", "interrupted"]

#: Default ceilings of the doubling phase.
MAX_CONCURRENCY: Final = 256
MAX_RATE: Final = 256.0
#: Open loop: bisect until (fail − pass) / fail is at most this.
RATE_PRECISION: Final = 0.10
#: Open loop: when the first rate fails, halve down to start / this at most.
RATE_FLOOR_DIVISOR: Final = 64


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
