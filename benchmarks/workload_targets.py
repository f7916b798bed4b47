"""The workload figures the docs promise, measured on the built-in emulator, both client paths.

1. **Prefill fit across a ladder.** ``input_tokens = [128, 2000, 8000, 32000]`` at one
   stream, every target's emulator profile reading prompts at 20,000 tokens/s: the report's
   fit (:func:`bench.analysis.prefill.prefill_fits`, all rungs pooled) should land within 5%
   of 20,000 with its 95% interval covering it.
2. **Warm against cold in one run.** ``cache = ["cold", "warm"]`` with a 6,000-token shared
   prefix, prefill 10,000 tokens/s and ``cache_speedup = 4``: every warm request of every
   provider kind reports cached input tokens, no cold one does, and the warm median first
   token is earlier than the cold one by what the profile says the cache saves
   (cached tokens ÷ prefill × (1 − 1/speed-up)), within 10%.

Figures only: nothing here asserts (docs/metrics.md, "Figures only in reports"; docs/scale.md).

    python benchmarks/workload_targets.py                  # about 2 minutes
    python benchmarks/workload_targets.py --requests 20    # tighter intervals, longer
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from bench.analysis.metrics import measured
from bench.analysis.prefill import prefill_fits
from bench.results.records import load_results
from bench.run.runner import run_scenario

TARGETS = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
client = ["fast", "sdk"]
[target.emulator]
{profile}

[[target]]
provider = "openai"
model = "gpt-4.1"
client = ["fast", "sdk"]
[target.emulator]
{profile}

[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
client = ["fast", "sdk"]
[target.emulator]
{profile}
"""

LADDER = """
[request]
max_tokens = 8

[prompts]
input_tokens = [128, 2000, 8000, 32000]

[load]
concurrency = [1]
requests = {requests}
warmup = 1
"""

CACHE = """
[request]
max_tokens = 8

[prompts]
input_tokens = 8000
shared_prefix_tokens = 6000
cache = ["cold", "warm"]

[load]
concurrency = [2]
requests = {requests}
warmup = 1
"""

PREFILL = 20_000.0
CACHE_PREFILL = 10_000.0
SPEEDUP = 4.0


def _run(folder: Path, name: str, text: str) -> pd.DataFrame:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    frame = measured(load_results(run_scenario(path, out=folder / "results", emulate=True, quiet=True).run_dir))
    errors = int(frame["error_kind"].notna().sum())
    if errors:
        print(f"  ({errors} of {len(frame)} requests failed: {frame['error_message'].dropna().unique()[:3].tolist()})")
    return frame


def ladder(folder: Path, requests: int) -> None:
    profile = f"prefill_tokens_per_s = {PREFILL:g}"
    frame = _run(folder, "ladder", TARGETS.format(profile=profile) + LADDER.format(requests=requests))
    print(f"1. ladder 128/2,000/8,000/32,000 tokens, {requests} requests a rung, profile prefill {PREFILL:,.0f} tokens/s")
    print(f"   {'target':<28} {'client':<6} {'n':>3} {'fitted tokens/s':>16} {'95% CI':>20} {'error':>7} {'CI covers':>9}")
    for fit in prefill_fits(frame):
        low, high = fit.prefill_tokens_per_s_ci
        error = fit.prefill_tokens_per_s / PREFILL - 1
        covers = "yes" if low <= PREFILL <= high else "no"
        print(
            f"   {fit.target:<28} {fit.client:<6} {fit.n:>3} {fit.prefill_tokens_per_s:>16,.0f} "
            f"{f'{low:,.0f}–{high:,.0f}':>20} {error:>+7.1%} {covers:>9}"
        )


def cache(folder: Path, requests: int) -> None:
    profile = f"prefill_tokens_per_s = {CACHE_PREFILL:g}\ncache_speedup = {SPEEDUP:g}"
    frame = _run(folder, "cache", TARGETS.format(profile=profile) + CACHE.format(requests=requests))
    print(
        f"2. cold and warm in one run: 8,000-token prompts, 6,000-token shared prefix, prefill {CACHE_PREFILL:,.0f} "
        f"tokens/s, cache speed-up {SPEEDUP:g}, {requests} requests a state"
    )
    print(
        f"   {'target':<28} {'client':<6} {'cold p50':>9} {'warm p50':>9} {'saved':>8} {'expected':>9} "
        f"{'ratio':>6} {'warm cached>0':>14} {'cold cached>0':>14}"
    )
    warm_all = frame["shape"] == "warm"
    for (target, client), rows in frame.groupby(["target", "client"], sort=False):
        warm, cold = rows[rows["shape"] == "warm"], rows[rows["shape"] == "cold"]
        saved = float(cold["ttft_ms"].median() - warm["ttft_ms"].median())
        cached = float(warm["cached_input_tokens"].median())
        expected = cached / CACHE_PREFILL * (1 - 1 / SPEEDUP) * 1000
        print(
            f"   {target:<28} {client:<6} {cold['ttft_ms'].median():>7.0f}ms {warm['ttft_ms'].median():>7.0f}ms "
            f"{saved:>6.0f}ms {expected:>7.0f}ms {saved / expected:>6.2f} "
            f"{int((warm['cached_input_tokens'] > 0).sum()):>6} of {len(warm):<5} {int((cold['cached_input_tokens'] > 0).sum()):>6} of {len(cold):<5}"
        )
    print(f"   every warm request cached > 0: {bool((frame.loc[warm_all, 'cached_input_tokens'] > 0).all())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10, help="measured requests per rung or cache state")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ladder(Path(tmp), args.requests)
        cache(Path(tmp), args.requests)


if __name__ == "__main__":
    main()
