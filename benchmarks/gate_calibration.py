"""Does the CI gate cry wolf, and does it catch a real 20% slowdown? Measured, not assumed.

Run:  python benchmarks/gate_calibration.py                 (≈ 15 minutes on 2 cores)
      python benchmarks/gate_calibration.py --pairs 200 --run-pairs 60 --http-runs 0   (≈ 4 minutes)

It draws many independent pairs of small runs from the emulator's own latency model
(``bench.emulator.profiles``: lognormal TTFT with spread ``jitter``, per-request speed with
half that spread, ±jitter per-token gaps) for the quickstart's three targets, and feeds them
to the gate exactly as ``bench compare`` does (``bench.gate.compare.compare_sides`` for whole-run
figures, ``bench.gate.stats.median_ratio`` under the same family-wise level for single
comparisons). Closed-loop requests are not independent, so every figure is also given for
correlated samples:

* ``AR(1) φ``: log latency follows an AR(1) in request order (a slow moment decays over the
  next few requests);
* ``shared``: a slowly wandering server state (AR(1), φ = 0.9 per request) carries 30% of the
  log-variance, the rest is per request — slow drift, the hardest case for any within-run test.

Finally a few real emulated runs over HTTP (``bench.run.runner.run_scenario``, real SDKs on
loopback) confirm the model: identical runs should pass, a 20% TTFT slowdown injected through
the scenario's ``[target.emulator]`` override should fail, and the lag-1 autocorrelation of
log TTFT shows how much correlation a closed loop really adds on this machine.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bench.emulator.profiles import Override, Profile, plan_response, resolve_profile
from bench.gate.compare import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLD,
    CompareSettings,
    Side,
    SideInfo,
    compare_sides,
)
from bench.gate.stats import median_ratio
from bench.scenario.catalogue import load_catalogue

QUICKSTART = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.toml"
#: (label, provider, model) of the quickstart's targets.
TARGETS = (
    ("groq/gpt-oss-120b", "groq", "openai/gpt-oss-120b"),
    ("openai/gpt-4.1", "openai", "gpt-4.1"),
    ("anthropic/claude-haiku-5-5", "anthropic", "claude-haiku-5-5"),
)
LEVELS = (1.0, 4.0)
MAX_TOKENS = 64
CORRELATIONS = ("independent", "AR(1) φ=0.3", "AR(1) φ=0.5", "AR(1) φ=0.7", "shared")


def profiles() -> dict[str, Profile]:
    catalogue = load_catalogue()
    out = {}
    for label, provider, model in TARGETS:
        info = catalogue.get(provider, model) or catalogue.default_profile(provider)
        out[label] = resolve_profile(info, Override())
    return out


# --------------------------------------------------------------------------- the latency model


def correlated_normals(n: int, model: str, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal marginals with the named serial correlation, in request order."""
    e = rng.standard_normal(n)
    if model == "independent":
        return e
    if model == "shared":
        return math.sqrt(0.3) * _ar1(rng.standard_normal(n), 0.9) + math.sqrt(0.7) * e
    phi = float(model.rpartition("=")[2])
    return _ar1(e, phi)


def _ar1(e: np.ndarray, phi: float) -> np.ndarray:
    z = np.empty_like(e)
    z[0] = e[0]
    scale = math.sqrt(1 - phi * phi)
    for i in range(1, len(e)):
        z[i] = phi * z[i - 1] + scale * e[i]
    return z


def sample_requests(
    profile: Profile, n: int, model: str, rng: np.random.Generator, *, ttft_factor: float = 1.0, speed_factor: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(ttft_ms, output_tps) of n requests, vectorised from ``plan_response``'s timing model."""
    j = profile.jitter
    ttft_ms = profile.ttft_ms * ttft_factor * np.exp(j * correlated_normals(n, model, rng))
    speed = profile.tokens_per_s * speed_factor * np.exp(j / 2 * correlated_normals(n, model, rng))
    spread = min(j, 0.95)
    gaps = (1.0 / speed)[:, None] * (1.0 + spread * rng.uniform(-1.0, 1.0, (n, MAX_TOKENS - 1)))
    output_tps = (MAX_TOKENS - 1) / gaps.sum(axis=1)
    return ttft_ms, output_tps


def check_model(profile_map: dict[str, Profile], draws: int = 3000) -> None:
    """The vectorised sampler against the emulator's own ``plan_response``."""
    print("## 0. The sampler reproduces the emulator's latency model (plan_response)\n")
    print(f"{'target':28} {'source':>14} {'TTFT p50':>9} {'sd log TTFT':>12} {'tok/s p50':>10} {'sd log tok/s':>13}")
    rng = np.random.default_rng(123)
    for label, profile in profile_map.items():
        r = random.Random(7)
        ttft, tps = [], []
        for _ in range(draws):
            plan = plan_response(profile, r, budget=MAX_TOKENS, ignore_eos=False, think=profile.reasoning, stream_reasoning=True)
            ttft.append(plan.offsets_s[0] * 1000)
            tps.append((len(plan.offsets_s) - 1) / (plan.offsets_s[-1] - plan.offsets_s[0]))
        vt, vs = sample_requests(profile, draws, "independent", rng)
        for source, a, b in (("plan_response", np.array(ttft), np.array(tps)), ("sampler", vt, vs)):
            print(
                f"{label:28} {source:>14} {np.median(a):9.1f} {np.std(np.log(a)):12.3f} "
                f"{np.median(b):10.1f} {np.std(np.log(b)):13.3f}"
            )
    print()


# --------------------------------------------------------------------------- comparators


def _pw_block(x: np.ndarray) -> float:
    """Politis–White (2004, corrected 2009) mean block length for the stationary bootstrap."""
    n = len(x)
    y = x - x.mean()
    g0 = float(np.dot(y, y) / n)
    kn = max(5, math.ceil(math.sqrt(math.log10(n))))
    m_max = min(math.ceil(math.sqrt(n)) + kn, n - 1)
    acov = np.array([np.dot(y[: n - k], y[k:]) / n for k in range(m_max + 1)])
    insignificant = np.abs(acov[1:] / g0) < 2 * math.sqrt(math.log10(n) / n)
    m_hat = next((max(m, 1) for m in range(m_max - kn + 1) if insignificant[m : m + kn].all()), m_max)
    big_m = min(2 * m_hat, m_max)
    lags = np.arange(-big_m, big_m + 1)
    t = np.abs(lags) / big_m
    w = np.where(t <= 0.5, 1.0, 2 * (1 - t))
    g = float(np.sum(w * np.abs(lags) * acov[np.abs(lags)]))
    s0 = float(np.sum(w * acov[np.abs(lags)]))
    if s0 <= 0 or g == 0:
        return 1.0
    return float(min(max((g * g / (s0 * s0)) ** (1 / 3) * n ** (1 / 3), 1.0), math.ceil(min(3 * math.sqrt(n), n / 3))))


def _stationary_bootstrap_significant(b: np.ndarray, c: np.ndarray, rng: np.random.Generator, resamples: int = 2000) -> bool:
    def log_medians(x: np.ndarray) -> np.ndarray:
        n = len(x)
        block = _pw_block(np.log(x))
        pos = np.arange(n)
        starts = rng.integers(0, n, (resamples, n))
        new = rng.random((resamples, n)) < 1 / block
        new[:, 0] = True
        first = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
        idx = (np.take_along_axis(starts, first, axis=1) + pos - first) % n
        return np.log(np.median(x[idx], axis=1))

    d = log_medians(c) - log_medians(b)
    low, high = np.quantile(d, [0.025, 0.975])
    return bool(low > 0 or high < 0)


def comparators(profile: Profile, pairs: int, n: int, seed: int) -> None:
    print(f"## 1. Which test? False alarms of ONE comparison, identical configurations, n = {n} a side\n")
    print(f"TTFT with the emulator's spread (jitter {profile.jitter}); significance at 5% alone, no threshold.\n")
    print(f"{'correlation':14} {'Mann-Whitney U':>15} {'bootstrap':>10} {'stationary bs':>14} {'chosen (VIF)':>13}")
    rng = np.random.default_rng(seed)
    for model in CORRELATIONS:
        hits = np.zeros(4)
        for k in range(pairs):
            b, _ = sample_requests(profile, n, model, rng)
            c, _ = sample_requests(profile, n, model, rng)
            hits[0] += stats.mannwhitneyu(b, c).pvalue < 0.05
            hits[1] += median_ratio(b, c, seed=k, correlated=False).significant
            hits[2] += _stationary_bootstrap_significant(b, c, rng)
            hits[3] += median_ratio(b, c, seed=k).significant
        rates = hits / pairs
        print(f"{model:14} {rates[0]:15.1%} {rates[1]:10.1%} {rates[2]:14.1%} {rates[3]:13.1%}")
    print()


# --------------------------------------------------------------------------- the whole gate


def _parallel(func, tasks: list[tuple]) -> list:  # type: ignore[type-arg]
    """Run ``func(*task)`` for every task on every core (each task seeds its own generator)."""
    workers = min(len(tasks), os.cpu_count() or 1)
    if workers <= 1:
        return [func(*t) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, *zip(*tasks, strict=True)))


def _frame(groups: dict[tuple[str, float], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    parts = []
    for (label, level), (ttft, tps, failed) in groups.items():
        n = len(ttft)
        parts.append(
            pd.DataFrame(
                {
                    "target": label,
                    "load_mode": "concurrency",
                    "load_level": level,
                    "request_index": np.arange(n),
                    "started_at_ns": np.arange(n, dtype=np.int64),
                    "warmup": False,
                    "status": np.where(failed, "error", "ok"),
                    "error_kind": np.where(failed, "rate_limited", None),
                    "ttft_ms": np.where(failed, np.nan, ttft),
                    "output_tps": np.where(failed, np.nan, tps),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def simulate_run(
    profile_map: dict[str, Profile],
    n: int,
    model: str,
    rng: np.random.Generator,
    *,
    error_share: float = 0.0,
    slow: tuple[str, float] | None = None,
    factor: tuple[float, float] = (1.0, 1.0),
) -> Side:
    """One quickstart-shaped run (3 targets × 2 levels); ``slow`` = (target, level) gets ``factor``."""
    groups = {}
    for label, profile in profile_map.items():
        for level in LEVELS:
            tf, sf = factor if slow == (label, level) else (1.0, 1.0)
            ttft, tps = sample_requests(profile, n, model, rng, ttft_factor=tf, speed_factor=sf)
            groups[(label, level)] = (ttft, tps, rng.random(n) < error_share)
    info = SideInfo(spec="sim", kind="run", path="sim", run_id="sim", fingerprint="f", emulated=True)
    return Side.of_frame(info, _frame(groups))


def _false_alarm_cell(model: str, error_share: float, n: int, pairs: int, seed: int) -> float:
    profile_map = profiles()
    rng = np.random.default_rng(seed)
    settings = CompareSettings(min_samples=min(DEFAULT_MIN_SAMPLES, n))
    alarms = 0
    for k in range(pairs):
        a = simulate_run(profile_map, n, model, rng, error_share=error_share)
        b = simulate_run(profile_map, n, model, rng, error_share=error_share)
        alarms += compare_sides(a, b, replace(settings, seed=k)).exit_code() == 1
    return alarms / pairs


def run_level_false_alarms(pairs: int, ns: tuple[int, ...], seed: int) -> None:
    print("## 2. False alarms of the whole gate (bench compare, defaults), identical configurations\n")
    print("Quickstart shape: 3 targets × 2 levels × {ttft_ms, output_tps} = 12 comparisons + error rates.")
    print("Rate = share of pairs where `bench compare` exits 1. Target: ≤ 5%.\n")
    rows = [(m, 0.0) for m in CORRELATIONS] + [("independent", 0.02), ("independent", 0.10)]
    tasks = [(m, e, n, pairs, seed + 97 * i + n) for i, (m, e) in enumerate(rows) for n in ns]
    rates = iter(_parallel(_false_alarm_cell, tasks))
    print(f"{'correlation':14} {'errors':>7}" + "".join(f" {'n=' + str(n):>8}" for n in ns))
    for model, error_share in rows:
        print(f"{model:14} {error_share:7.0%}" + "".join(f" {next(rates):8.1%}" for _ in ns))
    print()


def detection_rate(label: str, n: int, model: str, metric: str, size: float, pairs: int, seed: int, family: int = 12) -> float:
    """P(one comparison with a true ``size`` regression is flagged), inside a family of ``family``."""
    profile = profiles()[label]
    rng = np.random.default_rng(seed)
    level = 1.0 - (1.0 - DEFAULT_CONFIDENCE) / family
    hits = 0
    for k in range(pairs):
        if metric == "ttft_ms":
            b, _ = sample_requests(profile, n, model, rng)
            c, _ = sample_requests(profile, n, model, rng, ttft_factor=1 + size)
        else:
            _, b = sample_requests(profile, n, model, rng)
            _, c = sample_requests(profile, n, model, rng, speed_factor=1 - size)
        est = median_ratio(b, c, confidence=level, seed=k)
        worse = est.change > DEFAULT_THRESHOLD if metric == "ttft_ms" else est.change < -DEFAULT_THRESHOLD
        hits += worse and est.significant
    return hits / pairs


def detection(profile_map: dict[str, Profile], pairs: int, ns: tuple[int, ...], seed: int) -> None:
    print("## 3. Detection of a 20% regression in one (target, level), inside the 12-comparison family\n")
    print("TTFT +20%, or output speed −20% (tokens/s × 0.8). Target: ≥ 95%.\n")
    rows = [
        (label, metric, model)
        for label in profile_map
        for metric in ("ttft_ms", "output_tps")
        for model in ("independent", "AR(1) φ=0.5")
    ]
    tasks = [
        (label, n, model, metric, 0.20, pairs, seed + 31 * i + n) for i, (label, metric, model) in enumerate(rows) for n in ns
    ]
    rates = iter(_parallel(detection_rate, tasks))
    print(f"{'target (jitter)':34} {'metric':11} {'correlation':14}" + "".join(f" {'n=' + str(n):>7}" for n in ns))
    for label, metric, model in rows:
        cells = "".join(f" {next(rates):7.1%}" for _ in ns)
        print(f"{label + f' ({profile_map[label].jitter})':34} {metric:11} {model:14}{cells}")
    print()


SIZES = tuple(round(0.10 + 0.02 * i, 2) for i in range(21))  # 10% … 50%


def _smallest_cell(label: str, metric: str, model: str, n: int, pairs: int, seed: int) -> float | None:
    for size in SIZES:
        if detection_rate(label, n, model, metric, size, pairs, seed) >= 0.95:
            return size
    return None


def smallest_detected(profile_map: dict[str, Profile], pairs: int, seed: int, n: int = 50) -> None:
    print(f"## 4. Smallest regression detected ≥ 95% of the time at n = {n} (12-comparison family)\n")
    rows = [
        (label, metric, model)
        for label in profile_map
        for metric in ("ttft_ms", "output_tps")
        for model in ("independent", "AR(1) φ=0.5")
    ]
    found = _parallel(
        _smallest_cell, [(label, metric, model, n, pairs, seed + i) for i, (label, metric, model) in enumerate(rows)]
    )
    print(f"{'target (jitter)':34} {'metric':11} {'correlation':14} {'smallest':>9}")
    for (label, metric, model), size in zip(rows, found, strict=True):
        text = f"{size:.0%}" if size is not None else f"> {SIZES[-1]:.0%}"
        print(f"{label + f' ({profile_map[label].jitter})':34} {metric:11} {model:14} {text:>9}")
    print()


def _error_cell(base: float, cand: float, n: int, pairs: int, seed: int) -> float:
    profile_map = profiles()
    rng = np.random.default_rng(seed)
    fails = 0
    for k in range(pairs):
        a = simulate_run(profile_map, n, "independent", rng, error_share=base)
        b = simulate_run(profile_map, n, "independent", rng, error_share=cand)
        comparison = compare_sides(a, b, CompareSettings(seed=k, min_samples=min(DEFAULT_MIN_SAMPLES, n)))
        fails += any(e.verdict == "regression" for e in comparison.errors)
    return fails / pairs


def error_detection(pairs: int, n: int, seed: int) -> None:
    print(f"## 5. Error rate: a candidate whose requests fail (n = {n}, every target and level)\n")
    rows = ((0.0, 0.02), (0.0, 0.05), (0.0, 0.10), (0.02, 0.10), (0.0, 1.0))
    rates = _parallel(_error_cell, [(b, c, n, pairs, seed + i) for i, (b, c) in enumerate(rows)])
    print(f"{'baseline errors':>16} {'candidate errors':>17} {'error-rate regression flagged':>30}")
    for (base, cand), rate in zip(rows, rates, strict=True):
        print(f"{base:16.0%} {cand:17.0%} {rate:30.1%}")
    print()


# --------------------------------------------------------------------------- real HTTP runs


def http_runs(count: int, n: int, concurrency: int) -> None:
    print(f"## 6. Real emulated runs over HTTP (quickstart at concurrency {concurrency}, {n} requests, real SDKs on loopback)\n")
    from bench.gate.baseline import load_side
    from bench.run.runner import run_scenario
    from bench.scenario.model import load_scenario, parse_scenario

    scenario = load_scenario(QUICKSTART)
    catalogue = load_catalogue()
    raw = tomllib.loads(QUICKSTART.read_text(encoding="utf-8"))
    for target in raw["target"]:
        if target["provider"] == "openai":
            info = catalogue.get(target["provider"], target["model"]) or catalogue.default_profile(target["provider"])
            target["emulator"] = {"ttft_ms": info.ttft_ms * 1.2}
    slow = parse_scenario(raw, str(QUICKSTART))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = []
        for i in range(count):
            t0 = time.perf_counter()
            chosen = slow if i == count - 1 else scenario
            result = run_scenario(chosen, out=root / f"r{i}", emulate=True, requests=n, concurrency=[concurrency], quiet=True)
            frame = result.frame
            lag1 = []
            for _, part in frame[~frame["warmup"] & (frame["status"] == "ok")].groupby(["target", "load_level"]):
                x = np.log(part.sort_values("started_at_ns")["ttft_ms"].to_numpy())
                if len(x) > 3:
                    lag1.append(np.corrcoef(x[:-1], x[1:])[0, 1])
            kind = "TTFT ×1.2 on openai/gpt-4.1" if chosen is slow else "as catalogued"
            print(
                f"run {i}: {kind:28} {time.perf_counter() - t0:5.0f} s; lag-1 autocorrelation of log TTFT "
                f"per (target, level): {', '.join(f'{r:+.2f}' for r in lag1)}"
            )
            runs.append(result.run_dir)
        base = load_side(str(runs[0]))
        for i, run_dir in enumerate(runs[1:], start=1):
            comparison = compare_sides(base, load_side(str(run_dir)), CompareSettings(min_samples=min(DEFAULT_MIN_SAMPLES, n)))
            flagged = [f"{r.group.label} {getattr(r, 'metric', 'error rate')} {r.change:+.1%}" for r in comparison.regressions]
            print(f"compare run 0 → run {i}: exit {comparison.exit_code()}; regressions: {flagged or 'none'}")
            largest = max(comparison.metrics, key=lambda r: abs(r.change) if math.isfinite(r.change) else 0)
            print(f"    largest change: {largest.group.label} {largest.metric} {largest.change:+.1%} ({largest.verdict})")
            if i == len(runs) - 1:
                openai = [r for r in comparison.metrics if r.target.startswith("openai") and r.metric == "ttft_ms"]
                print("    openai ttft: " + "; ".join(f"{r.group.label}: {r.change:+.1%} → {r.verdict}" for r in openai))
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1000, help="pairs of runs per figure (default 1000)")
    parser.add_argument("--run-pairs", type=int, default=None, help="pairs for whole-run figures (default pairs/2)")
    parser.add_argument("--http-runs", type=int, default=3, help="real emulated runs over HTTP (0 skips)")
    parser.add_argument("--n", type=int, default=150, help="the recommended requests per level (default 150)")
    parser.add_argument("--http-requests", type=int, default=150, help="requests per level in the HTTP runs")
    parser.add_argument("--http-concurrency", type=int, default=4, help="closed-loop concurrency of the HTTP runs")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=["model", "tests", "gate", "detect", "smallest", "errors", "http"], default=None)
    args = parser.parse_args(argv)
    profile_map = profiles()
    run_pairs = args.run_pairs or max(50, args.pairs // 2)
    ns = (30, 50, 100, 150, 200)
    run_ns = (30, 50, args.n)
    print(
        f"# Gate calibration — threshold {DEFAULT_THRESHOLD:.0%}, family-wise confidence {DEFAULT_CONFIDENCE:.0%}, "
        f"min samples {DEFAULT_MIN_SAMPLES}; {args.pairs} pairs per figure ({run_pairs} for whole runs)\n"
    )
    t0 = time.perf_counter()
    sections = {
        "model": lambda: check_model(profile_map),
        "tests": lambda: comparators(profile_map["openai/gpt-4.1"], args.pairs, 50, args.seed),
        "gate": lambda: run_level_false_alarms(run_pairs, run_ns, args.seed + 1),
        "detect": lambda: detection(profile_map, args.pairs, ns, args.seed + 2),
        "smallest": lambda: smallest_detected(profile_map, max(200, args.pairs // 2), args.seed + 3),
        "errors": lambda: error_detection(run_pairs, args.n, args.seed + 4),
        "http": lambda: http_runs(args.http_runs, args.http_requests, args.http_concurrency) if args.http_runs else None,
    }
    for name, section in sections.items():
        if args.only in (None, name):
            section()
            sys.stdout.flush()
    print(f"(took {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
