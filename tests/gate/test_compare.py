"""``bench compare`` as a CI job meets it: verdicts, exit codes, formats, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.gate.compare import CompareSettings, Verdict, compare_sides
from bench.results.run_file import read_run_meta, write_run_meta
from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]
TARGETS = ("groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo")


def run(root: Path, name: str, **kwargs: object) -> Path:
    args: dict[str, object] = {"targets": TARGETS, "levels": (1, 4), "n": 60, "warmup": 2}
    args.update(kwargs)
    return write_synthetic_run(root, run_id=f"20260925-10000{len(list(root.glob('*')))}-{name}-0000", **args)  # type: ignore[arg-type]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return run(tmp_path / "base", "base", seed=1)


def test_identical_configurations_pass(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2)
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 0, out + err
    assert out.startswith("No regression: 12 comparisons")
    assert "ttft_ms p50" in out and "output_tps p50" in out
    assert not any(line.rstrip().endswith(("regression", "improvement")) for line in out.splitlines())
    assert err == ""


def test_a_clear_ttft_regression_fails(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, ttft_scale=1.5)
    code, out, _ = cli("compare", str(base), str(cand), "--format", "md")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("🔴 **REGRESSION: 4 of 12 comparisons got worse") and "ttft_ms" in first
    table = [line for line in out.splitlines() if line.startswith("|")]
    # Largest changes first: every regression row comes before the rest.
    verdicts = [line.rsplit("|", 2)[-2].strip() for line in table[2:]]
    assert verdicts[:4] == ["🔴 regression"] * 4 and "🔴 regression" not in verdicts[4:]


def test_an_output_speed_regression_fails(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, tps_scale=0.7)
    code, out, _ = cli("compare", str(base), str(cand), "--metric", "output_tps")
    assert code == 1
    assert "output_tps" in out.splitlines()[0]


def test_an_improvement_passes_and_is_reported(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, ttft_scale=0.6)
    code, out, _ = cli("compare", str(base), str(cand), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["exit_code"] == 0 and "4 improved" in data["headline"]
    improved = [m for m in data["metrics"] if m["verdict"] == "improvement"]
    assert len(improved) == 4 and all(m["metric"] == "ttft_ms" and m["change"] < -0.3 for m in improved)


def test_failing_requests_are_a_regression_however_fast(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, error_share=0.2, ttft_scale=0.8)
    code, out, _ = cli("compare", str(base), str(cand))
    assert code == 1
    assert "error rate" in out.splitlines()[0]
    assert "12/60 (20.0%)" in out and "rate_limited" in out


def test_the_same_error_rate_is_not_a_regression(cli: Cli, tmp_path: Path) -> None:
    a = run(tmp_path / "a", "a", seed=1, error_share=0.05)
    b = run(tmp_path / "b", "b", seed=2, error_share=0.05)
    code, out, _ = cli("compare", str(a), str(b))
    assert code == 0 and "not significant" not in out.splitlines()[0]


def test_fewer_errors_is_an_improvement(tmp_path: Path) -> None:
    from bench.gate.baseline import load_side

    a = load_side(str(run(tmp_path / "a", "a", seed=1, error_share=0.3)))
    b = load_side(str(run(tmp_path / "b", "b", seed=2)))
    comparison = compare_sides(a, b)
    assert {e.verdict for e in comparison.errors} == {Verdict.IMPROVEMENT}
    assert comparison.exit_code() == 0


def test_targets_on_one_side_are_reported_not_dropped(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, targets=(TARGETS[0], "anthropic/claude-sonnet-5-5"), levels=(1,))
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 0
    assert "only in baseline" in out and "openai/gpt-4-turbo @ concurrency 1" in out
    assert "only in candidate" in out and "anthropic/claude-sonnet-5-5 @ concurrency 1" in out
    assert "groq/llama-3.3-70b-versatile @ concurrency 4" in err  # missing level named in the warning
    code, _, err = cli("compare", str(base), str(cand), "--strict")
    assert code == 2 and "--strict" in err


def test_too_few_samples_is_said_plainly(cli: Cli, tmp_path: Path) -> None:
    a = run(tmp_path / "a", "a", seed=1, n=10)
    b = run(tmp_path / "b", "b", seed=2, n=10, ttft_scale=3.0)
    code, out, err = cli("compare", str(a), str(b))
    assert code == 0
    assert "too few samples" in out and "need 30 successful requests a side" in err
    code, _, err = cli("compare", str(a), str(b), "--strict")
    assert code == 2 and err.count("\n") == 1
    code, out, _ = cli("compare", str(a), str(b), "--min-samples", "5")
    assert code == 1


def test_results_roots_and_output_file(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "results"
    run(root, "old", seed=1)
    run(root, "new", seed=2, ttft_scale=1.6)
    out_file = tmp_path / "out" / "compare.md"
    code, out, _ = cli(
        "compare", str(root / sorted(p.name for p in root.iterdir())[0]), str(root), "-f", "md", "-o", str(out_file)
    )
    assert code == 1
    assert out.startswith("REGRESSION") and out.count("\n") == 1  # only the verdict line on stdout
    assert out_file.read_text(encoding="utf-8").startswith("🔴 **REGRESSION")


def test_not_comparable_runs_exit_2_unless_forced(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2)
    meta = read_run_meta(cand)
    write_run_meta(cand, meta.updated(fingerprint="ffffffffffffffff"))
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 2 and out == ""
    assert err.startswith("bench: error: runs are not comparable: scenario fingerprints differ") and err.count("\n") == 1
    code, out, err = cli("compare", str(base), str(cand), "--force")
    assert code == 0 and "compared with --force although scenario fingerprints differ" in out + err

    live = run(tmp_path / "live", "live", seed=3, emulated=False)
    code, _, err = cli("compare", str(base), str(live))
    assert code == 2 and "emulated baseline against live candidate" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "speed"], "unknown metric 'speed'"),
        (["--threshold", "ten"], "expected a percentage"),
        (["--threshold", "10"], "ambiguous"),
        (["--threshold", "-5%"], "greater than 0"),
        (["--format", "html"], "unknown format"),
        (["--min-samples", "1"], "min-samples"),
    ],
)
def test_bad_options_exit_2(cli: Cli, base: Path, args: list[str], message: str) -> None:
    code, out, err = cli("compare", str(base), str(base), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_sides_exit_2(cli: Cli, base: Path, tmp_path: Path) -> None:
    code, _, err = cli("compare", str(base), str(tmp_path / "nowhere"))
    assert code == 2 and "not a run directory, a results root with runs, or a saved baseline" in err

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json", encoding="utf-8")
    code, _, err = cli("compare", str(base), str(broken))
    assert code == 2 and "not valid JSON" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text("{}", encoding="utf-8")
    code, _, err = cli("compare", str(base), str(empty))
    assert code == 2 and "no requests recorded" in err

    other = run(tmp_path / "other", "other", seed=2, targets=("anthropic/claude-sonnet-5-5",))
    code, _, err = cli("compare", str(base), str(other))
    assert code == 2 and "nothing in common" in err


def test_settings_are_checked() -> None:
    with pytest.raises(BenchError, match="no metrics"):
        CompareSettings(metrics=())
    with pytest.raises(BenchError, match="threshold"):
        CompareSettings(threshold=0)
    with pytest.raises(BenchError, match="confidence"):
        CompareSettings(confidence=1.0)


def test_a_metric_absent_on_both_sides_is_not_measured(tmp_path: Path) -> None:
    from bench.gate.baseline import load_side

    a = load_side(str(run(tmp_path / "a", "a", seed=1)))
    b = load_side(str(run(tmp_path / "b", "b", seed=2)))
    comparison = compare_sides(a, b, CompareSettings(metrics=("ttft_ms", "start_lag_ms")))
    lag = [m for m in comparison.metrics if m.metric == "start_lag_ms"]
    assert lag and all(m.verdict is Verdict.NOT_MEASURED for m in lag)
    assert comparison.exit_code(strict=True) == 0
    assert comparison.family_size == 4


def test_target_filter(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, ttft_scale=1.5)
    code, out, _ = cli("compare", str(base), str(cand), "--target", TARGETS[0], "-m", "ttft_ms")
    assert code == 1 and TARGETS[1] not in out
    code, _, err = cli("compare", str(base), str(cand), "--target", "nope")
    assert code == 2 and "unknown target 'nope'" in err


def test_comparisons_that_could_not_be_judged_make_the_headline_inconclusive(cli: Cli, base: Path, tmp_path: Path) -> None:
    """A 5-request run against a baseline at other levels: never a green "No regression"."""
    cand = run(tmp_path / "cand", "cand", seed=2, n=5, levels=(1, 8))
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 0, out + err
    first = out.splitlines()[0]
    assert first.startswith("INCONCLUSIVE: no regression in ")
    # why and how many: 4 metric comparisons with too few samples, 2 groups on one side only
    assert "could not be judged (4 too few samples, 2 only in baseline, 2 only in candidate)" in first
    code, out, _ = cli("compare", str(base), str(cand), "--format", "md")
    assert code == 0 and out.startswith("⚠️ **INCONCLUSIVE") and "✅" not in out
    code, out, _ = cli("compare", str(base), str(cand), "--format", "json")
    data = json.loads(out)
    assert data["status"] == "inconclusive" and data["inconclusive"] is True and data["unjudged"] == 8
    code, out, err = cli("compare", str(base), str(cand), "--strict")
    assert code == 2 and err.startswith("bench: error: inconclusive") and err.count("\n") == 1


def test_candidate_only_groups_are_inconclusive_under_strict(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, levels=(1, 4, 8))
    code, out, _ = cli("compare", str(base), str(cand))
    assert code == 0 and out.startswith("INCONCLUSIVE") and "2 only in candidate" in out.splitlines()[0]
    code, _, _ = cli("compare", str(base), str(cand), "--strict")
    assert code == 2


def test_runs_with_no_common_level_are_not_comparable(cli: Cli, base: Path, tmp_path: Path) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2, levels=(8,))
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 2 and out == ""
    assert err.startswith("bench: error: runs are not comparable: nothing in common") and err.count("\n") == 1
    assert "concurrency 8" in err and "concurrency 4" in err  # what each side has


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"finished": False, "interrupted": True}, "interrupted before it finished"),
        ({"finished": False, "interrupted": False}, "did not finish"),
        (None, "no run.json"),
    ],
)
def test_an_unfinished_candidate_is_said_to_be_incomplete(
    cli: Cli, base: Path, tmp_path: Path, change: dict[str, bool] | None, said: str
) -> None:
    cand = run(tmp_path / "cand", "cand", seed=2)
    if change is None:
        (cand / "run.json").unlink()
    else:
        write_run_meta(cand, read_run_meta(cand).updated(**change))
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 0, out + err
    first = out.splitlines()[0]
    assert first.startswith("INCONCLUSIVE") and "candidate run" in first and "is incomplete" in first and said in first
    code, _, err = cli("compare", str(base), str(cand), "--strict")
    assert code == 2 and said in err


def test_an_unfinished_baseline_is_said_too(cli: Cli, base: Path, tmp_path: Path) -> None:
    write_run_meta(base, read_run_meta(base).updated(finished=False, interrupted=True))
    cand = run(tmp_path / "cand", "cand", seed=2, ttft_scale=1.5)
    code, out, _ = cli("compare", str(base), str(cand))
    assert code == 1  # a regression is still a regression
    assert out.startswith("REGRESSION") and "baseline run" in out.splitlines()[0] and "is incomplete" in out.splitlines()[0]
