"""How fast a run with no Parquet copy (killed mid-run) loads: ``requests.jsonl`` → frame.

Writes N records (``--gaps`` inter-token gaps each: 12 is a short streamed answer, 255 a
256-token one) the way the runner does, then times, on the same file and in the same run,
``bench.load_results`` on the directory and pyarrow's own JSON reader
(``pyarrow.json.read_json``) alone, and prints both and their ratio. The target is a ratio
of at most 2: bench adds the schema's types and Python lists to what Arrow parses. Each
figure is the best of ``--repeat`` tries (timings on a shared machine are noisy).

    python benchmarks/load_speed.py                 # 100,000 and 1,000,000 rows
    python benchmarks/load_speed.py --rows 100000 --gaps 255
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.json as pj

from bench.results.records import REQUESTS_FILE, RequestRecord, load_results


def _record(i: int, gaps: int) -> RequestRecord:
    return RequestRecord(
        run_id="20260925-100000-load-0000", target="groq/openai/gpt-oss-120b", provider="groq", model="openai/gpt-oss-120b",
        load_mode="concurrency", load_level=16.0, request_index=i, warmup=False, stream=True, client="fast",
        started_at_ns=1_790_330_400_000_000_000 + i, sdk_prep_ms=0.05, ttfb_ms=41.2, ttft_ms=75.3 + i % 17, ttfa_ms=75.3,
        e2e_ms=330.1, output_tokens=gaps + 1, input_tokens=64, token_source="usage", content_chunks=gaps + 1,
        itl_ms=[1.25 + (i + k) % 7 * 0.01 for k in range(gaps)], output_tps=800.0, tpot_ms=1.25, response_100_ms=200.3,
        finish_reason="length", request_id=f"req_{i:08d}",
    )  # fmt: skip


def _best(action: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def measure(rows: int, gaps: int, repeat: int) -> tuple[float, float]:
    """Seconds to load ``rows`` records with bench and with pyarrow's JSON reader alone."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        path = run_dir / REQUESTS_FILE
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(rows):
                fh.write(_record(i, gaps).to_json() + "\n")
        assert len(load_results(run_dir)) == rows
        arrow = _best(lambda: pj.read_json(path), repeat)
        bench = _best(lambda: load_results(run_dir), repeat)
    return bench, arrow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--gaps", type=int, default=12, help="inter-token gaps per record (default 12)")
    parser.add_argument("--repeat", type=int, default=3, help="tries per figure; the best is printed (default 3)")
    args = parser.parse_args(argv)
    for rows in args.rows:
        bench, arrow = measure(rows, args.gaps, args.repeat)
        print(
            f"{rows:>10,} rows, {args.gaps} gaps each: bench.load_results {bench:6.2f} s ({rows / bench:>9,.0f} rows/s); "
            f"pyarrow.json.read_json {arrow:6.2f} s; ratio {bench / arrow:.2f} (target <= 2)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
