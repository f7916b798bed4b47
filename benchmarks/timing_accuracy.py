"""How far the harness's TTFT and time-per-token are from the truth, through the real SDKs.

The emulator logs when it wrote each content chunk (``--chunk-log``, CLOCK_MONOTONIC, the
same clock as the harness). With jitter 0 the server's own timing is exact, so:

    TTFT error = harness ttft_ms − (first content chunk written − request read), per request
    TPOT error = harness tpot_ms ÷ server mean gap between content chunks − 1

Printed per provider SDK × concurrency × tokens/s, with ``sdk_prep_ms`` (the SDK's own
request-building cost, kept out of TTFT by stamping t0 at the transport) beside it.

    python benchmarks/timing_accuracy.py            # full grid (about 6 minutes)
    python benchmarks/timing_accuracy.py --quick    # one small cell per SDK
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from bench.records import load_results
from bench.runner import run_scenario
from bench.scenario import load_scenario

PROVIDERS = {"groq": "llama-3.1-8b-instant", "openai": "gpt-4.1", "anthropic": "claude-haiku-5-5"}


def scenario_text(provider: str, model: str, concurrency: int, tps: float, tokens: int, n: int) -> str:
    return textwrap.dedent(
        f"""
        [scenario]
        name = "accuracy"
        [[target]]
        provider = "{provider}"
        model = "{model}"
        [target.emulator]
        ttft_ms = 50
        tokens_per_s = {tps}
        jitter = 0
        [request]
        max_tokens = {tokens}
        extra_body = {{ ignore_eos = true }}
        [load]
        concurrency = [{concurrency}]
        requests = {n}
        warmup = {concurrency}
        """
    )


def measure_cell(provider: str, concurrency: int, tps: float, tokens: int, n: int, work: Path) -> dict[str, float]:
    chunk_log = work / f"chunks-{provider}-{concurrency}-{tps:g}.jsonl"
    path = work / "scenario.toml"
    path.write_text(scenario_text(provider, PROVIDERS[provider], concurrency, tps, tokens, n))
    result = run_scenario(load_scenario(path), out=work / "results", emulate=True, emulator_chunk_log=chunk_log)
    frame = load_results(result.run_dir)
    frame = frame[(~frame["warmup"]) & (frame["status"] == "ok")]
    truth = {}
    for line in chunk_log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("first_content_ns"):
            truth[entry["request_id"]] = entry
    ttft_err, tpot_err = [], []
    for row in frame.itertuples():
        entry = truth.get(row.request_id)
        if entry is None:
            continue
        ttft_truth = (entry["first_content_ns"] - entry["received_ns"]) / 1e6
        ttft_err.append(row.ttft_ms - ttft_truth)
        n_chunks = entry["n_content_chunks"]
        if n_chunks > 1 and row.tpot_ms == row.tpot_ms:
            gap = (entry["last_content_ns"] - entry["first_content_ns"]) / 1e6 / (n_chunks - 1)
            tpot_err.append(row.tpot_ms / gap - 1)
    return {
        "n": len(ttft_err),
        "ttft_err_p50": statistics.median(ttft_err) if ttft_err else float("nan"),
        "ttft_err_p90": sorted(ttft_err)[int(0.9 * (len(ttft_err) - 1))] if ttft_err else float("nan"),
        "tpot_err_mean_pct": 100 * statistics.fmean(tpot_err) if tpot_err else float("nan"),
        "sdk_prep_p50": float(frame["sdk_prep_ms"].median()),
        "ttfb_p50": float(frame["ttfb_ms"].median()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small cell per SDK")
    parser.add_argument("--providers", default="groq,openai,anthropic")
    args = parser.parse_args(argv)
    grid = [(1, 100.0), (1, 800.0), (8, 100.0), (8, 800.0), (16, 100.0), (16, 800.0)]
    tokens, n = 120, 30
    if args.quick:
        grid, tokens, n = [(1, 800.0), (8, 100.0)], 60, 8
    print(f"{'sdk':10} {'conc':>4} {'tok/s':>6} {'n':>4} {'TTFT err p50 ms':>16} {'p90 ms':>8} {'TPOT err %':>11} {'sdk_prep ms':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for provider in args.providers.split(","):
            for concurrency, tps in grid:
                cell = measure_cell(provider, concurrency, tps, tokens, n, Path(tmp))
                print(
                    f"{provider:10} {concurrency:>4} {tps:>6g} {cell['n']:>4} {cell['ttft_err_p50']:>16.2f} "
                    f"{cell['ttft_err_p90']:>8.2f} {cell['tpot_err_mean_pct']:>11.2f} {cell['sdk_prep_p50']:>12.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
