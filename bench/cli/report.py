"""``bench report`` and ``bench export``: publish or hand over a run's results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.app import app
from bench.results.records import resolve_run_dir


@app.command()
def report(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories (or a results root, meaning its newest run). Several runs give one report comparing them.",
            show_default=False,
            metavar="RUN",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output directory. Default: <run dir>/report for one run; reports/compare-<run id>--<run id>… for several.",
        ),
    ] = None,
    format: Annotated[  # noqa: A002 - the user-facing option is --format
        str,
        typer.Option(
            "--format",
            "-f",
            help="md (README.md + PNG charts), html (report.html: one self-contained file, charts embedded) or both.",
        ),
    ] = "both",
) -> None:
    """Render a report: markdown with PNG charts (README.md plus images, relative links) and a
    self-contained HTML file (report.html). With several runs, each later run is compared with the
    first as the CI gate judges it (give BASE CAND for "this week vs last week")."""
    from bench.report import default_out_dir, parse_formats, render_reports

    formats = parse_formats(format)
    run_dirs = [resolve_run_dir(r) for r in runs]
    written = render_reports(run_dirs, out if out is not None else default_out_dir(run_dirs), formats)
    for path in written.values():
        typer.echo(f"report: {path}")


@app.command()
def export(
    run: Annotated[
        Path, typer.Argument(help="Run directory (or a results root, meaning its newest run).", show_default=False, metavar="RUN")
    ],
    format: Annotated[  # noqa: A002 - the user-facing option is --format
        str,
        typer.Option("--format", "-f", help="csv | parquet | json | pytest-benchmark | vllm"),
    ] = "csv",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory (default: the run directory).")] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Write even into another run's directory, or over files an earlier export did not write."),
    ] = False,
    metric_percentiles: Annotated[
        str,
        typer.Option(
            "--metric-percentiles",
            help="vllm format: comma-separated percentiles of each latency, as vLLM's option of that name (e.g. 50,90,99).",
        ),
    ] = "99",
) -> None:
    """Write requests.<ext> and aggregates.<ext> (with costs), a pytest-benchmark JSON, or vLLM result files
    (vllm bench serve --save-result: one per target and level) for one run."""
    from bench.errors import BenchError
    from bench.report.export import export_run

    try:
        percentiles = [float(p) for p in metric_percentiles.split(",") if p.strip()]
    except ValueError:
        raise BenchError(
            f"--metric-percentiles {metric_percentiles!r}: expected numbers separated by commas (e.g. 50,90,99)"
        ) from None
    if not percentiles or not all(0 <= p <= 100 for p in percentiles):
        raise BenchError(f"--metric-percentiles {metric_percentiles!r}: each must be between 0 and 100")
    for path in export_run(run, format, out, force=force, percentiles=percentiles):
        typer.echo(f"wrote {path}")


@app.command()
def trend(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run directories, or a results root meaning every run in it. Put in time order whatever order they come in.",
            show_default=False,
            metavar="RUN",
        ),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", "-b", help="A saved baseline (name or directory) to mark, and to judge the newest run against."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("reports/trend"),
    format: Annotated[  # noqa: A002 - the user-facing option is --format
        list[str] | None,
        typer.Option("--format", "-f", help="md (README.md + trend.png), html (report.html) or json (trend.json); repeatable."),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help='Also append the markdown, without the chart, to FILE (e.g. "$GITHUB_STEP_SUMMARY").'),
    ] = None,
    threshold: Annotated[
        str, typer.Option("--threshold", "-t", help="Smallest change of a median that counts, e.g. 10% (as bench compare).")
    ] = "10%",
    min_samples: Annotated[
        int | None, typer.Option("--min-samples", help="Successful requests a side needed for a verdict (as bench compare).")
    ] = None,
    baselines: Annotated[Path, typer.Option("--baselines", help="Where saved baselines live.", envvar="BENCH_BASELINES")] = Path(
        "baselines"
    ),
) -> None:
    """Each headline figure (TTFT p50/p99, output tokens/s p50, end-to-end p50, error rate) per
    target and level over many runs in time order, as a table and a chart, with the CI gate's
    verdict on every step (the code of bench compare) and the baseline marked."""
    from bench.fmt import parse_fraction
    from bench.gate.baseline import load_side
    from bench.gate.compare import DEFAULT_MIN_SAMPLES, CompareSettings
    from bench.gate.trend import GATE_METRICS, compute_trend, load_runs
    from bench.report.trend import append_summary, render_trend

    settings = CompareSettings(
        metrics=GATE_METRICS,
        threshold=parse_fraction(threshold),
        min_samples=DEFAULT_MIN_SAMPLES if min_samples is None else min_samples,
    )
    sides = load_runs(runs)
    base = load_side(baseline, root=baselines) if baseline is not None else None
    result = compute_trend(sides, baseline=base, settings=settings)
    for path in render_trend(result, out, tuple(dict.fromkeys(format or ["md"]))).values():
        typer.echo(f"trend: {path}")
    if summary is not None:
        append_summary(result, summary)
    latest = result.latest
    typer.echo(f"newest step: {latest.headline}" if latest is not None else "one run: nothing to compare yet")
