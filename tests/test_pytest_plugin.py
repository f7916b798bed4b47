"""The pytest plugin: the ``bench_run`` fixture in a user's suite (pytester), and the helpers."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

import bench.pytest_plugin as plugin
from bench.gate.baseline import save_baseline
from bench.pytest_plugin import BenchResult, assert_no_regression, assert_slo
from tests.synthetic import write_synthetic_run

pytest_plugins = ["pytester"]

SCENARIO = """
[scenario]
name = "plugin"

[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
label = "groq-20b"

[request]
max_tokens = 8

[load]
concurrency = [1]
requests = 3

[slo]
ttft_p50_ms = 60000
error_rate_max = 0.5
"""


def test_module_reloads_cleanly() -> None:
    """pytest imports the plugin before coverage starts; re-run its top level under coverage."""
    importlib.reload(plugin)
    assert plugin.BenchResult.__name__ == "BenchResult"


def test_fixture_runs_a_scenario_slice_on_the_emulator(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", scenario=SCENARIO)
    pytester.makeini("[pytest]\nbench_emulate = true\nbench_results = results\n")
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest
            from bench.pytest_plugin import assert_slo

            def test_run(bench_run):
                result = bench_run("scenario.toml", requests=2)
                assert result is bench_run("scenario.toml", requests=2)  # cached for the session
                assert result.meta.emulated is True
                measured = result.frame[~result.frame["warmup"]]
                assert len(measured) == 2 and set(measured["target"]) == {"groq-20b"}
                row = result.aggregates.iloc[0]
                assert row["n"] == 2 and row["ttft_ms_p50"] > 0
                assert result.run_dir.parent.name == "results"
                assert_slo(result)
                with pytest.raises(AssertionError, match="ttft_p50_ms measured"):
                    assert_slo(result, {"ttft_p50_ms": 0.001})
            """
        )
    )
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=1)


def test_options_show_in_help(pytester: pytest.Pytester) -> None:
    outcome = pytester.runpytest_inprocess("--help")
    text = outcome.stdout.str()
    assert "--bench-emulate" in text and "--bench-baselines" in text and "bench_results" in text


def run(root: Path, name: str, **kwargs: object) -> Path:
    args: dict[str, object] = {
        "targets": ("groq/llama-3.3-70b-versatile",),
        "n": 60,
        "slo": {"ttft_p50_ms": 1000, "error_rate_max": 0.5},
    }
    return write_synthetic_run(root, run_id=f"20260925-100000-{name}-0000", **{**args, **kwargs})  # type: ignore[arg-type]


def test_assert_no_regression(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = run(tmp_path / "r", "base", seed=1)
    save_baseline("nightly", base, root=tmp_path / "baselines")
    same = run(tmp_path / "r", "same", seed=2)
    comparison = assert_no_regression(same, baseline="nightly", baselines=tmp_path / "baselines", threshold="10%")
    assert comparison.exit_code() == 0

    slow = run(tmp_path / "r", "slow", seed=3, ttft_scale=1.5)
    with pytest.raises(AssertionError, match="REGRESSION"):
        assert_no_regression(
            BenchResult.from_run_dir(slow),
            baseline="nightly",
            baselines=tmp_path / "baselines",
            metrics=["ttft_ms"],
            threshold=0.1,
        )

    few = run(tmp_path / "r", "few", seed=4, n=5)
    monkeypatch.setitem(plugin._settings, "baselines", tmp_path / "baselines")  # as --bench-baselines sets it
    with pytest.warns(plugin.BenchGateWarning, match="too few samples") as caught:
        assert assert_no_regression(few, baseline="nightly").exit_code() == 0
    assert "INCONCLUSIVE" in str(caught[0].message) and "strict=True" in str(caught[0].message)
    with pytest.raises(AssertionError, match="too few samples"):
        assert_no_regression(few, baseline="nightly", strict=True)


def test_assert_slo_on_frames_results_and_errors(tmp_path: Path) -> None:
    good = run(tmp_path / "r", "good", seed=1)
    assert_slo(good)
    assert_slo(BenchResult.from_run_dir(good).frame, {"ttft_p50_ms": 1000})
    with pytest.raises(AssertionError, match="1 of 2 SLO checks failed"):
        assert_slo(good, {"ttft_p50_ms": 1, "error_rate_max": 0.5})
    with pytest.raises(AssertionError, match="no SLOs to assert"):
        assert_slo(BenchResult.from_run_dir(good).frame)
    failing = run(tmp_path / "r", "failing", seed=2, error_share=1.0)
    with pytest.raises(AssertionError, match="no data"):
        assert_slo(failing, {"ttft_p50_ms": 1000})
    with pytest.raises(TypeError, match="run directory"):
        assert_slo(42)


def test_run_results_from_the_runner_are_accepted(tmp_path: Path) -> None:
    from types import SimpleNamespace

    good = run(tmp_path / "r", "good", seed=1)
    assert_slo(SimpleNamespace(run_dir=good, meta=BenchResult.from_run_dir(good).meta))


def test_strict_is_documented() -> None:
    doc = plugin.__doc__ or ""
    assert "strict=True" in doc and "BenchGateWarning" in doc
    assert "strict" in (assert_no_regression.__doc__ or "")


def test_a_gate_with_enough_samples_does_not_warn(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    base = run(tmp_path / "r", "base", seed=1)
    save_baseline("nightly", base, root=tmp_path / "baselines")
    assert_no_regression(run(tmp_path / "r", "same", seed=2), baseline="nightly", baselines=tmp_path / "baselines")
    assert not [w for w in recwarn if issubclass(w.category, plugin.BenchGateWarning)]


def test_failures_point_at_the_users_test_not_the_plugin(pytester: pytest.Pytester, tmp_path: Path) -> None:
    good = run(tmp_path / "r", "good", seed=1)
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            from bench.pytest_plugin import assert_slo

            def test_slo():
                assert_slo({str(good)!r}, {{"ttft_p50_ms": 1}})
            """
        )
    )
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(failed=1)
    text = outcome.stdout.str()
    assert "1 of 1 SLO checks failed" in text
    assert "pytest_plugin.py" not in text  # the helper's own frames are hidden


def test_a_missing_pytest_is_said_plainly() -> None:
    import subprocess
    import sys

    code = "import sys; sys.modules['pytest'] = None; import bench.pytest_plugin"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "bench.pytest_plugin needs pytest, which is not installed" in done.stderr and "pip install pytest" in done.stderr
