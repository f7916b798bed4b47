"""Request shapes in the report: a prompt ladder's rungs, cold and warm, each a row of its own,
ordered by the scenario (targets) and by length (shapes), never pooled where pooling misleads."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.analysis.loaded import LoadedRun
from bench.analysis.prefill import prefill_fits, prefill_groups
from bench.analysis.workload import by_turn, cold_warm, shape_order, token_counts, without_cache
from bench.report import render_report
from bench.report.analyse import build_model
from bench.report.analyse_method import slo_classes_text
from bench.report.chart_load import _load_series, latency_vs_load_chart
from bench.report.chart_prefill import prefill_chart
from bench.report.data import build, shape_text
from bench.report.export import export_run
from bench.report.export.pytest_benchmark import pytest_benchmark_document
from bench.report.export.vllm import vllm_results
from bench.results.run_file import read_run_meta
from tests.synthetic import PREFILL_TOKENS_PER_S, WARM_CACHED, synthetic_frame, write_synthetic_run

TARGETS = ("groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo")
LADDER = ("input 128", "input 2000", "input 8000", "input 32000")
COLD_WARM = ("input 8000, warm", "input 8000, cold", "input 2000, warm", "input 2000, cold")


def _run(tmp_path: Path, shapes: tuple[str, ...], **kwargs: Any) -> Path:
    return write_synthetic_run(tmp_path / "results", targets=TARGETS, n=20, shape=shapes, **kwargs)


def _edit_scenario(run_dir: Path, **changes: Any) -> None:
    path = run_dir / "run.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(meta["scenario"].get(key), dict):
            meta["scenario"][key].update(value)
        else:
            meta["scenario"][key] = value
    path.write_text(json.dumps(meta), encoding="utf-8")


def _section(readme: str, title: str) -> str:
    return readme.split(f"## {title}")[1].split("\n## ")[0]


def _rows(section: str, start: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith(f"| {start}")]


# --------------------------------------------------------------------------- ordering


def test_shape_order_sorts_by_input_then_output_then_cold_before_warm() -> None:
    labels = ["input 8000, warm", "input 2000, warm", "input 8000, cold", "input 2000, cold", "input <1000", "input 1000-7999"]
    assert sorted(labels, key=shape_order) == [
        "input <1000",
        "input 1000-7999",
        "input 2000, cold",
        "input 2000, warm",
        "input 8000, cold",
        "input 8000, warm",
    ]
    assert sorted(["output 512", "output 64"], key=shape_order) == ["output 64", "output 512"]
    assert without_cache("input 2000, output 64, warm") == "input 2000, output 64"
    assert shape_text(pd.NA) == "" and shape_text(None) == "" and shape_text("warm") == "warm"


def test_series_are_per_target_and_shape_in_scenario_and_length_order(tmp_path: Path) -> None:
    run = _run(tmp_path, COLD_WARM)
    # The scenario lists the targets the other way round from how their rows were written.
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    _edit_scenario(run, targets=list(reversed(meta["scenario"]["targets"])))
    data = build([run])
    assert [(s.target, s.shape) for s in data.series] == [
        (TARGETS[1], "input 2000, cold"),
        (TARGETS[1], "input 2000, warm"),
        (TARGETS[1], "input 8000, cold"),
        (TARGETS[1], "input 8000, warm"),
        (TARGETS[0], "input 2000, cold"),
        (TARGETS[0], "input 2000, warm"),
        (TARGETS[0], "input 8000, cold"),
        (TARGETS[0], "input 8000, warm"),
    ]
    # Each series holds its own shape's rows only.
    for s in data.series:
        assert set(s.rows["shape"]) == {s.shape} and len(s.rows) == 20
    assert data.shaped and data.headline_shape == "input 2000, cold"
    assert [s.shape for s in data.chart_series] == ["input 2000, cold"] * 2


def test_plain_runs_have_no_shape_anywhere(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "results", targets=TARGETS, n=10, slo={"ttft_p95_ms": 5000})
    data = build([run])
    assert not data.shaped and data.chart_series == data.series
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    assert "shape" not in readme.split("## Method")[0]


# --------------------------------------------------------------------------- headline, answer, tables


def test_two_shapes_give_two_headline_rows_per_target_with_their_labels(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 8000", "input 2000"), slo={"ttft_p95_ms": 5000})
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    headline = _section(readme, "Headline")
    assert "| target" in headline and "| shape" in headline.splitlines()[4]
    rows = [r[:2] for r in _rows(headline, "groq") + _rows(headline, "openai")]
    assert rows == [
        [TARGETS[0], "input 2000"],
        [TARGETS[0], "input 8000"],
        [TARGETS[1], "input 2000"],
        [TARGETS[1], "input 8000"],
    ]
    # The longer rung's first token is slower by its prefill: the rows are not copies.
    ttft = {r[1]: float(r[2].split()[0].replace(",", "")) for r in _rows(headline, "groq")}
    assert ttft["input 8000"] - ttft["input 2000"] == pytest.approx(6000 * 1000 / PREFILL_TOKENS_PER_S, rel=0.35)
    # The answer first ranks at one shape and says which.
    answer = readme.split("**The answer first**")[1].split("\n")[0]
    assert "request shape `input 2000`, the first of 2 shapes" in answer
    assert "ranked within one shape only" in answer
    # Every per-group table has a shape column with each row's label.
    for title in ("Cost", "SLO verdicts", "Load behaviour", "Errors"):
        section = _section(readme, title)
        if "| target" in section:
            assert "| shape" in section, title
            labels = [r[1] for r in _rows(section, "groq")]
            assert labels == ["input 2000", "input 8000"], (title, labels)
    slo = _section(readme, "SLO verdicts")
    assert "per target and shape" not in slo  # one bound for every shape: the header names it


def test_the_answer_ranks_targets_within_the_first_shape_only(tmp_path: Path) -> None:
    # groq at 32,000 tokens is slower to the first token than openai at 128: pooling would mix them.
    run = _run(tmp_path, ("input 32000", "input 128"))
    model = build_model(build([run]))
    assert model.answer is not None
    assert model.answer.shape == "input 128" and model.answer.shapes == 2
    ttft = next(r for r in model.answer.rankings if r.figure == "ttft")
    assert ttft.targets[0] == TARGETS[0]
    heads = {(h.target, h.shape): h.ttft_p50 for h in model.headline.rows}
    assert ttft.values[0] == pytest.approx(heads[(TARGETS[0], "input 128")])


def test_slo_classes_show_per_group_bounds_and_are_described(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 2000", "input 32000"), slo={"ttft_p95_ms": 1000})
    _edit_scenario(run, slo_classes={"long": {"input_tokens": [32000], "ttft_p95_ms": 4000}})
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    slo = _section(readme, "SLO verdicts")
    rows = {r[1]: r[3] for r in _rows(slo, "groq")}
    assert rows["input 2000"].endswith("(≤ 1,000)") and rows["input 32000"].endswith("(≤ 4,000)")
    assert "per target and shape" in slo and "`[slo.class.NAME]`" in slo
    method = _section(readme, "Method")
    assert "| SLO classes" in method
    assert "`long` covers input 32,000 tokens: first token p95 ≤ 4,000 ms" in method


def test_slo_classes_in_words() -> None:
    text = slo_classes_text(
        {
            "slo_classes": {
                "warm": {"cache": "warm", "ttft_p50_ms": 300, "error_rate_max": 0.01},
                "short": {"input_tokens": [128, 2000], "max_tokens": [64], "output_tps_p50": 50},
            }
        }
    )
    assert text is not None
    assert "`warm` covers warm cache: first token p50 ≤ 300 ms, error rate ≤ 1.0%" in text
    assert "`short` covers input 128 / 2,000 tokens and output 64 tokens: tokens/s p50 ≥ 50" in text
    assert slo_classes_text({}) is None


def test_method_describes_ladders_cache_states_and_bins(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 2000, cold", "input 2000, warm"))
    _edit_scenario(
        run,
        prompts={"input_tokens": [2000, 8000, 24000], "cache": ["cold", "warm"], "shared_prefix_tokens": 1500, "bins": None},
        request={"max_tokens": [64, 512]},
    )
    method = _section(render_report([run], tmp_path / "report").read_text(encoding="utf-8"), "Method")
    assert "input tokens: ladder 2,000 / 8,000 / 24,000, each rung its own group" in method
    assert "cold and warm cache, each its own group; warm primed once per target, level and rung" in method
    assert "max_tokens: ladder 64 / 512, each rung its own group" in method
    assert "['cold', 'warm']" not in method and "~[2000" not in method
    _edit_scenario(
        run, prompts={"input_tokens": {"mean": 3000, "stdev": 2000, "min": 100, "max": 20000}, "bins": [0, 1000, 8000]}
    )
    method = _section(render_report([run], tmp_path / "report").read_text(encoding="utf-8"), "Method")
    assert "input lengths grouped in bins 0–999 / 1,000–7,999 / 8,000 and more tokens, each bin its own group" in method


def test_client_health_rows_name_their_shape(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 8000", "input 2000"))
    path = run / "run.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    level = {
        "target": " + ".join(TARGETS),
        "load_mode": "concurrency",
        "load_level": 1.0,
        "worker": 0,
        "wall_s": 1.0,
        "cpu_util": 0.1,
        "loop_lag_ms_p50": 0.1,
        "loop_lag_ms_p99": 0.2,
        "loop_lag_ms_max": 0.3,
        "chunks_per_s": 100.0,
        "rss_start_mb": 100.0,
        "rss_peak_mb": 110.0,
        "kb_per_stream": 10.0,
        "fds_start": 10,
        "fds_peak": 12,
        "fds_end": 11,
        "samples": 10,
        "streams": 2,
    }
    meta["client_health"] = {
        "levels": [{**level, "shape": "input 8000"}, {**level, "shape": "input 2000"}],
        "budget": {"cpu_util": 0.85, "loop_lag_p99_ms": 2.0, "start_lag_p99_ms": 50.0},
        "saturated": False,
        "findings": [],
    }
    path.write_text(json.dumps(meta), encoding="utf-8")
    assert read_run_meta(run).client_health is not None
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    health = readme.split("### Client health")[1]
    assert "| target" in health and "| shape" in health
    assert [r[1] for r in _rows(health, "groq")] == ["input 2000", "input 8000"]


# --------------------------------------------------------------------------- prompt length, cache and turns


def test_the_prefill_fit_pools_a_four_rung_ladder_and_recovers_the_slope(tmp_path: Path) -> None:
    run = _run(tmp_path, LADDER)
    frame = LoadedRun(run, read_run_meta(run)).frame
    fits = prefill_fits(frame, n_resamples=200)
    assert [(f.target, f.cache) for f in fits] == [(TARGETS[0], ""), (TARGETS[1], "")]
    for f in fits:
        assert f.n == 4 * 20 and f.tokens_min == 128 and f.tokens_max == 32000
        assert f.prefill_tokens_per_s == pytest.approx(PREFILL_TOKENS_PER_S, rel=0.1)
        low, high = f.prefill_tokens_per_s_ci
        assert low < PREFILL_TOKENS_PER_S * 1.1 and high > PREFILL_TOKENS_PER_S * 0.9
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    section = _section(readme, "Prompt length, cache and turns")
    assert "Every rung of the prompt ladder" not in section  # one cache state: no cache column
    assert len(_rows(section, "groq")) >= 1
    assert (tmp_path / "report" / "ttft_vs_input_tokens.png").is_file()


def test_cold_and_warm_are_fitted_apart_never_mixed(tmp_path: Path) -> None:
    shapes = tuple(f"{rung}, {cache}" for rung in LADDER for cache in ("cold", "warm"))
    run = _run(tmp_path, shapes)
    frame = LoadedRun(run, read_run_meta(run)).frame
    groups = prefill_groups(frame)
    assert {(g.target, g.cache) for g in groups} == {(t, c) for t in TARGETS for c in ("cold", "warm")}
    for g in groups:
        rows = frame.loc[(frame["target"] == g.target) & frame["shape"].str.endswith(g.cache) & ~frame["warmup"]]
        assert g.tokens.size == len(rows) == 4 * 20
    fits = {(f.target, f.cache): f for f in prefill_fits(frame, n_resamples=200)}
    cold, warm = fits[(TARGETS[0], "cold")], fits[(TARGETS[0], "warm")]
    assert cold.prefill_tokens_per_s == pytest.approx(PREFILL_TOKENS_PER_S, rel=0.1)
    # Warm prompts prefill only the part the cache did not serve: a line of its own.
    assert warm.prefill_tokens_per_s == pytest.approx(PREFILL_TOKENS_PER_S / (1 - WARM_CACHED), rel=0.15)
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    section = _section(readme, "Prompt length, cache and turns")
    fit_table = section.split("prefill tokens/s [95% CI]")[0].splitlines()[-1]
    assert fit_table.split("|")[2].strip() == "cache"
    assert [r[1] for r in _rows(section, "groq")[:2]] == ["cold", "warm"]
    assert "fitted apart, never together" in section


def test_cold_against_warm_per_rung_with_the_right_ratio(tmp_path: Path) -> None:
    run = _run(tmp_path, COLD_WARM)
    frame = LoadedRun(run, read_run_meta(run)).frame
    rows = cold_warm(frame)
    assert [(r.target, r.rung) for r in rows] == [(t, rung) for t in sorted(TARGETS) for rung in ("input 2000", "input 8000")]
    ok = frame.loc[(frame["status"] == "ok") & ~frame["warmup"]]
    for r in rows:
        mine = ok.loc[ok["target"] == r.target]
        cold = float(np.median(mine.loc[mine["shape"] == f"{r.rung}, cold", "ttft_ms"]))
        warm = float(np.median(mine.loc[mine["shape"] == f"{r.rung}, warm", "ttft_ms"]))
        assert r.cold_ttft_ms_p50 == pytest.approx(cold) and r.warm_ttft_ms_p50 == pytest.approx(warm)
        assert r.ratio == pytest.approx(warm / cold) and r.ratio < 1
        assert r.cold_cached_share == 0 and r.warm_cached_share == pytest.approx(WARM_CACHED)
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    section = _section(readme, "Prompt length, cache and turns")
    table = section.split("Cold against warm first-token time")[1].split("\n\n")[1]
    groq = _rows(table, "groq")
    assert [g[1] for g in groq] == ["input 2000", "input 8000"]
    first = next(r for r in rows if r.target == TARGETS[0] and r.rung == "input 2000")
    assert groq[0][6] == f"{first.ratio:.2f}×" and groq[0][8] == "75.0%"


def test_no_cold_warm_table_with_one_cache_state(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 2000, cold", "input 8000, cold"))
    assert cold_warm(LoadedRun(run, read_run_meta(run)).frame) == []


def test_token_counts_are_per_rung(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 8000", "input 2000"))
    rows = token_counts(LoadedRun(run, read_run_meta(run)).frame)
    assert [(r.target, r.rung, r.asked_p50) for r in rows] == [
        (t, rung, float(rung.split()[1])) for t in sorted(TARGETS) for rung in ("input 2000", "input 8000")
    ]


def test_turns_are_told_apart_per_shape() -> None:
    frame = pd.concat(
        [synthetic_frame(targets=TARGETS[:1], n=6, shape=s, seed=i) for i, s in enumerate(("input 2000", "input 8000"))],
        ignore_index=True,
    )
    frame["turn"] = np.where(frame["request_index"] % 2 == 0, 1.0, 2.0)
    rows = by_turn(frame)
    assert [(r.shape, r.turn) for r in rows] == [("input 2000", 1), ("input 2000", 2), ("input 8000", 1), ("input 8000", 2)]


# --------------------------------------------------------------------------- charts and exports


def test_the_prefill_chart_draws_every_rung(tmp_path: Path) -> None:
    run = _run(tmp_path, tuple(f"{rung}, {cache}" for rung in LADDER for cache in ("cold", "warm")))
    data = build([run])
    assert prefill_chart(data, tmp_path / "prefill.png")
    assert (tmp_path / "prefill.png").stat().st_size > 10_000


def test_distribution_charts_say_they_draw_one_shape(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 8000", "input 2000"))
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    assert "The charts below draw each target at one request shape only, `input 2000`" in _section(readme, "Headline")


def test_vllm_export_names_and_labels_differ_per_shape(tmp_path: Path) -> None:
    run = _run(tmp_path, COLD_WARM)
    loaded = LoadedRun(run, read_run_meta(run))
    results = vllm_results(loaded.frame, loaded.meta)
    names = [name for name, _ in results]
    assert len(names) == len(set(names)) == len(TARGETS) * len(COLD_WARM)
    assert any(name.endswith("-input-2000-warm.json") for name in names)
    assert any(name.endswith("-input-2000-cold.json") for name in names)
    labels = [result["label"] for _, result in results]
    assert len(set(labels)) == len(labels)
    assert f"{TARGETS[0]} · input 2000, warm" in labels


def test_vllm_goodput_uses_the_groups_slo_class(tmp_path: Path) -> None:
    run = _run(tmp_path, ("input 2000", "input 32000"))
    _edit_scenario(
        run,
        slo={"request_ttft_ms": 1000},
        slo_classes={"long": {"input_tokens": [32000], "request_ttft_ms": 10000}},
    )
    loaded = LoadedRun(run, read_run_meta(run))
    goodput = {r["label"]: r["request_goodput"] for _, r in vllm_results(loaded.frame, loaded.meta)}
    # At 32,000 tokens every first token is over 1 s: without the class, goodput would be 0.
    long = goodput[f"{TARGETS[0]} · input 32000"]
    assert long is not None and not math.isclose(long, 0.0)


def test_run_to_run_rows_name_their_shape_and_show_the_ladder_prefill_judgment(tmp_path: Path) -> None:
    shapes = ("input 8000", "input 2000", "input 32000")
    a = write_synthetic_run(tmp_path / "a", targets=TARGETS[:1], n=40, shape=shapes)
    b = write_synthetic_run(
        tmp_path / "b", run_id="20260926-100000-synthetic-0001", targets=TARGETS[:1], n=40, shape=shapes, seed=7
    )
    readme = render_report([a, b], tmp_path / "report").read_text(encoding="utf-8")
    section = _section(readme, "Run to run")
    header = next(line for line in section.splitlines() if line.startswith("| target"))
    assert [c.strip() for c in header.split("|")[1:4]] == ["target", "shape", "load"]
    assert "prefill tokens/s (fit)" in header
    rows = _rows(section, "groq")
    assert [r[1] for r in rows] == ["input 2000", "input 2000-32000", "input 8000", "input 32000"]
    pooled = next(r for r in rows if r[1] == "input 2000-32000")
    prefill = [c.strip() for c in header.split("|")[1:-1]].index("prefill tokens/s (fit)")
    assert "→" in pooled[prefill]
    # The model names each run's series by its shape too.
    assert {s.name for s in build([a, b]).series} >= {f"{TARGETS[0]} · run 1 · input 2000", f"{TARGETS[0]} · run 2 · input 32000"}


def test_load_charts_draw_a_line_per_target_and_shape(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "results", targets=TARGETS, n=10, levels=(1, 4), shape=("input 8000", "input 2000"))
    data = build([run])
    by_mode = _load_series(data)
    assert [(s.target, s.shape) for s in by_mode["concurrency"]] == [
        (t, r) for t in TARGETS for r in ("input 2000", "input 8000")
    ]
    for s in by_mode["concurrency"]:
        assert set(s.levels["shape"]) == {s.shape} and len(s.levels) == 2
    assert latency_vs_load_chart(data, tmp_path / "latency.png")


def test_csv_and_pytest_benchmark_exports_keep_shapes_apart(tmp_path: Path) -> None:
    run = _run(tmp_path, COLD_WARM)
    paths = export_run(run, "csv", tmp_path / "csv")
    aggregates = pd.read_csv(next(p for p in paths if p.name == "aggregates.csv"), keep_default_na=False)
    assert len(aggregates) == len(TARGETS) * len(COLD_WARM)
    assert sorted(set(aggregates["shape"])) == sorted(COLD_WARM)
    assert not aggregates.duplicated(["target", "load_mode", "load_level", "client", "shape"]).any()
    names = [b["name"] for b in pytest_benchmark_document(run)["benchmarks"]]
    assert len(names) == len(set(names))
    assert any("input 2000, warm" in n for n in names) and any("input 2000, cold" in n for n in names)
