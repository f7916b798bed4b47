"""The HTML report, cost, charts over time and of inter-token gaps, run to run, client health.

Each test renders a synthetic run (tests/synthetic.py) and checks what a reader sees.
"""

from __future__ import annotations

import base64
import html as htmllib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.report import HTML_FILE, REPORT_FILE, parse_formats, render_report, render_reports
from bench.report.charts import CHART_FILES
from bench.report.data import PALETTE, build, series_style
from bench.report.markdown import render_markdown, usd
from bench.results.run_file import read_run_meta, write_run_meta
from tests.synthetic import DEFAULT_TARGETS, write_synthetic_run

TARGETS = (*DEFAULT_TARGETS, "groq/openai/gpt-oss-120b")
NUMBER = re.compile(r"\d[\d,]*\.?\d*")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html")
    return write_synthetic_run(root, targets=TARGETS, levels=(1, 4), n=12, seed=3, error_share=0.2, slo={"ttft_p50_ms": 100})


@pytest.fixture(scope="module")
def both(run: Path) -> dict[str, Path]:
    return render_reports([run], run / "report")


def _text_of_html(page: str) -> str:
    body = page.split("<body>", 1)[1]
    body = re.sub(r"<img [^>]*>", " ", body)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained(both: dict[str, Path]) -> None:
    page = both["html"].read_text(encoding="utf-8")
    lowered = page.lower()
    for needle in ('src="http', "href=", "url(", "@import", "<script", "<link", "<iframe", 'src="//'):
        assert needle not in lowered, needle
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(list(both["md"].parent.glob("*.png")))
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count('<div class="table-scroll"><table>') == page.count("<table>") > 3
    assert "overflow-x: auto" in page and "max-width: 100%" in page
    assert both["html"].stat().st_size < 5_000_000


def test_html_has_the_banner_on_top_and_the_same_numbers(both: dict[str, Path]) -> None:
    page = both["html"].read_text(encoding="utf-8")
    body = page.split("<body>", 1)[1]
    first = body[: body.index("</blockquote>")]
    assert "<h1>" in first and "Emulated run:" in first and "not from the real providers" in first
    markdown = both["md"].read_text(encoding="utf-8")
    # Every number of the markdown, in the same order, is in the HTML's text.
    md_numbers = NUMBER.findall(re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", markdown))
    html_numbers = NUMBER.findall(_text_of_html(page))
    assert md_numbers == html_numbers
    for heading in re.findall(r"^#{1,3} (.+)$", markdown, flags=re.M):
        assert htmllib.escape(heading.replace("`", ""), quote=False) in re.sub(r"</?code>", "", page), heading


def test_html_only_writes_one_file_and_is_deterministic(run: Path, both: dict[str, Path], tmp_path: Path) -> None:
    written = render_reports([run], tmp_path / "h", ("html",))
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == [HTML_FILE]
    assert written["html"].read_bytes() == both["html"].read_bytes()
    assert render_report([run], tmp_path / "m", ("md",)).name == REPORT_FILE
    assert not (tmp_path / "m" / HTML_FILE).exists()


def test_html_escapes_provider_text(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:1], n=6, error_share=0.5)
    lines = (run / "requests.jsonl").read_text().splitlines()
    lines = [line.replace("rate limit reached for requests", "<script>alert(1)</script> http://x") for line in lines]
    (run / "requests.jsonl").write_text("\n".join(lines) + "\n")
    page = render_reports([run], tmp_path / "out", ("html",))["html"].read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page and 'href="http' not in page


def test_format_option(run: Path, tmp_path: Path, cli) -> None:  # noqa: ANN001 - the conftest fixture
    assert parse_formats("both") == ("md", "html") and parse_formats("html") == ("html",)
    with pytest.raises(BenchError, match="choose md, html or both"):
        parse_formats("pdf")
    code, out, _ = cli("report", str(run), "--out", str(tmp_path / "o"), "--format", "html")
    assert code == 0 and out.strip() == f"report: {tmp_path / 'o' / HTML_FILE}"
    code, _, err = cli("report", str(run), "--out", str(tmp_path / "o"), "--format", "pdf")
    assert code == 2 and "choose md, html or both" in err


# --------------------------------------------------------------------------- cost


def test_cost_section(both: dict[str, Path]) -> None:
    text = both["md"].read_text(encoding="utf-8")
    cost = text.split("## Cost")[1].split("\n## ")[0]
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
        for line in cost.splitlines()
        if line.startswith("| ") and "target" not in line
    }
    priced = rows["groq/openai/gpt-oss-120b"]
    assert priced[1] == "$0.150 / $0.600"  # the catalogue's gpt-oss-120b price per million tokens
    assert priced[2].startswith("$0.0000") and priced[3].startswith("$0.0")
    assert int(priced[4].replace(",", "")) > 1_000_000  # output tokens per dollar
    # Every default target's model has a published price now (LiteLLM's table); an unknown model has none.
    for target in DEFAULT_TARGETS:
        assert rows[target][1] != "no price" and rows[target][-1] != "no price"
    assert "$0 " not in cost and "| $0 |" not in cost
    # The source as a reader would cite it: the table, its version and date, and the day it was read.
    assert "LiteLLM model_prices_and_context_window.json, litellm 1.110.2 (2026-11-20); read 2026-12-04" in cost
    assert "model catalogue today (the run recorded no price)" in cost


def test_cost_matches_bench_cost(run: Path) -> None:
    from bench.analysis.cost import add_cost
    from bench.analysis.metrics import measured, ok_mask

    data = build([run])
    text = render_markdown(data, {})
    frame = measured(add_cost(data.runs[0].frame, data.runs[0].meta))
    mine = frame[(frame["target"] == "groq/openai/gpt-oss-120b") & ok_mask(frame)]
    total = float(mine["cost_usd"].sum())
    assert f"{usd(total)} ({len(mine)} requests)" in text
    assert usd(6.06e-05) == "$0.0000606" and usd(12.345) == "$12.35" and usd(float("nan")) == "–"


def test_recorded_scenario_price_is_used(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[1:2], n=5)
    meta = read_run_meta(run)
    meta.scenario["targets"][0]["price"] = {
        "input_per_mtok": 10.0,
        "output_per_mtok": 30.0,
        "as_of": "2026-09-01",
        "source": "our contract",
        "origin": "scenario",
    }
    write_run_meta(run, meta)
    cost = render_markdown(build([run]), {}).split("## Cost")[1]
    assert "$10.00 / $30.00" in cost and "our contract; read 2026-09-01; from the scenario's `[target.price]`" in cost
    assert "| no price" not in cost


# --------------------------------------------------------------------------- charts


def test_over_time_and_itl_charts(both: dict[str, Path]) -> None:
    out = both["md"].parent
    text = both["md"].read_text(encoding="utf-8")
    for key in ("over_time", "itl"):
        assert f"]({CHART_FILES[key]})" in text
        with Image.open(out / CHART_FILES[key]) as image:
            assert image.format == "PNG" and image.size[0] >= 600
    assert "## Over the run" in text and "(`started_at_ns`)" in text
    assert "stalls" in text and "share of gaps at least that long" in text


def test_over_time_data_from_started_at(run: Path) -> None:
    data = build([run])
    series = data.over_time()
    frame = data.runs[0].frame
    first = frame["started_at_ns"].min()
    t = series[0]
    mine = data.runs[0].measured
    ok = mine[(mine["target"] == t.series.target) & (mine["status"] == "ok")]
    expected = np.sort((ok["started_at_ns"].to_numpy(dtype="float64") - first) / 1e9)
    assert np.allclose(t.seconds, expected) and t.seconds.size == t.shown.size  # small: every request drawn
    assert [(m, lv) for _s, m, lv in t.level_starts] == [("concurrency", 1.0), ("concurrency", 4.0)]
    assert set(t.level_of.tolist()) == {0, 1}


def test_over_time_is_sampled_and_says_so(tmp_path: Path) -> None:
    from bench.report import data as data_module

    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:2], n=300, warmup=0)
    old = data_module.TIME_POINTS
    data_module.TIME_POINTS = 200
    try:
        data = build([run])
        text = render_markdown(data, {"over_time": "over_time.png"})
        assert all(t.sampled and t.shown.size == 200 for t in data.over_time())
        assert "draws 400 of the" in text and "random sample" in text
        out = tmp_path / "r"
        render_report([run], out, ("md",))
    finally:
        data_module.TIME_POINTS = old
    assert (out / CHART_FILES["over_time"]).is_file()


def test_many_series_differ_by_marker_and_dash(tmp_path: Path) -> None:
    styles = [series_style(i) for i in range(24)]
    assert len(set(styles)) == 24
    assert [c for c, _m, _d in styles[:8]] == list(PALETTE)
    assert styles[8][0] == styles[0][0] and styles[8][1:] != styles[0][1:]
    targets = [{"provider": "openai-compatible", "model": f"m{i}", "base_url": "http://127.0.0.1:1/v1"} for i in range(10)]
    run = write_synthetic_run(tmp_path, targets=targets, levels=(1, 2), n=4, warmup=0)
    data = build([run])
    assert len({(s.colour, s.marker, s.dash) for s in data.series}) == 10
    out = render_report([run], tmp_path / "r")
    for name in ("ttft_distribution.png", "latency_vs_load.png", "over_time.png", "itl_distribution.png"):
        with Image.open(out.parent / name) as image:
            assert image.format == "PNG"


# --------------------------------------------------------------------------- run to run


def test_run_to_run_uses_the_gate(tmp_path: Path) -> None:
    from bench.gate.compare import CompareSettings, Side, SideInfo, compare_sides

    base = write_synthetic_run(tmp_path, run_id="20260925-100000-synthetic-aaaa", targets=DEFAULT_TARGETS[:2], n=60)
    cand = write_synthetic_run(
        tmp_path, run_id="20260926-100000-synthetic-bbbb", targets=DEFAULT_TARGETS[:2], n=60, seed=5, ttft_scale=1.6
    )
    data = build([base, cand])
    text = render_markdown(data, {})
    section = text.split("## Run to run")[1].split("\n## ")[0]
    sides = [Side(SideInfo.from_meta(r.label, "run", str(r.run_dir), r.meta), r.run) for r in data.runs]
    comparison = compare_sides(*sides, CompareSettings(metrics=("ttft_ms", "output_tps", "response_100_ms", "e2e_ms")))
    # Every group is in both runs here, so the table's verdicts are the gate's own count.
    assert (
        f"**Gate: REGRESSION.** Verdicts in this table: {comparison.judged} judged ({len(comparison.regressions)} regression"
        in section
    )
    assert comparison.status == "regression" and "**regression**" in section
    row = next(line for line in section.splitlines() if line.startswith("| groq/llama-3.3-70b-versatile | concurrency 1"))
    change = next(c for c in comparison.metrics if c.metric == "ttft_ms" and c.target == DEFAULT_TARGETS[0])
    assert f"{change.change:+.1%} [{change.ci_low:+.1%}, {change.ci_high:+.1%}] · **regression**" in row
    assert "--metric ttft_ms --metric output_tps" in section
    assert "### Run 2 against run 1" in section


def test_run_to_run_not_comparable_says_why(tmp_path: Path) -> None:
    a = write_synthetic_run(tmp_path, run_id="20260925-100000-synthetic-aaaa", targets=DEFAULT_TARGETS[:1], n=5)
    b = write_synthetic_run(tmp_path, run_id="20260926-100000-synthetic-bbbb", targets=DEFAULT_TARGETS[1:2], n=5)
    section = render_markdown(build([a, b]), {}).split("## Run to run")[1].split("\n## ")[0]
    assert "The CI gate does not compare these runs: runs are not comparable: nothing in common" in section
    single = render_markdown(build([a]), {})
    assert "## Run to run" not in single


# --------------------------------------------------------------------------- client health


def _health_level(target: str, level: float, cpu: float, lag: float, worker: int = 0) -> dict:
    return {
        "target": target,
        "load_mode": "concurrency",
        "load_level": level,
        "worker": worker,
        "wall_s": 5.0,
        "cpu_util": cpu,
        "loop_lag_ms_p50": 0.05,
        "loop_lag_ms_p99": lag,
        "loop_lag_ms_max": lag * 2,
        "chunks_per_s": 12_345.0,
        "rss_start_mb": 80.0,
        "rss_peak_mb": 92.5,
        "kb_per_stream": 41.2,
        "fds_start": 20,
        "fds_peak": 40,
        "fds_end": 24,
        "samples": 100,
        "streams": int(level),
        "client": "sdk",
    }


def _with_health(run: Path, levels: list[dict], calibration: dict | None = None) -> None:
    from dataclasses import asdict

    from bench.analysis.saturation import saturation
    from bench.results.health import Budget, LevelHealth

    findings = saturation([LevelHealth.from_dict(x) for x in levels])
    meta = read_run_meta(run)
    meta = meta.updated(
        client_health={
            "levels": levels,
            "budget": asdict(Budget()),
            "saturated": bool(findings),
            "findings": [f.message for f in findings],
        },
        calibration=calibration,
        event_loop="uvloop",
        workers=1,
        executor="local",
    )
    write_run_meta(run, meta)


def test_client_health_within_budget(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:1], levels=(1, 4), n=5)
    t = DEFAULT_TARGETS[0]
    _with_health(
        run,
        [_health_level(t, 1, 0.12, 0.3), _health_level(t, 4, 0.31, 0.6)],
        {"date": "2026-09-20T10:00:00+00:00", "note": "this machine was calibrated on 2026-09-20: fast within 1 ms"},
    )
    text = render_markdown(build([run]), {})
    assert "Client saturated" not in text
    health = text.split("### Client health")[1]
    assert "| client CPU (cores) |" in health.replace("   ", " ") or "client CPU (cores)" in health
    assert "0.31" in health and "12,345" in health and "41.2" in health and "20 → 24" in health
    assert "Within budget at all 2 levels (CPU below" in health
    assert "Calibration (2026-09-20 10:00 UTC): this machine was calibrated on 2026-09-20: fast within 1 ms." in health
    assert "uvloop event loop, 1 worker process, executor local" in text


def test_client_saturated_is_warned_on_top(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:1], levels=(1, 16), n=5)
    t = DEFAULT_TARGETS[0]
    _with_health(run, [_health_level(t, 1, 0.2, 0.3), _health_level(t, 16, 0.97, 14.0)])
    text = render_markdown(build([run]), {})
    top = text.split("## Headline")[0]
    assert "> **Client saturated:**" in top and "concurrency 16" in top and "--client fast" in top
    assert "event-loop lag p99 14.0 ms" in top
    method = text.split("### Client health")[1]
    assert "**Saturated** (budget: CPU below" in method
    page = render_reports([run], tmp_path / "h", ("html",))["html"].read_text(encoding="utf-8")
    body = page.split("<h2>")[0]  # before the first section: the warning is near the top of the HTML too
    assert "Client saturated:" in body


def test_runs_without_health_have_no_section(run: Path) -> None:
    assert "### Client health" not in render_markdown(build([run]), {})
