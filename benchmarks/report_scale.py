"""How long a full report takes for 10k, 100k and 1M request rows (the issue's budget: 1M ≤ 20 s).

    python benchmarks/report_scale.py                 # 10k, 100k, 1M rows
    python benchmarks/report_scale.py --rows 100000   # just one size

Each size is a synthetic run (tests/synthetic.py): 3 targets (Groq, OpenAI, Anthropic) × 3
concurrency levels, 2 % errors, ~12 inter-token gaps per request, written the way a finished run
is (requests.jsonl plus the columnar requests.parquet). Writing it is set-up and is not timed.
The timed part is ``render_report`` end to end as ``bench run`` calls it (markdown and HTML) — load (Parquet), aggregates and bootstrap CIs,
SLO verdicts, every chart and the markdown — with its three stages also timed on their own.
Cost should grow linearly: the last column (seconds per 100k rows) should stay roughly flat.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic-run helper lives with the tests

from tests.synthetic import DEFAULT_TARGETS, write_synthetic_run  # noqa: E402

LEVELS = (1, 4, 16)
SLO = {"ttft_p50_ms": 100, "output_tps_p50": 500, "response_100_ms_p50": 500, "error_rate_max": 0.01, "request_ttft_ms": 200}


def measure(rows: int, root: Path) -> dict[str, float]:
    from bench.analysis.metrics import aggregate, evaluate_slo
    from bench.report import render_report
    from bench.report.charts import render_charts
    from bench.report.data import build
    from bench.report.markdown import render_markdown
    from bench.results.records import load_results
    from bench.results.run_file import read_run_meta
    from bench.scenario.slo import slo_from_table

    per_group = rows // (len(DEFAULT_TARGETS) * len(LEVELS))
    t = time.perf_counter()
    run = write_synthetic_run(root, n=per_group, levels=LEVELS, warmup=0, max_tokens=16, error_share=0.02, slo=SLO, parquet=True)
    setup_s = time.perf_counter() - t

    t, cpu = time.perf_counter(), time.process_time()
    readme = render_report([run], run / "report")
    total_s = time.perf_counter() - t
    cpu_s = time.process_time() - cpu
    assert readme.is_file()

    from bench.report import render_reports

    t = time.perf_counter()
    page = render_reports([run], run / "report-html", ("html",))["html"]
    html_s = time.perf_counter() - t
    html_mb = page.stat().st_size / 1e6

    # The same work in stages, for where-the-time-goes.
    t = time.perf_counter()
    frame = load_results(run)
    load_s = time.perf_counter() - t
    slo = slo_from_table(read_run_meta(run).slo_table)
    t = time.perf_counter()
    aggregate(frame, slo)
    evaluate_slo(frame, slo)
    metrics_s = time.perf_counter() - t
    t = time.perf_counter()
    data = build([run])
    charts = render_charts(data, run / "report")
    render_markdown(data, charts)
    build_render_s = time.perf_counter() - t - load_s - metrics_s  # build() loads and aggregates again
    return {
        "rows": len(frame),
        "setup_s": setup_s,
        "load_s": load_s,
        "metrics_s": metrics_s,
        "charts_md_s": max(0.0, build_render_s),
        "total_s": total_s,
        "cpu_s": cpu_s,
        "html_s": html_s,
        "html_mb": html_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()

    t = time.perf_counter()
    import bench.report.charts  # noqa: F401 - matplotlib's import is a one-off, reported apart
    import bench.report.markdown  # noqa: F401

    print(f"imports (matplotlib, pandas, bench): {time.perf_counter() - t:.2f} s, once per process")
    print("report s is wall time end to end; cpu s is this process's CPU time for it (numpy/arrow threads")
    print("included): on a busy machine the wall time grows, the CPU time much less.")
    print(
        f"{'rows':>10} {'set-up s':>9} {'report s':>9} {'cpu s':>7} {'load s':>7} {'metrics s':>10} "
        f"{'charts+md s':>12} {'s/100k rows':>12} {'html s':>7} {'html MB':>8}"
    )
    for rows in args.rows:
        tmp = Path(tempfile.mkdtemp(prefix="bench-report-scale-"))
        try:
            r = measure(rows, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(
            f"{r['rows']:>10,} {r['setup_s']:>9.1f} {r['total_s']:>9.2f} {r['cpu_s']:>7.2f} {r['load_s']:>7.2f} "
            f"{r['metrics_s']:>10.2f} "
            f"{r['charts_md_s']:>12.2f} {r['total_s'] / r['rows'] * 100_000:>12.2f} {r['html_s']:>7.2f} "
            f"{r['html_mb']:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
