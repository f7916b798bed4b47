"""The report's README.md: :func:`render_markdown` builds the report's model once
(:func:`bench.report.analyse.build_model`) and assembles the sections, each formatted by the
module named after it (``markdown_header``, ``markdown_headline``, ``markdown_verdicts``,
``markdown_cost``, ``markdown_load``, ``markdown_method``).

Nothing here reads a clock or iterates an unordered collection, so the same runs always give
the same bytes (reports go into git; a diff must mean the numbers changed).
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.fmt import usd
from bench.report.analyse import build_model
from bench.report.data import ReportData
from bench.report.markdown_answer import answer_lines
from bench.report.markdown_cost import cost_section, sdk_cost_section
from bench.report.markdown_header import banner, run_lines, runs_compared, saturation_warning, title
from bench.report.markdown_headline import headline_section
from bench.report.markdown_load import errors_section, load_section, over_time_section, time_section
from bench.report.markdown_method import method_section
from bench.report.markdown_verdicts import run_to_run_section, slo_section
from bench.report.markdown_words import date as _date
from bench.report.markdown_workload import workload_section
from bench.report.model import ReportModel


def render_model(model: ReportModel, charts: Mapping[str, str]) -> str:
    """The README.md text of ``model``, with the charts in ``charts`` ({key: file name}) linked."""
    multi = model.multi
    lines = title(model) + banner(model) + saturation_warning(model)
    lines += answer_lines(model.answer)
    lines += run_lines(model)
    if model.runs_compared is not None:
        lines += runs_compared(model, model.runs_compared)
    lines += headline_section(model.headline, multi, charts)
    if model.run_to_run is not None:
        lines += run_to_run_section(model.run_to_run, model.short_answers)
    if model.cost is not None:
        lines += cost_section(model.cost, multi)
    if model.slo is not None:
        lines += slo_section(model.slo, multi, model.short_answers)
    lines += load_section(model.load, multi, charts)
    lines += workload_section(model.workload, multi, charts)
    lines += sdk_cost_section(model.sdk_costs, multi)
    lines += over_time_section(model.over_time, charts)
    lines += time_section(model.time_split, model.reasoning, multi, charts)
    lines += errors_section(model.errors, model.warm_failed, multi)
    lines += method_section(model.method, model.health, multi)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def render_markdown(data: ReportData, charts: Mapping[str, str]) -> str:
    """README.md for ``data``: the model built once, then formatted."""
    return render_model(build_model(data), charts)


__all__ = ["_date", "build_model", "render_markdown", "render_model", "usd"]
