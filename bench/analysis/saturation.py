"""Did the measuring client saturate? Findings from each level's stored health against the budget.

When the client's loop falls behind, receive stamps come late and the figures describe the
client rather than the provider: :func:`saturation` says so in plain words, with what may be
off and what to do (docs/scale.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.fmt import target_name
from bench.results.health import Budget, Exceeded, LevelHealth, percentile
from bench.schema import LoadLevel


@dataclass(frozen=True, slots=True)
class Finding:
    """A level where the client went over budget, and what it means, in plain words."""

    target: str
    load_mode: str
    load_level: float
    worker: int
    exceeded: tuple[Exceeded, ...]
    may_be_off: str
    advice: str
    #: The client path that measured ("" when the sample does not say).
    client: str = ""
    #: The targets that ran the level side by side in this process (interleaved), else empty.
    targets: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{target_name(self.target, self.client)} at {LoadLevel.of(self.load_mode, self.load_level).text}, worker {self.worker}"

    @property
    def message(self) -> str:
        over = " and ".join(e.describe() for e in self.exceeded)
        return f"{self.where}: {over}. {self.may_be_off}. {self.advice}."

    def __str__(self) -> str:
        return self.message


def _start_lag_for(start_lag_p99_ms: Mapping[Any, float] | None, level: LevelHealth) -> float | None:
    """Look up a level's start lag p99: by (target, load_level, worker), else (target, load_level).
    A sample that covered several targets (interleaved) takes the worst of theirs."""
    if not start_lag_p99_ms:
        return None
    found: list[float] = []
    for target in level.targets or (level.target,):
        for key in ((target, level.load_level, level.worker), (target, level.load_level)):
            value = start_lag_p99_ms.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                found.append(float(value))
                break
    return max(found) if found else None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _advice(level: LevelHealth, workers: int, budget: Budget) -> str:
    """What to do. Streams that would fit one process assume CPU grows in proportion to streams
    and aim at 0.7 of a core (at most the budget), leaving the loop idle time to answer in.
    Targets that ran side by side (interleaved) can also take turns instead."""
    steps = [] if level.client == "fast" else ["run with --client fast (the lean client path)"]
    if len(level.targets) > 1:
        steps.append(
            f'{"or " if steps else ""}hold fewer targets per process: order = "sequential" in [load] '
            "(or --order sequential) runs one target at a time"
        )
    cores = os.cpu_count() or 1
    either = "or " if steps else "run with "
    steps.append(f"{either}--workers {workers + 1} or more to spread the streams over processes (this machine has {cores} cores)")
    if level.streams > 1 and level.cpu_util > 0:
        fit = max(1, math.floor(level.streams * min(budget.cpu_util, 0.7) / level.cpu_util))
        if fit < level.streams:
            steps.append(f"or hold fewer streams per process (about {fit} here instead of {level.streams})")
    measured = "providers" if len(level.targets) > 1 else "provider"
    return f"To measure the {measured} rather than the client, " + ", ".join(steps)


def saturation(
    levels: Iterable[LevelHealth],
    start_lag_p99_ms: Mapping[Any, float] | None = None,
    budget: Budget = Budget(),
) -> list[Finding]:
    """One :class:`Finding` per level (and worker) that went over ``budget``; [] when none did.

    ``start_lag_p99_ms`` maps ``(target, load_level, worker)`` or ``(target, load_level)`` to the
    p99 of the records' ``start_lag_ms`` (open loop); see :func:`start_lag_p99_by_level`. A lag
    budget is only checked with at least ``budget.min_lag_samples`` samples, CPU only over at
    least ``budget.min_cpu_wall_s`` of wall time. Budgets are exceeded strictly: a value equal
    to the budget is within it, except CPU, where reaching the budget counts.
    """
    levels = list(levels)
    workers = len({level.worker for level in levels}) or 1
    findings = []
    for level in levels:
        exceeded: list[Exceeded] = []
        if level.wall_s >= budget.min_cpu_wall_s and level.cpu_util >= budget.cpu_util:
            exceeded.append(Exceeded("cpu", level.cpu_util, budget.cpu_util))
        if (
            level.samples >= budget.min_lag_samples
            and level.loop_lag_ms_p99 is not None
            and level.loop_lag_ms_p99 > budget.loop_lag_p99_ms
        ):
            exceeded.append(Exceeded("loop_lag", level.loop_lag_ms_p99, budget.loop_lag_p99_ms))
        start_lag = _start_lag_for(start_lag_p99_ms, level)
        if start_lag is not None and start_lag > budget.start_lag_p99_ms:
            exceeded.append(Exceeded("start_lag", start_lag, budget.start_lag_p99_ms))
        if not exceeded:
            continue
        off = []
        if len(level.targets) > 1:
            off.append(
                f"the client could not hold all {len(level.targets)} targets at once: they ran this level side by "
                "side in one process (interleaved)"
            )
        if any(e.what in ("cpu", "loop_lag") for e in exceeded):
            off.append(
                "receive times may have been stamped late, so the TTFT tail, inter-token times and output speed "
                "may describe this client rather than the provider (latencies read high, speed low)"
            )
        if any(e.what == "loop_lag" for e in exceeded) and level.cpu_util < budget.cpu_util / 2:
            off.append(
                f"this process used only {level.cpu_util:.2f} of a core, so part of the lag may be waiting "
                "for a core that other processes on this machine (an emulator, other runs) were using"
            )
        if any(e.what == "start_lag" for e in exceeded):
            off.append(
                "requests went out later than their due time, so the offered load was below the stated "
                "rate and this level's latencies describe a lighter load than asked"
            )
        findings.append(
            Finding(
                target=level.target,
                load_mode=level.load_mode,
                load_level=level.load_level,
                worker=level.worker,
                exceeded=tuple(exceeded),
                may_be_off=_sentence("; ".join(off)),
                advice=_advice(level, workers, budget),
                client=level.client,
                targets=level.targets,
            )
        )
    return findings


def summary_lines(findings: list[Finding], levels: list[LevelHealth] | None = None, budget: Budget = Budget()) -> list[str]:
    """Console lines: ``warning: client saturated: …`` per finding, or one line saying the client
    kept within budget. With ``levels`` given and empty, one line saying nothing was sampled."""
    if findings:
        return [f"warning: client saturated: {finding.message}" for finding in findings]
    if levels is not None and not levels:
        return ["client health: not sampled"]
    distinct = len({(level.target, level.load_mode, level.load_level, level.client) for level in levels or []})
    counted = "" if not levels else (f" at all {distinct} levels" if distinct > 1 else " at its one level")
    return [
        f"client health: within budget{counted} (CPU below {budget.cpu_util:g} of a core, "
        f"event-loop lag p99 at most {budget.loop_lag_p99_ms:g} ms, "
        f"open-loop start lag p99 at most {budget.start_lag_p99_ms:g} ms)"
    ]


def start_lag_p99_by_level(frame: Any) -> dict[tuple[str, float, int] | tuple[str, float], float]:
    """From a results frame: p99 of ``start_lag_ms`` over measured (non-warm-up) records, keyed
    ``(target, load_level, worker)`` when the frame has a ``worker`` column, else
    ``(target, load_level)``. Levels with no start lag (closed loop) are left out."""
    if frame is None or len(frame) == 0 or "start_lag_ms" not in frame.columns:
        return {}
    rows = frame[frame["start_lag_ms"].notna()]
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    keys = ["target", "load_level"] + (["worker"] if "worker" in rows.columns else [])
    out: dict[Any, float] = {}
    for key, group in rows.groupby(keys, sort=True):
        values = sorted(float(v) for v in group["start_lag_ms"])
        if values:
            normalised = (str(key[0]), float(key[1])) + ((int(key[2]),) if len(key) > 2 else ())
            out[normalised] = round(percentile(values, 99), 3)
    return out
