"""What the SDK costs: a target measured by both client paths in one run, the SDK path's figures
against the lean client's, per load level, with bootstrap 95% intervals.

A run with ``--client fast,sdk`` (or ``client = ["fast", "sdk"]`` on a target) measures every
level twice, one client after the other, so neither's CPU and event-loop time is in the
other's figures. The same provider, prompts of the same shape and — on the emulator — the
same seeded server timings request for request: what differs is the client. Three figures:

* **first token** (``ttft_ms``), median and p99: the difference of the two paths' quantiles,
  bootstrapped over requests (:func:`bench.analysis.bootstrap.quantile_difference_ci`).
* **inter-token time**: the mean gap between content events, i.e. total streaming time after
  the first content event ÷ gaps, bootstrapped over *requests* (a request's gaps are not
  independent of each other; requests are close to it), by :func:`bench.analysis.bootstrap.ratio_difference_ci`.
  A client that falls behind reads it wrong either way: high (it stamps the end late) or low
  (it stamps a backlog of chunks together) — so the sign matters less than the size.
* **CPU per chunk** (µs): the measuring process's CPU time (``time.process_time``: all its
  threads, user + system) ÷ chunks it handled, from the client-health sampler's slices of the
  level (run.json ``client_health.levels[].cpu_slices_s`` / ``chunk_slices``), bootstrapped
  over slices. All-in: the client library, the harness's own per-request work and the
  sampler, the same for both paths. Slices are treated as independent, which they are only
  roughly (a request's set-up and its chunks can fall in neighbouring slices): the interval
  is an approximation.

A difference is the SDK's figure minus the lean client's: positive is the SDK slower or
costlier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis.bootstrap import quantile_difference_ci, ratio_difference_ci
from bench.analysis.metrics import group_positions, measured, ok_mask
from bench.results.health import LevelHealth

#: The two client paths compared, in the order a difference is taken (second minus first).
LEAN, SDK = "fast", "sdk"


@dataclass(frozen=True)
class Difference:
    """One figure on both paths: the lean client's, the SDK's, SDK − lean and its 95% interval."""

    lean: float
    sdk: float
    ci_low: float
    ci_high: float

    @property
    def change(self) -> float:
        return self.sdk - self.lean

    @property
    def firm(self) -> bool:
        """The interval excludes zero."""
        return math.isfinite(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0)


@dataclass(frozen=True)
class SdkCost:
    """One target at one load level, measured by both paths."""

    target: str
    provider: str
    load_mode: str
    load_level: float
    n_lean: int
    n_sdk: int
    ttft_p50_ms: Difference
    ttft_p99_ms: Difference
    itl_mean_ms: Difference
    #: None when the run has no health slices for both paths (recorded before they were kept).
    cpu_us_per_chunk: Difference | None


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if values.size else math.nan


def _ttft(lean: np.ndarray, sdk: np.ndarray, q: float, seed: int) -> Difference:
    low, high = quantile_difference_ci(lean, sdk, q, seed=seed)
    return Difference(_quantile(lean, q), _quantile(sdk, q), low, high)


def _gaps(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per request: (sum of its inter-token gaps in ms, how many gaps)."""
    lists = [v for v in rows["itl_ms"].tolist() if isinstance(v, (list, np.ndarray)) and len(v)]
    return np.array([float(np.sum(v)) for v in lists]), np.array([float(len(v)) for v in lists])


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    total = float(den.sum()) if den.size else 0.0
    return float(num.sum()) / total if total > 0 else math.nan


def _itl(lean: tuple[np.ndarray, np.ndarray], sdk: tuple[np.ndarray, np.ndarray], seed: int) -> Difference:
    low, high = ratio_difference_ci(lean, sdk, seed=seed)
    return Difference(_ratio(*lean), _ratio(*sdk), low, high)


def _slices(levels: Iterable[LevelHealth]) -> tuple[np.ndarray, np.ndarray] | None:
    """Every slice of these levels (all workers): (CPU µs, chunks); None without any."""
    cpu: list[float] = []
    chunks: list[float] = []
    for level in levels:
        cpu += [c * 1e6 for c in level.cpu_slices_s]
        chunks += [float(c) for c in level.chunk_slices]
    return (np.array(cpu), np.array(chunks)) if cpu else None


def _cpu(lean: list[LevelHealth], sdk: list[LevelHealth], seed: int) -> Difference | None:
    a, b = _slices(lean), _slices(sdk)
    if a is None or b is None:
        return None
    low, high = ratio_difference_ci(a, b, seed=seed)
    return Difference(_ratio(*a), _ratio(*b), low, high)


def sdk_costs(frame: pd.DataFrame, health: Iterable[LevelHealth] = (), *, seed: int = 0) -> list[SdkCost]:
    """One :class:`SdkCost` per target and load level that both paths measured, in order of
    appearance. ``frame`` is the run's requests (warm-up rows are left out here), ``health``
    its ``client_health.levels``."""
    m = measured(frame)
    if not len(m):
        return []
    ok = ok_mask(m)
    by_place: dict[tuple[str, str, float], dict[str, np.ndarray]] = {}
    for key, idx in group_positions(m):
        by_place.setdefault((key.target, key.load_mode, key.load_level), {})[key.client] = idx
    health = list(health)
    ttft = m["ttft_ms"].to_numpy(dtype="float64", na_value=np.nan)
    out: list[SdkCost] = []
    for i, ((target, mode, level), clients) in enumerate(by_place.items()):
        if LEAN not in clients or SDK not in clients:
            continue
        lean_idx, sdk_idx = (clients[c][ok[clients[c]]] for c in (LEAN, SDK))
        lean_ttft, sdk_ttft = (t[np.isfinite(t)] for t in (ttft[lean_idx], ttft[sdk_idx]))

        def levels_of(client: str, target: str = target, mode: str = mode, level: float = level) -> list[LevelHealth]:
            # An interleaved level's one sample covers every target that ran it (``targets``).
            return [
                h
                for h in health
                if target in (h.targets or (h.target,)) and (h.load_mode, float(h.load_level), h.client) == (mode, level, client)
            ]

        base = seed + 1000 * i
        provider = m["provider"].iloc[int(clients[LEAN][0])]
        out.append(
            SdkCost(
                target=target,
                provider="" if pd.isna(provider) else str(provider),
                load_mode=mode,
                load_level=level,
                n_lean=int(lean_idx.size),
                n_sdk=int(sdk_idx.size),
                ttft_p50_ms=_ttft(lean_ttft, sdk_ttft, 0.5, base),
                ttft_p99_ms=_ttft(lean_ttft, sdk_ttft, 0.99, base + 1),
                itl_mean_ms=_itl(_gaps(m.iloc[lean_idx]), _gaps(m.iloc[sdk_idx]), base + 2),
                cpu_us_per_chunk=_cpu(levels_of(LEAN), levels_of(SDK), base + 3),
            )
        )
    return out
