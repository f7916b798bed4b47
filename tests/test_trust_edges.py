"""Verdicts never overstate. One SLO code path for the summary, the report, ``bench
check`` and the pytest plugin; per-target SLOs; offered vs achieved open-loop rate.

Runs that need the harness use the built-in emulator over loopback; the rest use run
directories written exactly as the runner writes them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from bench.analysis.metrics import arrival_rates
from bench.pytest_plugin import assert_slo
from bench.report import render_report
from bench.report.summary import notes, print_summary
from bench.results.records import RequestRecord, ResultsWriter, load_results
from bench.results.run_file import read_run_meta, write_run_meta
from bench.run.runner import run_scenario
from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]
REPO = Path(__file__).resolve().parent.parent
GROQ = "groq/llama-3.3-70b-versatile"
OPENAI = "openai/gpt-4-turbo"


# --------------------------------------------------------------------------- item 2


def test_every_surface_says_the_same_about_checks_without_data(cli: Cli, tmp_path: Path) -> None:
    """Seen: the summary said "2 of 2 checks pass" where bench check said "2 of 4 passed; 2 without data".

    ``start_lag_ms`` exists only in open loop, so on this closed-loop run that check has no
    data (a run.json from before such SLOs were refused at validation).
    """
    run = write_synthetic_run(tmp_path / "r", targets=(GROQ,), n=40, seed=1, slo={"ttft_p50_ms": 100, "start_lag_p50_ms": 10})
    code, out, err = cli("check", str(run))
    assert code == 0, out + err
    headline = out.splitlines()[0]
    assert headline.startswith("SLOs inconclusive: 1 of 2 checks judged, none failed; 1 without data")
    assert "start_lag_p50_ms" in headline and "no start_lag_ms values" in headline
    assert "pass" not in headline and "met" not in headline.split(";")[0]
    assert "--strict" in err  # the non-strict exit 0 is said, not hidden

    summary = notes(load_results(run), read_run_meta(run))
    assert summary[-1].startswith(headline)

    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    assert headline in readme.split("## SLO verdicts")[1]

    with pytest.raises(AssertionError, match="1 without data") as info:
        assert_slo(run)
    assert headline in str(info.value)


def test_a_failing_check_is_named_the_same_way_everywhere(cli: Cli, tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", targets=(GROQ, OPENAI), n=40, seed=1, slo={"ttft_p50_ms": 100})
    code, out, _ = cli("check", str(run))
    assert code == 1
    headline = out.splitlines()[0]
    assert headline == "SLO FAILED: 1 of 2 checks failed, 1 passed"
    assert notes(load_results(run), read_run_meta(run))[-1].startswith(headline + "; failing: openai/gpt-4-turbo")


# --------------------------------------------------------------------------- item 3


def _with_target_slo(run: Path, label: str, table: dict[str, float]) -> None:
    meta = read_run_meta(run)
    for target in meta.scenario["targets"]:
        if target["label"] == label:
            target["slo"] = table
    write_run_meta(run, meta)


def test_a_targets_own_slo_applies_to_that_target_only(cli: Cli, tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "r", targets=(GROQ, OPENAI), n=40, seed=1, slo={"error_rate_max": 0.5})
    _with_target_slo(run, GROQ, {"ttft_p50_ms": 100, "error_rate_max": 0.2})
    code, out, err = cli("check", str(run))
    assert code == 0, out + err
    assert out.startswith("SLOs met: 3 of 3 checks passed")
    lines = out.splitlines()
    assert any(GROQ in line and "ttft_p50_ms" in line for line in lines)
    assert not any(OPENAI in line and "ttft_p50_ms" in line for line in lines)
    # the target's error_rate_max overrides the scenario-wide one for that target only
    assert any(GROQ in line and "error_rate_max" in line and "≤ 20.0%" in line for line in lines)
    assert any(OPENAI in line and "error_rate_max" in line and "≤ 50.0%" in line for line in lines)
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    assert "SLOs met: 3 of 3 checks passed" in readme
    assert "pass · 0.0% [0.0%–8.8%] (≤ 20.0%)" in readme  # the threshold is per target, so each cell says it


def test_per_target_slos_are_recorded_in_the_run(tmp_path: Path, write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(
        """
        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-20b"

        [target.slo]
        ttft_p50_ms = 60000

        [[target]]
        provider = "openai"
        model = "gpt-4.1"

        [request]
        max_tokens = 8

        [load]
        concurrency = [1]
        requests = 2

        [slo]
        error_rate_max = 0.5
        """
    )
    result = run_scenario(path, out=tmp_path / "results", emulate=True)
    scenario = read_run_meta(Path(result.run_dir)).scenario
    assert scenario["slo"] == {"error_rate_max": 0.5}
    assert [t["slo"] for t in scenario["targets"]] == [{"ttft_p50_ms": 60000}, {}]
    assert_slo(result)


def test_check_passes_on_a_healthy_emulated_quickstart_run(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli(
        "run",
        str(REPO / "scenarios" / "quickstart.toml"),
        "--emulate",
        "--out",
        str(tmp_path),
        "--requests",
        "4",
        "--concurrency",
        "1",
        "--quiet",
        "--no-report",
    )
    assert code == 0, err
    assert "SLOs met:" in out
    code, out, err = cli("check", str(tmp_path))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("SLOs met:")
    assert any("groq/gpt-oss-120b" in line and "ttft_p50_ms" in line for line in lines)
    others = [line for line in lines if "openai/gpt-4.1" in line or "anthropic/" in line]
    assert others and all("error_rate_max" in line for line in others)


# --------------------------------------------------------------------------- item 4


def test_open_loop_summary_shows_offered_and_achieved_rate(tmp_path: Path, write_scenario: Callable[..., Path]) -> None:
    """Seen: rate = [2, 4], duration_s = 3 gave 11 requests at 2/s and 6 at 4/s, and no word about it."""
    path = write_scenario(
        """
        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-20b"

        [request]
        max_tokens = 8

        [load]
        rate = [2, 4]
        duration_s = 3
        """
    )
    result = run_scenario(path, out=tmp_path / "results", emulate=True)
    frame = load_results(result.run_dir)
    rates = arrival_rates(frame)
    assert [r.offered for r in rates] == [2.0, 4.0]
    assert all(r.achieved > 0 and r.span_s > 0 for r in rates)
    out = io.StringIO()
    print_summary(frame, read_run_meta(Path(result.run_dir)), Console(file=out, width=250))
    text = out.getvalue()
    assert "offered req/s" in text and "achieved req/s" in text
    for r in rates:
        assert f"{r.achieved:.2f}" in text


def _late_open_loop_run(root: Path, *, lag_per_request_ms: float, n: int = 60, rate: float = 10.0) -> Path:
    """An open-loop level whose requests were due every 1/rate s but left later and later."""
    run_dir = root / "20260925-100000-late-0000"
    run_dir.mkdir(parents=True)
    write_run_meta(
        run_dir,
        {
            "run_id": run_dir.name,
            "scenario_name": "late",
            "finished": True,
            "interrupted": False,
            "scenario": {"name": "late", "targets": [{"label": "t"}], "slo": {}},
        },
    )
    writer = ResultsWriter(run_dir)
    for i in range(n):
        due_ms = i * 1000.0 / rate
        lag_ms = i * lag_per_request_ms
        writer.write(
            RequestRecord(
                run_id=run_dir.name,
                target="t",
                provider="groq",
                model="m",
                load_mode="rate",
                load_level=rate,
                request_index=i,
                warmup=False,
                stream=True,
                started_at_ns=10**18 + int((due_ms + lag_ms) * 1e6),
                ttft_ms=50.0,
                ttfa_ms=50.0,
                e2e_ms=120.0,
                output_tokens=10,
                scheduled_ms=due_ms,
                start_lag_ms=lag_ms,
            )
        )
    writer.close()
    return run_dir


def test_a_short_achieved_rate_is_warned_in_summary_and_report(tmp_path: Path) -> None:
    run = _late_open_loop_run(tmp_path, lag_per_request_ms=100.0)  # 10/s offered, 5/s achieved over ~12 s
    frame = load_results(run)
    (rate,) = arrival_rates(frame)
    assert rate.short and rate.achieved == pytest.approx(5.0, rel=0.01) and rate.achieved < rate.floor
    lines = notes(frame, read_run_meta(run))
    warning = next(line for line in lines if "achieved" in line)
    assert warning.startswith("warning: t 10 req/s: achieved 5.00 req/s of 10 offered (60 requests over 11.8 s")
    assert "Poisson noise" in warning
    readme = render_report([run], tmp_path / "report").read_text(encoding="utf-8")
    load = readme.split("## Load behaviour")[1]
    assert "offered req/s" in load and "achieved req/s" in load and "5.00 ⚠️" in load
    assert "⚠️ t at 10 req/s offered: 5.00 req/s achieved" in load


def test_a_rate_within_poisson_noise_is_not_warned(tmp_path: Path) -> None:
    run = _late_open_loop_run(tmp_path, lag_per_request_ms=1.0)  # 10/s offered, ~9.9/s achieved
    frame = load_results(run)
    (rate,) = arrival_rates(frame)
    assert not rate.short
    assert not any("achieved" in line for line in notes(frame, read_run_meta(run)))
