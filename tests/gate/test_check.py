"""``bench check``: the scenario's [slo] block judged on a run, one verdict per line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]
SEED_SLO = {"ttft_p50_ms": 100, "output_tps_p50": 500, "response_100_ms_p50": 500, "error_rate_max": 0.01}


def run(root: Path, targets: tuple[str, ...], **kwargs: object) -> Path:
    return write_synthetic_run(root, targets=targets, levels=(1,), n=40, seed=1, **kwargs)  # type: ignore[arg-type]


def test_groq_meets_the_seed_targets(cli: Cli, tmp_path: Path) -> None:
    path = run(tmp_path, ("groq/llama-3.3-70b-versatile",), slo=SEED_SLO)
    code, out, err = cli("check", str(path))
    assert code == 0, out + err
    assert out.startswith("SLOs met: 4 of 4 checks passed")
    for key in ("ttft_p50_ms", "output_tps_p50", "response_100_ms_p50", "error_rate_max"):
        assert key in out
    assert "≤ 100" in out and "≥ 500" in out and "≤ 1.0%" in out


def test_a_failing_slo_exits_1_with_measured_values(cli: Cli, tmp_path: Path) -> None:
    path = run(tmp_path, ("groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo"), slo=SEED_SLO, error_share=0.05)
    code, out, _ = cli("check", str(path), "--format", "md")
    assert code == 1
    assert out.startswith("🔴 **SLO FAILED:")
    openai_ttft = next(line for line in out.splitlines() if "openai/gpt-4-turbo" in line and "ttft_p50_ms" in line)
    assert "FAIL" in openai_ttft and "≤ 100" in openai_ttft
    error_line = next(line for line in out.splitlines() if "groq" in line and "error_rate_max" in line)
    assert "5.0%" in error_line and "FAIL" in error_line


def test_scenario_option_replaces_the_runs_slo(cli: Cli, tmp_path: Path, write_scenario: Callable[..., Path]) -> None:
    path = run(tmp_path, ("openai/gpt-4-turbo",))  # no [slo] recorded
    code, _, err = cli("check", str(path))
    assert code == 2 and "no SLOs to check" in err and "--scenario" in err
    scenario = write_scenario(
        """
        [[target]]
        provider = "openai"
        model = "gpt-4-turbo"

        [load]
        concurrency = [1]
        requests = 10

        [slo]
        ttft_p50_ms = 5000
        """
    )
    code, out, _ = cli("check", str(path), "--scenario", str(scenario), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["passed"] is True and data["verdicts"][0]["key"] == "ttft_p50_ms"


def test_no_data_is_not_a_pass_under_strict(cli: Cli, tmp_path: Path) -> None:
    path = run(tmp_path, ("groq/llama-3.3-70b-versatile",), slo={"ttft_p50_ms": 100}, error_share=1.0)
    code, out, _ = cli("check", str(path))
    assert code == 0 and "1 without data" in out and "no data" in out
    code, _, err = cli("check", str(path), "--strict")
    assert code == 2 and "no data" in err


def test_check_writes_a_file_and_reads_baselines(cli: Cli, tmp_path: Path) -> None:
    path = run(tmp_path, ("groq/llama-3.3-70b-versatile",), slo=SEED_SLO)
    code, _, _ = cli("baseline", "save", "seed", str(path), "--baselines", str(tmp_path / "b"))
    assert code == 0
    out_file = tmp_path / "check.md"
    code, out, _ = cli("check", "seed", "--baselines", str(tmp_path / "b"), "-f", "md", "-o", str(out_file))
    assert code == 0 and out.strip() == "SLOs met: 4 of 4 checks passed"
    assert "baseline 'seed'" in out_file.read_text(encoding="utf-8")


def test_bad_input_exits_2(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("check", str(tmp_path / "missing"))
    assert code == 2 and "bench: error:" in err
    code, _, err = cli("check", str(tmp_path), "--format", "xml")
    assert code == 2 and "unknown format" in err


def test_target_filter(cli: Cli, tmp_path: Path) -> None:
    path = run(tmp_path, ("groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo"), slo=SEED_SLO)
    code, out, _ = cli("check", str(path), "--target", "groq/llama-3.3-70b-versatile")
    assert code == 0 and "openai" not in out
    code, _, err = cli("check", str(path), "-T", "nope")
    assert code == 2 and "unknown target 'nope'" in err
