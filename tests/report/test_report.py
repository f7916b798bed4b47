"""Reports: golden markdown, every chart opened, determinism, multi-run, edge-case runs.

Regenerate the golden file after an intended change with::

    BENCH_UPDATE_GOLDEN=1 pytest tests/report/test_report.py -k golden
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.errors import BenchError
from bench.report import default_out_dir, render_report
from bench.report.charts import CHART_FILES
from bench.report.data import build
from bench.report.markdown import render_markdown
from bench.results.run_file import RUN_FILE, read_run_meta, write_run_meta
from tests.synthetic import DEFAULT_TARGETS, write_synthetic_run

GOLDEN = Path(__file__).parent / "golden" / "report_synthetic.md"
TARGETS = (*DEFAULT_TARGETS, "groq/openai/gpt-oss-120b")
SLO = {
    "ttft_p50_ms": 100,
    "output_tps_p50": 500,
    "output_tps_p90": 400,
    "response_100_ms_p50": 500,
    "error_rate_max": 0.01,
    "request_ttft_ms": 200,
    "request_output_tps": 300,
}
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    return write_synthetic_run(root, targets=TARGETS, levels=(1, 4), n=12, seed=7, error_share=0.25, slo=SLO)


@pytest.fixture(scope="module")
def golden_report(golden_run: Path) -> Path:
    return render_report([golden_run], golden_run / "report")


def markdown_for(*run_dirs: Path) -> str:
    return render_markdown(build(list(run_dirs)), {})


def linked_images(readme: Path) -> list[str]:
    return IMAGE_LINK.findall(readme.read_text(encoding="utf-8"))


def test_golden_markdown(golden_report: Path) -> None:
    text = golden_report.read_text(encoding="utf-8")
    if os.environ.get("BENCH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_report_content(golden_report: Path) -> None:
    text = golden_report.read_text(encoding="utf-8")
    head = text.splitlines()[:5]
    assert head[0] == "# Benchmark report: synthetic"
    assert any("emulator" in line and "not from the real providers" in line for line in head)
    for needle in (
        "first token p50 (ms) [95% CI]",
        "tokens/s p50 [95% CI]",
        "tokens/s p10",
        "100-token answer p50 (ms)",
        "## SLO verdicts",
        "**FAIL**",
        "(90% of requests at least this fast)",
        "## Load behaviour",
        "goodput (req/s)",
        "### Server-side timings",
        "### Reasoning before the answer",
        "`rate_limited`",
        "`stream_interrupted`",
        "vLLM's ITL",
        "aiperf and guidellm call ITL",
        "subsampled to 10,000",
        "warm-up",
        "client preparation before t0",
        "openai 3.57.0",
        "bench-host",
    ):
        assert needle in text, needle
    assert "-1" not in re.findall(r"\| *(-?\d+) *\|", text)


def test_every_chart_rendered_opened_and_linked(golden_report: Path) -> None:
    out = golden_report.parent
    links = linked_images(golden_report)
    # Every chart has data here but the prefill fit's, which needs prompt lengths that vary
    # (tests/report/test_report_workload.py draws it).
    assert sorted(links) == sorted(name for key, name in CHART_FILES.items() if key != "prefill")
    for name in links:
        assert not Path(name).is_absolute() and "/" not in name  # relative, beside the README
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert width >= 600 and height >= 250
            rgba = image.convert("RGBA")
            # Opaque light background: readable on light and dark pages alike.
            assert rgba.getpixel((1, 1)) == (255, 255, 255, 255)
            extrema = rgba.convert("L").getextrema()
            assert extrema[0] < 80  # dark ink was drawn


def test_render_is_deterministic(golden_run: Path, golden_report: Path, tmp_path: Path) -> None:
    again = render_report([golden_run], tmp_path / "again")
    assert again.read_bytes() == golden_report.read_bytes()
    for name in linked_images(golden_report):
        assert (tmp_path / "again" / name).read_bytes() == (golden_report.parent / name).read_bytes(), name


def test_stale_charts_are_removed(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("openai/gpt-4-turbo",), n=4, warmup=0)
    out = tmp_path / "out"
    out.mkdir()
    (out / CHART_FILES["latency_vs_load"]).write_bytes(b"stale")
    (out / "notes.txt").write_text("mine")
    readme = render_report([run], out)
    assert not (out / CHART_FILES["latency_vs_load"]).exists()  # one load level: no load charts
    assert not (out / CHART_FILES["time_split"]).exists()  # OpenAI reports no server timings
    assert (out / "notes.txt").exists()
    for name in linked_images(readme):
        assert (out / name).is_file()
    text = readme.read_text(encoding="utf-8")
    assert "No target reported server-side timings" in text
    assert "No measured request failed." in text
    assert "## SLO verdicts" not in text  # no [slo] table


def test_banner_absent_for_live_runs(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, n=3, emulated=False, targets=("groq/llama-3.3-70b-versatile",))
    text = markdown_for(run)
    assert "emulator" not in "\n".join(text.splitlines()[:5])
    assert "Emulated" not in text
    assert "no (live providers)" in text


def test_multi_run_report(tmp_path: Path) -> None:
    first = write_synthetic_run(
        tmp_path,
        run_id="20260925-100000-synthetic-aaaa",
        n=8,
        levels=(1, 4),
        targets=DEFAULT_TARGETS[:2],
        slo={"ttft_p50_ms": 100},
    )
    second = write_synthetic_run(
        tmp_path,
        run_id="20260926-100000-synthetic-bbbb",
        n=8,
        levels=(1, 4),
        targets=DEFAULT_TARGETS[:2],
        emulated=False,
        ttft_scale=1.5,
        seed=1,
        load_mode="rate",
        slo={"request_ttft_ms": 150},
    )
    meta = read_run_meta(second)
    meta.fingerprint = "fedcba9876543210"
    write_run_meta(second, meta)
    out = default_out_dir([first, second], tmp_path / "reports")
    assert out == tmp_path / "reports" / "compare-20260925-100000-synthetic-aaaa--20260926-100000-synthetic-bbbb"
    readme = render_report([first, second], out)
    text = readme.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# Benchmark comparison: synthetic (2 runs)"
    assert "run 1 ran against bench's built-in emulator" in "\n".join(lines[:5])
    assert "## Runs compared" in text and "fingerprints differ" in text
    headline = text.split("## Headline")[1].split("## Run to run")[0]
    assert headline.count("run 1") == 2 and headline.count("run 2") == 2
    slo = text.split("## SLO verdicts")[1].split("## Load behaviour")[0]
    assert "### Run 1" in slo and "### Run 2" in slo
    assert "Goodput counts the requests that succeeded and met every per-request threshold (first token ≤ 150 ms)" in slo
    assert "req/s" in text and "start lag p99 (ms)" in text
    assert "| this run" not in text and "run 2" in text.split("### Runs")[1]
    for name in linked_images(readme):
        with Image.open(out / name) as image:
            assert image.format == "PNG"
    assert (out / CHART_FILES["latency_vs_load"]).exists()  # two modes: one panel each


def test_comparable_runs_say_so(tmp_path: Path) -> None:
    a = write_synthetic_run(
        tmp_path, run_id="20260925-100000-synthetic-aaaa", n=3, targets=DEFAULT_TARGETS[:1], slo={"error_rate_max": 0.5}
    )
    b = write_synthetic_run(tmp_path, run_id="20260925-110000-synthetic-bbbb", n=3, targets=DEFAULT_TARGETS[:1], seed=2)
    text = markdown_for(a, b)
    assert "Run 2 has no `[slo]` table." in text
    assert "their figures are comparable" in text
    assert "all runs ran against bench's built-in emulator" in "\n".join(text.splitlines()[:5])


def test_run_with_only_errors(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:2], n=4, error_share=1.0, slo={"ttft_p50_ms": 100})
    readme = render_report([run], tmp_path / "out")
    text = readme.read_text(encoding="utf-8")
    assert "100.0%" in text
    assert "no data" in text
    assert "`rate_limited`" in text and "`timeout`" in text
    assert not (tmp_path / "out" / CHART_FILES["ttft"]).exists()
    assert linked_images(readme) == []


def test_run_with_one_request(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("groq/llama-3.3-70b-versatile",), n=1, warmup=0)
    readme = render_report([run], tmp_path / "out")
    text = readme.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| groq/llama-3.3-70b-versatile"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[-1] == "1"  # n
    assert "[" not in cells[1]  # one value: no CI
    for name in linked_images(readme):
        with Image.open(tmp_path / "out" / name) as image:
            assert image.size[0] > 0


def test_empty_and_minimal_run(tmp_path: Path) -> None:
    run = tmp_path / "20260101-000000-empty-0000"
    run.mkdir()
    (run / "requests.jsonl").write_text("", encoding="utf-8")
    readme = render_report([run], tmp_path / "out")
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark report: 20260101-000000-empty-0000\n")
    assert "No measured requests: there is nothing to summarise." in text
    assert "unknown date" in text
    assert linked_images(readme) == []


def test_incomplete_run_and_paths(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, n=3, targets=DEFAULT_TARGETS[:1])
    meta = json.loads((run / RUN_FILE).read_text())
    meta.update(interrupted=True, scenario_path="/home/someone/checkout/scenarios/x.toml", started_at="not a date")
    meta.pop("overhead")
    write_run_meta(run, meta)
    text = markdown_for(run)
    assert "> **Incomplete:** This run was interrupted" in text
    assert "`…/scenarios/x.toml`" in text and "/home/someone" not in text
    assert "not a date" in text


def test_render_report_rejects_bad_input(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, n=2, targets=DEFAULT_TARGETS[:1])
    with pytest.raises(BenchError, match="at least one run"):
        render_report([], tmp_path / "out")
    with pytest.raises(BenchError, match="given twice"):
        render_report([run, run], tmp_path / "out")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BenchError, match="cannot create"):
        render_report([run], blocker / "out")


# --------------------------------------------------------------------------- CLI


def test_cli_report(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arguments, output directories and exit codes are under test here; charts are tested above.
    monkeypatch.setattr("bench.report.charts.render_charts", lambda data, out_dir: {})
    a = write_synthetic_run(tmp_path / "results", run_id="20260925-100000-synthetic-aaaa", n=3, targets=DEFAULT_TARGETS[:1])
    b = write_synthetic_run(tmp_path / "results", run_id="20260925-110000-synthetic-bbbb", n=3, targets=DEFAULT_TARGETS[:1])
    code, out, _ = cli("report", str(tmp_path / "results"), "--out", str(tmp_path / "mine"))  # a root: its newest run
    assert code == 0 and out.strip().splitlines() == [
        f"report: {tmp_path / 'mine' / 'README.md'}",
        f"report: {tmp_path / 'mine' / 'report.html'}",
    ]
    assert f"`{b.name}`" in (tmp_path / "mine" / "README.md").read_text(encoding="utf-8")
    assert default_out_dir([a]) == a / "report"
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("report", str(a), str(b))
    assert code == 0
    assert (tmp_path / "reports" / f"compare-{a.name}--{b.name}" / "README.md").is_file()
    code, _, err = cli("report", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("bench: error:") and len(err.strip().splitlines()) == 1
    shutil.rmtree(tmp_path / "reports")


EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "example"


@pytest.mark.skipif(not (EXAMPLE / "run" / RUN_FILE).is_file(), reason="no committed example run")
def test_committed_example_is_current(tmp_path: Path) -> None:
    """reports/example/README.md is what `bench report reports/example/run --out reports/example` gives today."""
    text = markdown_for(EXAMPLE / "run")
    charts = {key for key, name in CHART_FILES.items() if (EXAMPLE / name).is_file()}
    rendered = render_markdown(build([EXAMPLE / "run"]), {k: CHART_FILES[k] for k in charts})
    assert rendered == (EXAMPLE / "README.md").read_text(encoding="utf-8"), (
        "the example report is stale: run `bench report reports/example/run --out reports/example`"
    )
    assert text.splitlines()[2].startswith("> **Emulated run:**")
