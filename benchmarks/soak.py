"""Soak: many concurrent streams for minutes against the emulator; nothing may leak or fail.

Runs one closed-loop level (default 1,000 streams for 120 s, lean client) against the built-in
emulator on loopback — it stops by itself — while a thread samples this process's memory
and open file descriptors every few seconds. Prints the samples and three verdicts:

- client-side errors: none (every request ``ok``; a provider-side fault would be data, but the
  emulator is told to inject none);
- memory flat after warm-up: RSS growth from the first quarter's mean to the last quarter's,
  with a stated bound;
- no leaked file descriptors: after the run, open descriptors are back to where they were
  before it (pooled connections are closed with their client at the end of the level).

    python benchmarks/soak.py                       # 1,000 streams, 120 s
    python benchmarks/soak.py --streams 200 --seconds 20 --client sdk
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

from bench.results.records import load_results
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario

#: RSS may grow this much (MB) from the first quarter of the run to the last and still be "flat":
#: allocator arenas settle over the first minutes; a leak of even 1 KB a request grows far more.
FLAT_MB = 20.0


def scenario_text(streams: int, seconds: float, client: str, tokens: int, tps: float) -> str:
    return textwrap.dedent(
        f"""
        [scenario]
        name = "soak"
        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-20b"
        client = "{client}"
        [target.emulator]
        ttft_ms = 100
        tokens_per_s = {tps}
        jitter = 0.1
        [request]
        max_tokens = {tokens}
        extra_body = {{ ignore_eos = true }}
        [load]
        concurrency = [{streams}]
        duration_s = {seconds}
        timeout_s = 60
        """
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--client", default="fast", choices=("fast", "sdk"))
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--tokens-per-s", type=float, default=20.0, help="per stream (the emulator shares this machine)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between memory/fd samples")
    args = parser.parse_args(argv)

    process = psutil.Process()
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        while not stop.wait(args.every):
            samples.append((time.monotonic() - start, process.memory_info().rss / 2**20, process.num_fds()))

    fds_before = process.num_fds()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soak.toml"
        path.write_text(scenario_text(args.streams, args.seconds, args.client, args.tokens, args.tokens_per_s))
        result = run_scenario(load_scenario(path), out=Path(tmp) / "results", emulate=True)
        stop.set()  # before loading the results: the frame is not the client's memory
        sampler.join()
        fds_after = process.num_fds()
        frame = load_results(result.run_dir)
        health = result.meta.client_health.levels if result.meta.client_health else []

    print(f"{'t (s)':>7} {'RSS MB':>8} {'open fds':>9}")
    for t, rss, fds in samples:
        print(f"{t:7.0f} {rss:8.1f} {fds:9d}")
    errors = frame[frame["status"] != "ok"]
    kinds = errors["error_kind"].value_counts().to_dict()
    print(f"\nrequests: {len(frame)} ({len(frame) / args.seconds:.0f}/s), errors: {len(errors)} {kinds or ''}")
    for level in health:
        print(
            f"client: CPU {level.cpu_util:.2f} of a core, loop lag p99 {level.loop_lag_ms_p99} ms, "
            f"{level.chunks_per_s:.0f} chunks/s, {level.kb_per_stream} KB per stream"
        )
    # Only while streams were running: the run's last step (the Parquet copy of the results)
    # loads every record at once, which is the results' memory, not the client's.
    during = [s for s in samples if s[0] <= args.seconds] or samples
    quarter = max(1, len(during) // 4)
    growth = sum(s[1] for s in during[-quarter:]) / quarter - sum(s[1] for s in during[:quarter]) / quarter if during else 0.0
    verdicts = [
        ("no client-side errors", len(errors) == 0),
        (f"memory flat after warm-up (RSS grew {growth:+.1f} MB first→last quarter; bound {FLAT_MB:g})", growth <= FLAT_MB),
        (f"no leaked file descriptors ({fds_before} before, {fds_after} after)", fds_after <= fds_before + 2),
    ]
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
