"""What a report says at the edges: counts that are true, no internal jargon, emulated runs
marked on every image, non-streaming runs summarised with what they have, a method that
says where t0 is taken."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from bench.report import render_report
from bench.report.charts import CHART_FILES, EMULATED_INK
from bench.report.data import build
from bench.report.markdown import render_markdown
from bench.results.records import REQUESTS_FILE
from bench.results.run_file import read_run_meta, write_run_meta
from tests.synthetic import write_synthetic_run


def _rewrite(run: Path, change) -> None:  # type: ignore[no-untyped-def]
    rows = [json.loads(x) for x in (run / REQUESTS_FILE).read_text().splitlines()]
    for row in rows:
        change(row)
    (run / REQUESTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = run / "requests.parquet"
    if parquet.exists():
        parquet.unlink()


def _set_meta(run: Path, **scenario: object) -> None:
    meta = read_run_meta(run)
    meta.scenario.update(scenario)
    write_run_meta(run, meta)


def _markdown(run: Path) -> str:
    return render_markdown(build([run]), {})


# --------------------------------------------------------------------------- item 9


def test_cancelled_requests_are_counted_as_cancelled_not_warm_up(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("groq/openai/gpt-oss-120b",), n=20, warmup=0)
    cancelled = {18, 19}

    def cancel(row: dict) -> None:
        if row["request_index"] in cancelled:
            row.update(status="error", error_kind="cancelled", error_message="cancelled: the run was interrupted")

    _rewrite(run, cancel)
    meta = read_run_meta(run)
    meta = meta.updated(interrupted=True, finished=False)
    write_run_meta(run, meta)
    text = _markdown(run)
    header = text.split("## Headline")[0]
    assert "18 measured, 2 cancelled by the interruption (excluded)" in header
    assert "warm-up" not in header
    assert "| cancelled by the interruption (excluded) | 2" in text.replace("  ", " ")


def test_warm_up_and_cancelled_are_counted_apart(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("groq/openai/gpt-oss-120b",), n=10, warmup=2)
    _rewrite(run, lambda row: row.update(status="error", error_kind="cancelled") if row["request_index"] == 11 else None)
    header = _markdown(run).split("## Headline")[0]
    assert "9 measured, 2 warm-up (excluded), 1 cancelled by the interruption (excluded)" in header


# --------------------------------------------------------------------------- item 17


def test_method_says_where_t0_is_taken_and_cites_shipped_docs(tmp_path: Path) -> None:
    text = _markdown(write_synthetic_run(tmp_path, targets=("groq/openai/gpt-oss-120b",), n=5))
    method = text.split("## Method")[1]
    assert "began opening a connection" in method and "handed to the socket" in method
    assert "first attempt" in method and "`sdk_prep_ms`" in method
    assert "docs/metrics.md" in method and "docs/method.md" in method
    assert "DESIGN" not in text and "§" not in text


# --------------------------------------------------------------------------- item 18


def test_reference_figures_appear_only_when_the_scenario_asks(tmp_path: Path) -> None:
    plain = write_synthetic_run(tmp_path / "a", targets=("groq/openai/gpt-oss-120b",), n=8)
    text = _markdown(plain)
    assert "seed" not in text.lower().replace("seeded", "").replace("seed 42", "").replace(", seed", "")
    assert "Llama 3.1 70B" not in text and "2024" not in text
    asked = write_synthetic_run(tmp_path / "b", targets=("groq/openai/gpt-oss-120b",), n=8)
    _set_meta(asked, report={"reference": "groq-2024"})
    text = _markdown(asked)
    assert "### Reference: figures expected in 2024 (not measured here)" in text
    assert "Groq (Llama 3.1 70B)" in text and '`[report] reference = "groq-2024"`' in text


def test_reference_lines_on_charts_only_when_asked(tmp_path: Path) -> None:
    plain = write_synthetic_run(tmp_path / "a", targets=("groq/openai/gpt-oss-120b",), n=8, emulated=False)
    asked = write_synthetic_run(tmp_path / "b", targets=("groq/openai/gpt-oss-120b",), n=8, emulated=False)
    _set_meta(asked, report={"reference": "groq-2024"})
    render_report([plain], tmp_path / "ra")
    render_report([asked], tmp_path / "rb")
    for key in ("ttft", "output_tps", "response_100"):
        a = (tmp_path / "ra" / CHART_FILES[key]).read_bytes()
        b = (tmp_path / "rb" / CHART_FILES[key]).read_bytes()
        assert a != b, key
    # The reference adds three hatched bars: the chart grows.
    small = Image.open(tmp_path / "ra" / CHART_FILES["response_100"]).size[1]
    large = Image.open(tmp_path / "rb" / CHART_FILES["response_100"]).size[1]
    assert large > small


# --------------------------------------------------------------------------- item 19


def _has_ink(png: Path, colour: str, rows: int = 40) -> bool:
    """Whether pixels of ``colour`` appear in the top ``rows`` of the image."""
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(Image.open(png).convert("RGB"))[:rows].astype(int)
    return bool((np.abs(pixels - target).sum(axis=2) < 40).any())


def test_every_chart_of_an_emulated_run_is_marked(tmp_path: Path) -> None:
    emulated = write_synthetic_run(tmp_path / "e", levels=(1, 4), n=12, emulated=True)
    live = write_synthetic_run(tmp_path / "l", levels=(1, 4), n=12, emulated=False)
    render_report([emulated], tmp_path / "re")
    render_report([live], tmp_path / "rl")
    pngs = sorted((tmp_path / "re").glob("*.png"))
    assert len(pngs) >= 5
    for png in pngs:
        assert Image.open(png).text.get("Description") == "emulated", png.name
        assert _has_ink(png, EMULATED_INK), png.name
    for png in sorted((tmp_path / "rl").glob("*.png")):
        assert "Description" not in Image.open(png).text and not _has_ink(png, EMULATED_INK), png.name


def _no_stream(row: dict) -> None:
    row["stream"] = False
    for key in ("ttft_ms", "ttfa_ms", "output_tps", "tpot_ms", "response_100_ms"):
        row[key] = None
    row["itl_ms"] = []


def test_a_non_streaming_headline_shows_what_it_has(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("openai/gpt-4.1", "groq/openai/gpt-oss-120b"), n=12)
    _rewrite(run, _no_stream)
    _set_meta(run, request={"stream": False, "max_tokens": 128})
    text = _markdown(run)
    headline = text.split("## Headline")[1].split("\n## ")[0]
    table = [line for line in headline.splitlines() if line.startswith("|")]
    assert "e2e p50 (ms) [95% CI]" in table[0] and "end-to-end tokens/s p50" in table[0]
    assert "first token" not in table[0] and "did not stream" in headline
    for row in table[2:]:
        cells = [c.strip() for c in row.strip(" |").split("|")]
        assert "–" not in cells, row  # every cell has a figure
        assert "[" in cells[1]  # the e2e median has its interval


def test_mixed_streaming_and_whole_responses(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("openai/gpt-4.1", "groq/openai/gpt-oss-120b"), n=12)
    _rewrite(run, lambda row: _no_stream(row) if row["target"] == "openai/gpt-4.1" else None)
    headline = _markdown(run).split("## Headline")[1].split("\n## ")[0]
    table = [line for line in headline.splitlines() if line.startswith("|")]
    assert "first token p50" in table[0] and "end-to-end tokens/s p50" in table[0]
    groq = next(r for r in table if "groq/" in r)
    openai = next(r for r in table if "openai/gpt-4.1" in r)
    assert groq.rstrip(" |").split("|")[-3].strip() == "–"  # a stream has its own speed figure
    assert openai.rstrip(" |").split("|")[-3].strip() not in ("–", "")


def test_a_flags_only_run_says_where_its_scenario_is(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=("groq/openai/gpt-oss-120b",), n=4)
    meta = read_run_meta(run)
    meta.scenario_path = "command line"
    write_run_meta(run, meta)
    method = _markdown(run).split("## Method")[1]
    assert "none: given as command-line flags (the run directory keeps it as `scenario.toml`)" in method
