"""Chart defects a reader sees at a glance, each caught on the rendered figure.

Every check reads what the renderer drew (window extents in pixels), not what the code meant
to draw: tick labels equal their tick values, no two texts overlap, the legend lies inside
the figure, and every series is visible (not hidden under another line, not a run that looks
like another, not a median reduced to slashes, not a target left out without a word).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import MultipleLocator

from bench.report import chart_distributions, chart_load, chart_time, charts
from bench.report.data import ReportData, build
from tests.synthetic import write_synthetic_run

SLO = {"request_ttft_ms": 2000}
#: The chart writer itself (tests wrap it to keep each figure).
SAVE = charts._save


def _draw_all(data: ReportData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Figure]:
    """Every chart of ``data``, rendered; the figures as the PNGs were written from them."""
    figures: dict[str, Figure] = {}

    def keep(fig: Figure, path: Path, data: ReportData) -> None:
        SAVE(fig, path, data)
        fig.canvas.draw()
        figures[path.stem] = fig

    for module in (chart_distributions, chart_load, chart_time):  # each kind of chart saves through its own name
        monkeypatch.setattr(module, "_save", keep)
    charts.render_charts(data, tmp_path)
    assert figures
    return figures


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("charts")
    one = write_synthetic_run(root, run_id="20260925-100000-synthetic-0001", levels=(1, 8), n=30, slo=SLO)
    two = write_synthetic_run(root, run_id="20260926-100000-synthetic-0002", levels=(1, 8), n=30, seed=1, slo=SLO)
    # Many short levels, targets one after another: level starts crowd the top of the chart over time.
    crowded = write_synthetic_run(root, run_id="20260927-100000-synthetic-0003", levels=(1, 2, 4, 8, 16), n=4, warmup=0, slo=SLO)
    return one, two, crowded


@pytest.fixture(scope="module")
def reports(runs: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Figure]]:
    out: dict[str, dict[str, Figure]] = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, dirs in (("one", [runs[0]]), ("two", [runs[0], runs[1]]), ("crowded", [runs[2]])):
            out[name] = _draw_all(build(dirs), tmp_path_factory.mktemp(name), mp)
    return out


def _all_figures(reports: dict[str, dict[str, Figure]]) -> list[tuple[str, Figure]]:
    return [(f"{report}/{chart}", fig) for report, figs in reports.items() for chart, fig in figs.items()]


# --------------------------------------------------------------------------- tick labels


def _number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("%", "").replace("\u2212", "-").strip()
    try:
        return float(cleaned)
    except ValueError:
        return None


def test_the_tick_formatter_never_rounds() -> None:
    for value, text in ((2.5, "2.5"), (7.5, "7.5"), (1.65, "1.65"), (12.5, "12.5"), (1000, "1,000"), (0, "0"),
                        (0.3000000000000000444, "0.3"), (0.0005, "0.0005"), (2_000_000, "2,000,000")):  # fmt: skip
        assert charts._exact(value) == text


def test_tick_labels_equal_tick_values(reports: dict[str, dict[str, Figure]]) -> None:
    checked = 0
    for name, fig in _all_figures(reports):
        for ax in fig.axes:
            for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                lo, hi = min(limits), max(limits)
                for tick in axis.get_major_ticks():
                    value, text = tick.get_loc(), tick.label1.get_text()
                    if not tick.label1.get_visible() or not text or not lo <= value <= hi:
                        continue
                    shown = _number(text)
                    if shown is None:
                        continue  # a category (a target's name), not a number
                    checked += 1
                    assert shown == pytest.approx(value, rel=1e-9, abs=1e-12), f"{name}: tick {value!r} labelled {text!r}"
    assert checked > 50


def test_a_requests_axis_in_steps_of_2_5_reads_2_5(tmp_path: Path) -> None:
    # The defect as seen: ticks every 2.5 req/s labelled 0, 2, 5, 8, 10, 12.
    fig, (ax,) = charts._figure(4.0, 3.0)
    ax.plot([1, 2], [0.4, 12.2])
    ax.set_ylim(0, 13)
    ax.yaxis.set_major_locator(MultipleLocator(2.5))  # what matplotlib picks for some ranges
    ax.yaxis.set_major_formatter(charts._COMMA)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert "2.5" in labels and "7.5" in labels


# --------------------------------------------------------------------------- text and legends


def _texts(fig: Figure) -> list[Text]:
    """Every text the renderer drew: tick labels only of ticks inside the axes' view."""
    renderer = fig.canvas.get_renderer()
    ticks: set[int] = set()
    drawn_ticks: set[int] = set()
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(limits), max(limits)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                for label in (tick.label1, tick.label2):
                    ticks.add(id(label))
                    if lo <= tick.get_loc() <= hi:
                        drawn_ticks.add(id(label))
    out = []
    for text in fig.findobj(Text):
        if not isinstance(text, Text) or not text.get_visible() or not text.get_text().strip():
            continue
        if id(text) in ticks and id(text) not in drawn_ticks:
            continue
        if text.get_window_extent(renderer).width < 1:
            continue
        out.append(text)
    return out


def test_no_two_texts_overlap(reports: dict[str, dict[str, Figure]]) -> None:
    for name, fig in _all_figures(reports):
        renderer = fig.canvas.get_renderer()
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _texts(fig)]
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
            width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert width <= 1 or height <= 1, f"{name}: {a!r} overlaps {b!r}"


def test_over_time_labels_every_level_start_or_says_it_left_some_out(reports: dict[str, dict[str, Figure]]) -> None:
    fig = reports["crowded"]["over_time"]
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert {"c=1", "c=16"} <= set(labels)
    note = fig.legends[-1].get_texts()[-1].get_text()
    assert len(labels) == 15 or "left out for room" in note


def test_every_legend_lies_inside_the_figure(reports: dict[str, dict[str, Figure]]) -> None:
    for name, fig in _all_figures(reports):
        renderer = fig.canvas.get_renderer()
        for legend in fig.legends:
            box, frame = legend.get_window_extent(renderer), fig.bbox
            assert box.x0 >= frame.x0 - 0.5 and box.x1 <= frame.x1 + 0.5, f"{name}: legend cut at the edges"
            assert box.y0 >= frame.y0 - 0.5 and box.y1 <= frame.y1 + 0.5, f"{name}: legend cut at the bottom"
            for text in legend.get_texts():
                inner = text.get_window_extent(renderer)
                assert inner.x0 >= frame.x0 - 0.5 and inner.x1 <= frame.x1 + 0.5, f"{name}: {text.get_text()!r} cut"


# --------------------------------------------------------------------------- every series visible


def _display(line: Line2D) -> np.ndarray:
    xy = np.column_stack(line.get_data()).astype(float)
    return line.get_transform().transform(xy)


def _hidden_lines(ax: Axes) -> list[str]:
    """Lines another line drawn over them covers: same path (within a pixel) and the upper one
    at least as wide, or less than 2 points narrower, so the lower one cannot be told apart."""
    lines = sorted((ln for ln in ax.get_lines() if ln.get_visible() and len(ln.get_xdata()) > 1), key=lambda ln: ln.zorder)
    hidden = []
    for i, lower in enumerate(lines):
        for upper in lines[i + 1 :]:
            a, b = _display(lower), _display(upper)
            if a.shape != b.shape or not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
                continue
            if np.abs(a - b).max() <= 1.0 and lower.get_linewidth() - upper.get_linewidth() < 2.0:
                hidden.append(f"{lower.get_label()} under {upper.get_label()}")
    return hidden


def test_goodput_and_requests_per_second_are_both_visible(reports: dict[str, dict[str, Figure]]) -> None:
    # Every request met the SLO: goodput equals requests/s, line on line.
    for report in ("one", "two"):
        fig = reports[report]["throughput_vs_load"]
        for ax in fig.axes:
            assert _hidden_lines(ax) == [], report


def test_runs_of_a_comparison_look_different_and_a_target_keeps_its_colour(reports: dict[str, dict[str, Figure]]) -> None:
    fig = reports["two"]["ttft_distribution"]
    lines = [ln for ln in fig.axes[0].get_lines() if "run" in str(ln.get_label())]
    assert len(lines) == 6
    styles = [(ln.get_color(), ln.get_linestyle()) for ln in lines]
    assert len(set(styles)) == 6  # no two series alike
    by_target: dict[str, set[str]] = {}
    for ln in lines:
        by_target.setdefault(str(ln.get_label()).split(" · ")[0], set()).add(str(ln.get_color()))
    assert all(len(colours) == 1 for colours in by_target.values())  # run 1 and run 2 of a target: one colour
    assert {ln.get_linestyle() for ln in lines if "run 1" in str(ln.get_label())} != {
        ln.get_linestyle() for ln in lines if "run 2" in str(ln.get_label())
    }


def test_over_time_medians_are_steps_not_slashes(reports: dict[str, dict[str, Figure]]) -> None:
    for report in ("one", "crowded"):
        fig = reports[report]["over_time"]
        for ax in fig.axes:
            medians = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_linestyle() != "None"]
            medians = [ln for ln in medians if not np.allclose(np.asarray(ln.get_xdata(), float)[:1], ln.get_xdata()[-1:])]
            assert medians, report
            for line in medians:
                xy = _display(line)
                finite = np.all(np.isfinite(xy), axis=1)
                runs = np.split(xy, np.flatnonzero(~finite))
                for run in runs:
                    run = run[np.all(np.isfinite(run), axis=1)]
                    if len(run) < 2:
                        continue
                    assert run[:, 0].max() - run[:, 0].min() >= 3, f"{report}: a median shorter than 3 px"
                    steps = np.diff(run, axis=0)
                    flat_or_upright = (np.abs(steps[:, 0]) < 0.5) | (np.abs(steps[:, 1]) < 0.5)
                    assert flat_or_upright.all(), f"{report}: a median drawn as a slash"


def test_time_split_shows_every_target_and_says_why_some_are_not_split(reports: dict[str, dict[str, Figure]]) -> None:
    fig = reports["one"]["time_split"]
    names = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert names == {"groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo", "anthropic/claude-sonnet-5-5"}
    legend = " ".join(t.get_text() for t in fig.legends[-1].get_texts())
    assert "no server timings" in legend


def test_charts_still_draw_without_goodput_and_for_a_single_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = write_synthetic_run(tmp_path / "runs", n=5, targets=("openai/gpt-4-turbo",))
    (tmp_path / "out").mkdir()
    figures = _draw_all(build([run]), tmp_path / "out", monkeypatch)
    assert "time_split" not in figures  # nothing reports server timings: no chart, as before
    assert math.isfinite(figures["ttft_distribution"].bbox.width)
