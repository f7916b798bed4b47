"""Report pieces on unusual input: sparse run.json, warm-up failures, odd values, chart helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.report import charts
from bench.report.data import build
from bench.report.markdown import _date, render_markdown
from bench.report.tables import DASH, ci, count, num, share, table, with_ci
from bench.results.records import REQUESTS_FILE
from bench.results.run_file import RUN_FILE, write_run_meta
from bench.schema import LoadLevel
from tests.synthetic import write_synthetic_run


def test_number_formats() -> None:
    assert [num(v) for v in (1234.5, 123.4, 12.34, 1.234, 0.1234, 0.0, -0.0001, None, float("nan"), "x")] == [
        "1,234",
        "123",
        "12.3",
        "1.23",
        "0.123",
        "0",
        "0",
        DASH,
        DASH,
        DASH,
    ]
    assert ci(1.0, 2.0) == "[1.00–2.00]" and ci(float("nan"), 2.0) == ""
    assert with_ci(5.0, float("nan"), float("nan")) == "5.00"
    assert with_ci(float("nan"), 1.0, 2.0) == DASH
    assert share(0.04) == "4.0%" and share(None) == DASH
    assert count(1234) == "1,234" and count(float("nan")) == DASH


def test_table_escapes_pipes_and_newlines() -> None:
    text = table(["a", "b"], [["x|y", "1\n2"]])
    assert "x\\|y" in text and "1 2" in text
    assert text.splitlines()[1].startswith("|:")  # first column left, the rest right
    assert text.splitlines()[1].endswith(":|")


def test_level_text_and_dates() -> None:
    assert LoadLevel.of("concurrency", 4.0).text == "concurrency 4"
    assert LoadLevel.of("rate", 2.5).text == "2.5 req/s"
    assert LoadLevel.of("duration", 3.0).text == "duration 3"
    assert _date("2026-09-25T12:00:00+02:00") == "2026-09-25 10:00 UTC"
    assert _date("2026-09-25T12:00:00") == "2026-09-25 12:00 UTC"  # naive: taken as written
    assert _date(None) == "unknown date"


def test_sparse_meta_warmup_failures_and_reasoning_without_server_timings(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path,
        targets=({"provider": "openai-compatible", "model": "qwen3-8b", "label": "local|qwen"},),
        n=4,
        error_share=0.5,
    )
    # The warm-up requests failed; one measured error carries a long message, one none at all.
    lines = [json.loads(x) for x in (run / REQUESTS_FILE).read_text().splitlines()]
    for rec in lines:
        if rec["warmup"]:
            rec.update(status="error", error_kind="connection", error_message="refused")
    errors = [rec for rec in lines if rec["status"] == "error" and not rec["warmup"]]
    errors[0]["error_message"] = "x" * 200
    errors[1]["error_message"] = None
    errors[1]["error_kind"] = None
    errors[1]["http_status"] = None
    (run / REQUESTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in lines))
    write_run_meta(
        run,
        {
            "run_id": run.name,
            "scenario": {"load": {"mode": "concurrency", "levels": [1], "duration_s": 30, "warmup": 2, "timeout_s": 10}},
            "client": "sdk",
            "started_at": "2026-09-25T10:00:00",
            "overhead": {"sdk_prep_ms_p50": 2.0, "event_loop_lag_ms_p99": 0.5, "note": "text is skipped"},
        },
    )
    text = render_markdown(build([run]), {})
    assert "# Benchmark report: " + run.name in text
    assert "local\\|qwen" in text  # the pipe in a label cannot break the table
    assert "### Reasoning before the answer" in text and "### Server-side timings" not in text
    assert "x" * 79 + "…" in text and "x" * 81 not in text
    assert "`other`" in text  # a missing error kind counts as other
    assert "2 warm-up requests also failed (excluded above)." in text
    assert "30 s per level" in text
    assert "event loop lag ms p99 0.500" in text and "sdk prep ms p50" not in text
    assert "note" not in text.split("client overhead")[1]


def test_run_without_rows_uses_meta_client(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, n=1, targets=("openai/gpt-4-turbo",), client="sdk")
    (run / REQUESTS_FILE).write_text("")
    meta = json.loads((run / RUN_FILE).read_text())
    meta["host"] = {}
    write_run_meta(run, meta)
    text = render_markdown(build([run]), {})
    assert "No measured requests." in text
    assert "| client path " in text and "sdk (each provider's official SDK" in text


def test_ecdf_bounded_points() -> None:
    x, y = charts._ecdf(np.arange(10_000, dtype=float))
    assert x.size == charts.ECDF_POINTS + 1 and y[0] == 0.0 and y[-1] == 1.0
    x, y = charts._ecdf(np.array([3.0, 1.0]))
    assert x.tolist() == [1.0, 1.0, 3.0] and y.tolist() == [0.0, 0.5, 1.0]


def test_wants_log() -> None:
    assert charts._wants_log([50.0, 600.0])
    assert not charts._wants_log([50.0, 400.0, float("nan"), 0.0])
    assert not charts._wants_log([])


def test_wide_load_range_and_open_loop_charts(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("groq/llama-3.3-70b-versatile",), n=4, load_mode="rate", levels=(1, 8))
    data = build([run])
    data.series[0].levels["ttft_ms_p99"] *= 20  # a long tail: the latency axis turns logarithmic
    assert charts.latency_vs_load_chart(data, tmp_path / "lat.png")
    assert charts.throughput_vs_load_chart(data, tmp_path / "thr.png")
    assert math.isnan(data.series[0].levels["goodput_rps"].iloc[0])


@pytest.mark.parametrize("draw", list(charts.CHARTS.values()))
def test_charts_without_data_draw_nothing(tmp_path: Path, draw) -> None:
    run = write_synthetic_run(tmp_path, targets=("openai/gpt-4-turbo",), n=2, error_share=1.0)
    assert draw(build([run]), tmp_path / "x.png") is False
    assert not (tmp_path / "x.png").exists()
