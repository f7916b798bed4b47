"""How long ``bench trend`` takes over a year of weekly runs: 52 runs of 1,000 requests each.

Builds the runs synthetically (``tests/synthetic.py``: 2 targets × 2 concurrency levels × 250
measured requests, one week apart, each with the Parquet copy a finished run has; a slower
week in the middle for the gate to find), then times the three stages of ``bench trend`` —
loading the runs, computing the figures and the gate's 51 step verdicts, rendering the
markdown and the chart — and prints them with the total. The target is a total of at most
5 s. Each figure is the best of ``--repeat`` tries (timings on a shared machine are noisy).

    python benchmarks/trend_speed.py
    python benchmarks/trend_speed.py --runs 52 --requests 1000 --jsonl-only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.gate.trend import compute_trend, load_runs
from bench.report.trend import render_trend
from tests.synthetic import write_synthetic_run

TARGETS = ("groq/openai/gpt-oss-120b", "openai/gpt-4.1")
LEVELS = (1, 4)
FIRST = datetime(2025, 12, 1, 6, 0, tzinfo=UTC)


def build_runs(root: Path, runs: int, requests: int, *, parquet: bool) -> None:
    per_group = max(1, requests // (len(TARGETS) * len(LEVELS)))
    for week in range(runs):
        when = FIRST + timedelta(weeks=week)
        write_synthetic_run(
            root,
            run_id=when.strftime("%Y%m%d-%H%M%S") + f"-weekly-{week:04x}",
            targets=TARGETS,
            levels=LEVELS,
            n=per_group,
            seed=week,
            ttft_scale=1.3 if week == runs // 2 else 1.0,
            parquet=parquet,
            started_ns=int(when.timestamp() * 1e9),
        )


def _best(repeat: int, action: object) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = action()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=52)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per run (default 1000)")
    parser.add_argument("--jsonl-only", action="store_true", help="runs without their Parquet copy (killed runs)")
    parser.add_argument("--repeat", type=int, default=3, help="tries per stage; the best is printed (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        build_runs(root, args.runs, args.requests, parquet=not args.jsonl_only)
        load_s, sides = _best(args.repeat, lambda: load_runs([str(root)]))
        compute_s, trend = _best(args.repeat, lambda: compute_trend(sides))  # type: ignore[arg-type]
        render_s, _ = _best(args.repeat, lambda: render_trend(trend, Path(tmp) / "trend", ("md",)))  # type: ignore[arg-type]
        steps = trend.steps  # type: ignore[attr-defined]
        regressions = sum(step.status == "regression" for step in steps)
    total = load_s + compute_s + render_s
    print(
        f"{args.runs} runs x {args.requests:,} requests ({'JSONL only' if args.jsonl_only else 'with Parquet copies'}): "
        f"load {load_s:.2f} s, figures and {len(steps)} gate steps {compute_s:.2f} s, markdown + chart {render_s:.2f} s; "
        f"total {total:.2f} s (target <= 5 s); {regressions} step(s) judged a regression"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
