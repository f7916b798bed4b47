"""How fast a run with no Parquet copy (killed mid-run) loads: ``requests.jsonl`` → frame.

Writes N records (12 inter-token gaps each, like a short streamed answer) the way the runner
does, then times ``bench.load_results`` on the directory. Prints rows per second.

    python benchmarks/load_speed.py                 # 100,000 and 1,000,000 rows
    python benchmarks/load_speed.py --rows 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.results.records import REQUESTS_FILE, RequestRecord, load_results


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        run_id="20260925-100000-load-0000", target="groq/openai/gpt-oss-120b", provider="groq", model="openai/gpt-oss-120b",
        load_mode="concurrency", load_level=16.0, request_index=i, warmup=False, stream=True, client="fast",
        started_at_ns=1_790_330_400_000_000_000 + i, sdk_prep_ms=0.05, ttfb_ms=41.2, ttft_ms=75.3 + i % 17, ttfa_ms=75.3,
        e2e_ms=330.1, output_tokens=13, input_tokens=64, token_source="usage", content_chunks=13,
        itl_ms=[1.25 + (i + k) % 7 * 0.01 for k in range(12)], output_tps=800.0, tpot_ms=1.25, response_100_ms=200.3,
        finish_reason="length", request_id=f"req_{i:08d}",
    )  # fmt: skip


def rows_per_second(rows: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        with open(run_dir / REQUESTS_FILE, "w", encoding="utf-8") as fh:
            for i in range(rows):
                fh.write(_record(i).to_json() + "\n")
        start = time.perf_counter()
        frame = load_results(run_dir)
        elapsed = time.perf_counter() - start
        assert len(frame) == rows
    return rows / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)
    for rows in args.rows:
        print(f"{rows:>10,} rows: {rows_per_second(rows):>10,.0f} rows/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
