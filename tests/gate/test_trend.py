"""``bench trend``: headline figures over many runs, each step judged by the gate's own code."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from bench.analysis.metrics import GroupKey, measured, ok_mask
from bench.errors import BenchError
from bench.gate.baseline import load_side, save_baseline
from bench.gate.compare import CompareSettings, Verdict, compare_sides
from bench.gate.trend import GATE_METRICS, compute_trend, load_runs
from bench.report import trend as trend_report
from bench.report.trend import append_summary, render_trend, render_trend_markdown
from bench.results.run_file import read_run_meta, write_run_meta
from tests.report.test_charts import _texts as drawn_texts
from tests.synthetic import write_synthetic_run

TARGETS = ("groq/openai/gpt-oss-120b", "openai/gpt-4.1")
FIRST = datetime(2026, 9, 7, 6, 0, tzinfo=UTC)
SLOW_WEEK = 3


def _week(root: Path, week: int, **kwargs: object) -> Path:
    when = FIRST + timedelta(weeks=week)
    return write_synthetic_run(
        root,
        run_id=when.strftime("%Y%m%d-%H%M%S") + f"-weekly-{week:04x}",
        targets=TARGETS,
        levels=(1, 4),
        n=60,
        seed=week,
        started_ns=int(when.timestamp() * 1e9),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trend") / "results"
    for week in range(6):
        _week(root, week, ttft_scale=1.6 if week == SLOW_WEEK else 1.0, error_share=0.0)
    return root


def test_runs_in_time_order_with_each_figure_per_target_and_level(weekly: Path) -> None:
    runs = sorted(weekly.iterdir())
    sides = load_runs([str(r) for r in reversed(runs)])  # given newest first
    trend = compute_trend(sides)
    assert [p.run_id for p in trend.points] == [r.name for r in runs]  # oldest first
    assert len(trend.groups) == 4 and len(trend.steps) == 5
    frame = measured(load_side(str(runs[2])).frame)
    rows = frame[(frame["target"] == TARGETS[1]) & (frame["load_level"] == 4.0)]
    ok = rows[ok_mask(rows)]
    figures = trend.figures[2][GroupKey(TARGETS[1], "concurrency", 4.0, "fast")]
    assert figures["ttft_p50"] == pytest.approx(float(np.quantile(ok["ttft_ms"], 0.5)))
    assert figures["ttft_p99"] == pytest.approx(float(np.quantile(ok["ttft_ms"], 0.99)))
    assert figures["output_tps_p50"] == pytest.approx(float(np.quantile(ok["output_tps"], 0.5)))
    assert figures["e2e_p50"] == pytest.approx(float(np.quantile(ok["e2e_ms"], 0.5)))
    assert figures["error_rate"] == pytest.approx(1 - len(ok) / len(rows))
    assert trend.counts[2][GroupKey(TARGETS[1], "concurrency", 4.0, "fast")] == 60


def test_each_step_is_the_verdict_of_bench_compare(weekly: Path) -> None:
    runs = sorted(weekly.iterdir())
    trend = compute_trend(load_runs([str(weekly)]))
    settings = CompareSettings(metrics=GATE_METRICS)
    for step in trend.steps:
        comparison = compare_sides(load_side(str(runs[step.before])), load_side(str(runs[step.after])), settings)
        assert (step.status, step.headline) == (comparison.status, comparison.headline)
        for change in comparison.metrics:
            figure = {"ttft_ms": "ttft_p50", "output_tps": "output_tps_p50", "e2e_ms": "e2e_p50"}[change.metric]
            mine = step.verdicts[change.group][figure]
            assert (mine.verdict, mine.change, mine.ci_low) == (str(change.verdict), change.change, change.ci_low)
    # The slow week is a regression on the way in and an improvement on the way out.
    statuses = [s.status for s in trend.steps]
    assert statuses[SLOW_WEEK - 1] == "regression" and statuses.count("regression") == 1
    into = trend.steps[SLOW_WEEK - 1].verdicts[GroupKey(TARGETS[0], "concurrency", 1.0, "fast")]["ttft_p50"]
    out = trend.steps[SLOW_WEEK].verdicts[GroupKey(TARGETS[0], "concurrency", 1.0, "fast")]["ttft_p50"]
    assert (into.verdict, out.verdict) == (Verdict.REGRESSION, Verdict.IMPROVEMENT)


def test_the_baseline_is_marked_and_the_newest_run_judged_against_it(weekly: Path, tmp_path: Path) -> None:
    runs = sorted(weekly.iterdir())
    save_baseline("weekly", runs[1], root=tmp_path / "baselines")
    base = load_side("weekly", root=tmp_path / "baselines")
    trend = compute_trend(load_runs([str(weekly)]), baseline=base)
    assert trend.baseline == 1 and trend.points[1].is_baseline and trend.points[1].label == "baseline weekly"
    assert len(trend.points) == 6  # the saved baseline is that run: not counted twice
    assert trend.vs_baseline is not None and (trend.vs_baseline.before, trend.vs_baseline.after) == (1, 5)
    # A baseline that is none of the runs joins them at its own time.
    older = write_synthetic_run(
        tmp_path / "old", run_id="20260831-060000-weekly-ffff", targets=TARGETS, levels=(1, 4), n=60, seed=99,
        started_ns=int((FIRST - timedelta(weeks=1)).timestamp() * 1e9),
    )  # fmt: skip
    save_baseline("older", older, root=tmp_path / "baselines")
    trend = compute_trend(load_runs([str(weekly)]), baseline=load_side("older", root=tmp_path / "baselines"))
    assert trend.baseline == 0 and len(trend.points) == 7 and trend.points[0].run_id == older.name


def test_a_step_the_gate_refuses_says_why(tmp_path: Path) -> None:
    root = tmp_path / "results"
    for week in range(3):
        _week(root, week)
    changed = sorted(root.iterdir())[2]
    meta = read_run_meta(changed)
    meta.fingerprint = "fedcba9876543210"
    write_run_meta(changed, meta)
    trend = compute_trend(load_runs([str(root)]))
    assert trend.steps[0].status != "not comparable"
    assert trend.steps[1].status == "not comparable" and "fingerprints differ" in trend.steps[1].reason
    text = render_trend_markdown(trend)
    assert "not comparable" in text and "(not comparable with the run before)" in text


def test_bad_input_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no runs found"):
        load_runs([str(tmp_path)])
    with pytest.raises(BenchError, match="at least one run"):
        compute_trend([])


def _capture(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    figures: list[Figure] = []
    save = trend_report.save_figure

    def keep(fig: Figure, path: Path, *, emulated: bool) -> None:
        save(fig, path, emulated=emulated)
        fig.canvas.draw()
        figures.append(fig)

    monkeypatch.setattr(trend_report, "save_figure", keep)
    return figures


def test_markdown_html_json_and_the_job_summary(weekly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = sorted(weekly.iterdir())
    save_baseline("weekly", runs[0], root=tmp_path / "baselines")
    trend = compute_trend(load_runs([str(weekly)]), baseline=load_side("weekly", root=tmp_path / "baselines"))
    figures = _capture(monkeypatch)
    written = render_trend(trend, tmp_path / "out", ("md", "html", "json"))
    assert set(written) == {"md", "html", "json"} and (tmp_path / "out" / "trend.png").is_file()
    text = written["md"].read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# Trend over 6 runs"
    assert any(line.startswith(f"**Newest step** ({runs[4].name} → {runs[5].name}): No regression") for line in lines)
    assert any(line.startswith(f"**Against baseline weekly** ({runs[0].name} → {runs[5].name})") for line in lines)
    assert "![Headline figures over the runs](trend.png)" in text
    assert f"| **baseline weekly** ({runs[0].name}) |" in text  # the baseline's rows are marked
    slow = next(line for line in lines if line.startswith(f"| {runs[SLOW_WEEK].name} |"))
    assert "🔴 **+" in slow  # the regression's figure, with its change and interval
    assert text.count("## ") == 1 + 4  # the steps, then one table per target and level
    data = json.loads(written["json"].read_text(encoding="utf-8"))
    assert data["format"] == "bench-trend/1" and data["baseline"] == runs[0].name and len(data["steps"]) == 5
    assert [r["run_id"] for r in data["groups"][0]["runs"]] == [r.name for r in runs]
    assert 'src="data:image/png;base64,' in written["html"].read_text(encoding="utf-8")
    summary = tmp_path / "summary.md"
    summary.write_text("before\n", encoding="utf-8")
    append_summary(trend, summary)
    appended = summary.read_text(encoding="utf-8")
    assert appended.startswith("before\n# Trend over 6 runs") and "trend.png" not in appended
    # The chart: legend inside the figure, no two texts overlapping, every tick label its value.
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width + 0.5
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(fig)]
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        overlap = min(ba.x1, bb.x1) - max(ba.x0, bb.x0), min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        assert overlap[0] <= 1 or overlap[1] <= 1, f"{a!r} overlaps {b!r}"


def test_cli_trend(weekly: Path, tmp_path: Path, cli) -> None:  # noqa: ANN001 - the conftest fixture
    runs = sorted(weekly.iterdir())
    save_baseline("weekly", runs[0], root=tmp_path / "baselines")
    summary = tmp_path / "summary.md"
    code, out, err = cli(
        "trend", str(weekly), "--baseline", "weekly", "--baselines", str(tmp_path / "baselines"),
        "--out", str(tmp_path / "trend"), "--format", "md", "--format", "json", "--summary", str(summary),
    )  # fmt: skip
    assert code == 0, err
    assert f"trend: {tmp_path / 'trend' / 'README.md'}" in out and f"trend: {tmp_path / 'trend' / 'trend.json'}" in out
    assert out.strip().splitlines()[-1].startswith("newest step: No regression")
    assert summary.read_text(encoding="utf-8").startswith("# Trend over 6 runs")
    code, _, err = cli("trend", str(tmp_path / "nothing"))
    assert code == 2 and err.count("\n") == 1 and "no such run directory" in err
    code, _, err = cli("trend", str(weekly), "--format", "pdf", "--out", str(tmp_path / "x"))
    assert code == 2 and "choose md, html, json" in err
