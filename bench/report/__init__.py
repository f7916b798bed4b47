"""Publishable reports: ``README.md`` plus PNG charts beside it, from one run or several.

``render_report(run_dirs, out_dir)`` is the whole interface: ``bench run`` calls it at the
end of a run (into ``<run dir>/report/``) and ``bench report`` calls it for any runs later.
Several runs give one report comparing them (rows per run × target).
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.report.data import ReportData, build

REPORT_FILE = "README.md"


def default_out_dir(run_dirs: list[Path], reports_root: Path = Path("reports")) -> Path:
    """``<run dir>/report`` for one run; ``reports/compare-<id>--<id>…`` for several."""
    if len(run_dirs) == 1:
        return run_dirs[0] / "report"
    return reports_root / ("compare-" + "--".join(d.name for d in run_dirs))


def render_report(run_dirs: list[Path], out_dir: Path) -> Path:
    """Render the report for ``run_dirs`` into ``out_dir``; returns the README.md path.

    The markdown is byte-identical for the same runs (no render-time timestamps, stable
    ordering, fixed number formats), and so are the charts.
    """
    from bench.report.charts import render_charts  # matplotlib is imported only when drawing
    from bench.report.markdown import render_markdown

    if not run_dirs:
        raise BenchError("report: give at least one run directory")
    seen: set[Path] = set()
    for run_dir in run_dirs:
        key = Path(run_dir).resolve()
        if key in seen:
            raise BenchError(f"{run_dir}: given twice; each run may appear once in a report")
        seen.add(key)
    data = build([Path(d) for d in run_dirs])
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"{out_dir}: cannot create the report directory ({exc.strerror})") from None
    if not out_dir.is_dir():  # pragma: no cover - mkdir(exist_ok) raises for files already
        raise BenchError(f"{out_dir}: not a directory")
    charts = render_charts(data, out_dir)
    path = out_dir / REPORT_FILE
    path.write_text(render_markdown(data, charts), encoding="utf-8")
    return path


__all__ = ["REPORT_FILE", "ReportData", "default_out_dir", "render_report"]
