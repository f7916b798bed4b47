"""How late a replayed trace's requests leave: start lag per request, on the emulator.

A trace replay sends each line when it is due and builds its prompt (up to tens of thousands
of words, block by block) as it goes, so prompt building, request encoding and the event loop
all show up as start lag (``start_lag_ms``: how long after its due time the request left).
This script writes a Mooncake-format trace of N requests (seeded; prompts of 500–16,000
tokens sharing prefix blocks), replays it against the built-in emulator with the lean client,
and prints the start-lag percentiles and the client's health.

    python benchmarks/trace_lag.py                       # 1,000 requests at 20/s
    python benchmarks/trace_lag.py --requests 2000 --rate 40
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from bench.analysis.metrics import measured
from bench.results.records import load_results
from bench.results.run_file import read_run_meta
from bench.run.runner import run_scenario


def write_trace(path: Path, requests: int, rate: float, seed: int) -> None:
    rng = random.Random(seed)
    shared = [list(range(i * 100, i * 100 + n)) for i, n in enumerate((4, 8, 16))]
    t, block = 0.0, 10_000
    with path.open("w", encoding="utf-8") as out:
        for _ in range(requests):
            t += rng.expovariate(rate) * 1000
            own = rng.randint(1, 8)
            ids = (rng.choice(shared) if rng.random() < 0.7 else []) + list(range(block, block + own))
            block += own
            row = {
                "timestamp": round(t, 3),
                "input_length": 512 * (len(ids) - 1) + rng.randint(64, 512),
                "output_length": rng.randint(16, 64),
                "hash_ids": ids,
            }
            out.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="mean arrivals per second in the trace")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_trace(folder / "trace.jsonl", args.requests, args.rate, args.seed)
        scenario = folder / "trace.toml"
        scenario.write_text(
            textwrap.dedent(
                """
                [[target]]
                provider = "groq"
                model = "openai/gpt-oss-120b"
                [target.emulator]
                prefill_tokens_per_s = 200000

                [load]
                trace = "trace.jsonl"
                timeout_s = 60
                """
            ),
            encoding="utf-8",
        )
        result = run_scenario(scenario, out=folder / "results", emulate=True)
        frame = measured(load_results(result.run_dir))
        lag = frame["start_lag_ms"].to_numpy(dtype=float)
        inputs = frame["input_tokens_asked"].to_numpy(dtype=float)
        health = read_run_meta(Path(result.run_dir)).client_health
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{len(frame)} requests, prompts {inputs.min():.0f}–{inputs.max():.0f} tokens asked (median {np.median(inputs):.0f})")
    print(f"errors: {int(frame['error_kind'].notna().sum())}")
    print("start lag ms: " + ", ".join(f"p{p} {np.percentile(lag, p):.3f}" for p in (50, 90, 99)) + f", max {lag.max():.3f}")
    if health is not None:
        for level in health.levels:
            print(f"client: CPU {level.cpu_util:.2f} of a core, event-loop lag p99 {level.loop_lag_ms_p99} ms")


if __name__ == "__main__":
    main()
