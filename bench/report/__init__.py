"""Publishable reports: ``README.md`` plus PNG charts beside it, and ``report.html`` (one
self-contained file, charts embedded), from one run or several.

``render_report(run_dirs, out_dir)`` is the whole interface: ``bench run`` calls it at the
end of a run (into ``<run dir>/report/``) and ``bench report`` calls it for any runs later.
Several runs give one report comparing them (rows per run × target, and each run against the
first as the CI gate judges it). ``formats`` picks ``md``, ``html`` or both (the default).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from bench.errors import BenchError, cannot_write, writing
from bench.report.data import ReportData, build

REPORT_FILE = "README.md"
HTML_FILE = "report.html"
FORMATS = ("md", "html")


def default_out_dir(run_dirs: list[Path], reports_root: Path = Path("reports")) -> Path:
    """``<run dir>/report`` for one run; ``reports/compare-<id>--<id>…`` for several."""
    if len(run_dirs) == 1:
        return run_dirs[0] / "report"
    return reports_root / ("compare-" + "--".join(d.name for d in run_dirs))


def parse_formats(value: str) -> tuple[str, ...]:
    """``md``, ``html`` or ``both`` (also ``md,html``) -> the formats to write."""
    words = [w.strip().lower() for w in value.replace("+", ",").split(",") if w.strip()]
    out: list[str] = []
    for word in words:
        for fmt in FORMATS if word == "both" else (word,):
            if fmt not in FORMATS:
                raise BenchError(f"--format {value!r}: choose md, html or both")
            if fmt not in out:
                out.append(fmt)
    if not out:
        raise BenchError(f"--format {value!r}: choose md, html or both")
    return tuple(out)


def render_report(run_dirs: list[Path], out_dir: Path, formats: Iterable[str] = FORMATS) -> Path:
    """Render the report for ``run_dirs`` into ``out_dir``; returns the README.md path (the
    report.html path when only HTML was asked for). See :func:`render_reports`."""
    written = render_reports(run_dirs, out_dir, formats)
    return written.get("md") or written["html"]


def render_reports(run_dirs: list[Path], out_dir: Path, formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Render the report for ``run_dirs`` into ``out_dir``: {format: path written}.

    ``md`` writes README.md with the PNG charts beside it; ``html`` writes report.html, the same
    text with the same charts embedded (HTML alone draws the charts in a scratch directory, so
    ``out_dir`` gets the one file). Both are byte-identical for the same runs (no render-time
    timestamps, stable ordering, fixed number formats), and so are the charts.
    """
    from bench.report.charts import render_charts  # matplotlib is imported only when drawing
    from bench.report.markdown import render_markdown

    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise BenchError(f"report format {unknown[0] if unknown else ''!r}: choose md, html or both")
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
        raise BenchError(f"{out_dir}: cannot create the report directory ({cannot_write(exc).problem})") from None
    if not out_dir.is_dir():  # pragma: no cover - mkdir(exist_ok) raises for files already
        raise BenchError(f"{out_dir}: not a directory")
    written: dict[str, Path] = {}
    with writing(out_dir), tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        chart_dir = out_dir if "md" in formats else Path(scratch)
        charts = render_charts(data, chart_dir)
        text = render_markdown(data, charts)
        if "md" in formats:
            written["md"] = out_dir / REPORT_FILE
            written["md"].write_text(text, encoding="utf-8")
        if "html" in formats:
            from bench.report.html import render_html

            images = {name: (chart_dir / name).read_bytes() for name in charts.values()}
            written["html"] = out_dir / HTML_FILE
            written["html"].write_text(render_html(text, images), encoding="utf-8")
    return written


__all__ = [
    "FORMATS",
    "HTML_FILE",
    "REPORT_FILE",
    "ReportData",
    "default_out_dir",
    "parse_formats",
    "render_report",
    "render_reports",
]
