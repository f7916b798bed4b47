"""Command-line values at the edges: one line naming the option and the real problem, exit 2.

NaN, infinities and absurd magnitudes are refused with the message that fits them (not a
bound they happen to miss), before anything is written or printed; ``--client`` on the
command line applies before the scenario is checked; a bad ``--seed`` is no numpy traceback.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]

FAST_WITH_RETRIES = """
[scenario]
name = "c"
emulate = true
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
client = "fast"
[target.emulator]
ttft_ms = 2
tokens_per_s = 20000
jitter = 0
[request]
max_tokens = 8
max_retries = 2
[load]
concurrency = [1]
requests = 2
[slo]
ttft_p50_ms = 5000
"""

OPEN_LOOP = """
[scenario]
name = "o"
emulate = true
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
[request]
max_tokens = 8
[load]
rate = [2]
requests = 4
[slo]
ttft_p50_ms = 5000
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _one_line(code: int, out: str, err: str) -> str:
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- --client


def test_client_sdk_on_the_command_line_rescues_a_fast_target_with_retries(cli: Cli, tmp_path: Path) -> None:
    path = _file(tmp_path, FAST_WITH_RETRIES)
    code, out, err = cli("run", str(path), "--client", "sdk", "--out", str(tmp_path / "r"), "--quiet", "--no-report")
    assert code == 0, err
    assert 'client = "sdk"' in next((tmp_path / "r").rglob("scenario.toml")).read_text()


def test_sweep_takes_client_before_validation_too(cli: Cli, tmp_path: Path) -> None:
    path = _file(tmp_path, FAST_WITH_RETRIES)
    code, out, err = cli("sweep", str(path), "--client", "sdk", "--max-concurrency", "1", "--out", str(tmp_path / "s"))
    assert code == 0, err


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--rate", "nan"], "--rate 'nan': rates must be finite numbers greater than 0"),
        (["--rate", "inf"], "--rate 'inf': rates must be finite numbers greater than 0"),
        (["--rate", "1e-9"], "rate: level 1e-09/s would take about 2e+09 s to start its 2 requests"),
        (["--rate", "1e308"], "load.rate.0: Input should be less than or equal to 100000"),
    ],
    ids=["nan", "inf", "tiny", "huge"],
)
def test_run_rates(cli: Cli, write_scenario: Callable[..., Path], tmp_path: Path, args: list[str], said: str) -> None:
    line = _one_line(*cli("run", str(write_scenario()), "--emulate", "-n", "2", "--out", str(tmp_path / "r"), *args))
    assert said in line, line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("scenario", "args", "said"),
    [
        (FAST_WITH_RETRIES, ["--client", "sdk", "--start", "1e308"], "--start 1e+308: at most 10000 streams"),
        (FAST_WITH_RETRIES, ["--client", "sdk", "--start", "nan"], "--start nan: must be a finite number"),
        (FAST_WITH_RETRIES, ["--client", "sdk", "--precision", "0"], "--precision 0: must be between 0 and 1"),
        (FAST_WITH_RETRIES, ["--client", "sdk", "--precision", "-1"], "--precision -1: must be between 0 and 1"),
        (FAST_WITH_RETRIES, ["--client", "sdk", "--precision", "nan"], "--precision nan: must be between 0 and 1"),
        (OPEN_LOOP, ["--start", "1e308"], "--start 1e+308: at most 100000 requests/s"),
        (OPEN_LOOP, ["--max-rate", "nan"], "--max-rate nan: must be a finite number"),
        (OPEN_LOOP, ["--max-rate", "1e308"], "--max-rate 1e+308: at most 100000 requests/s"),
    ],
    ids=[
        "start-huge",
        "start-nan",
        "precision-0",
        "precision-neg",
        "precision-nan",
        "rate-start-huge",
        "max-rate-nan",
        "max-rate-huge",
    ],
)
def test_sweep_levels(cli: Cli, tmp_path: Path, scenario: str, args: list[str], said: str) -> None:
    code, out, err = cli("sweep", str(_file(tmp_path, scenario)), "--out", str(tmp_path / "s"), *args)
    line = _one_line(code, out, err)
    assert said in line, line
    assert out == ""  # nothing printed before the refusal (no 309-digit level)
    assert not (tmp_path / "s").exists()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_synthetic_run(tmp_path, targets=("groq/llama-3.3-70b-versatile",), n=40, warmup=0)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--seed", "-1"], "--seed -1: must be a whole number from 0 to 4294967295"),
        (["--seed", "99999999999999999999999"], "--seed 99999999999999999999999: must be a whole number from 0"),
        (["--threshold", "500"], "threshold: '500' is ambiguous; write 500% (a change of 5 times the baseline)"),
        (["--threshold", "5"], "threshold: '5' is ambiguous; write 5% or 0.05"),
        (["--threshold", "nan"], "threshold: must be a finite number, got 'nan'"),
        (["--threshold", "1e400"], "threshold: must be a finite number, got '1e400'"),
        (["--threshold", "1e300%"], "threshold: at most 10000%, got '1e300%'"),
    ],
    ids=["seed-neg", "seed-huge", "threshold-500", "threshold-5", "threshold-nan", "threshold-inf", "threshold-huge"],
)
def test_compare_numbers(cli: Cli, run_dir: Path, args: list[str], said: str) -> None:
    line = _one_line(*cli("compare", str(run_dir), str(run_dir), *args))
    assert said in line, line


def test_threshold_suggestions_are_accepted(cli: Cli, run_dir: Path) -> None:
    for value in ("500%", "5%", "0.05"):
        code, out, err = cli("compare", str(run_dir), str(run_dir), "--threshold", value)
        assert code == 0, (value, err)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-c", "100000"], "--concurrency '100000': streams must be at most 10000"),
        (["--tokens", "100000000"], "--tokens 100000000: at most 1000000"),
        (["-n", "100000000"], "--requests 100000000: at most 10000000"),
    ],
    ids=["concurrency", "tokens", "requests"],
)
def test_calibrate_magnitudes(cli: Cli, args: list[str], said: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.campaigns import calibrate

    def never(*a: Any, **k: Any) -> None:
        raise AssertionError("calibration started")

    monkeypatch.setattr(calibrate, "calibrate", never)
    line = _one_line(*cli("calibrate", "--quick", *args))
    assert said in line, line


# --------------------------------------------------------------------------- Ray's options


class _FakeRay:
    """Stands in for ``ray``: records what ``ray.init`` is given, then refuses to start."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] | None = None

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        raise RuntimeError("not starting Ray in a unit test")


def test_ray_init_options_reach_ray_init(
    cli: Cli, write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    args = ["--ray-init", "dashboard_port=8266", "--ray-init", "_temp_dir=/scratch/ray", "--ray-init", "include_dashboard=true"]
    code, out, err = cli("run", str(write_scenario()), "--emulate", "--executor", "ray", *args, "--out", str(tmp_path / "r"))
    line = _one_line(code, out, err)
    assert "could not start or reach Ray (RuntimeError: not starting Ray in a unit test)" in line
    assert fake.kwargs is not None
    assert fake.kwargs["dashboard_port"] == 8266 and fake.kwargs["_temp_dir"] == "/scratch/ray"
    assert fake.kwargs["include_dashboard"] is True  # the user's word over bench's default


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--executor", "ray", "--ray-init", "dashboard_port"], "--ray-init 'dashboard_port': expected KEY=VALUE"),
        (["--executor", "ray", "--ray-init", "address=x:1"], "give the cluster with --address"),
        (["--ray-init", "dashboard_port=1"], "--ray-init: only with --executor ray"),
    ],
    ids=["no-value", "address", "local"],
)
def test_bad_ray_init_options(cli: Cli, write_scenario: Callable[..., Path], tmp_path: Path, args: list[str], said: str) -> None:
    line = _one_line(*cli("run", str(write_scenario()), "--emulate", *args, "--out", str(tmp_path / "r")))
    assert said in line
