"""``bench sweep``: the search logic on fake probes, then real sweeps against the emulator.

The headline check: an emulated model with TTFT 50 ms and ``capacity = 6`` (the 7th stream
waits a whole response for a slot) under a TTFT p99 SLO of 75 ms (1.5× the unqueued TTFT)
passes at 6 streams and fails at 7, and the sweep answers 6.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.analysis.metrics import SloVerdict
from bench.campaigns.sweep import (
    Probe,
    SearchSettings,
    SweepOptions,
    search,
    sweep,
    verdict_of,
)
from bench.cli import app, run_app
from bench.errors import BenchError
from bench.report.sweep import write_outputs
from bench.scenario.model import load_scenario

# ------------------------------------------------------------------ fakes


def _check(measured: float, threshold: float = 75.0, passed: bool | None = None) -> SloVerdict:
    ok = measured <= threshold if passed is None and math.isfinite(measured) else passed
    return SloVerdict(
        "t",
        "concurrency",
        1.0,
        "ttft_p99_ms",
        "ttft_ms",
        "p99",
        threshold,
        False,
        measured,
        math.nan,
        math.nan,
        ok,
        "" if ok is not None else "no data",
    )


def _fake(knee: float, *, mode: str = "concurrency", no_data_at: set[float] | None = None):
    """A service whose TTFT p99 is 50 ms up to ``knee`` and 120 ms beyond (``no_data_at``: unjudged)."""
    seen: list[float] = []

    def probe(level: float) -> Probe:
        assert level not in seen, f"level {level} probed twice"
        seen.append(level)
        no_data = no_data_at is not None and level in no_data_at
        check = _check(math.nan, passed=None) if no_data else _check(50.0 if level <= knee else 120.0)
        checks = (check,)
        return Probe("t", mode, level, len(seen), "run", "runs/run", 20, 20, 0, 50.0, check.measured, 500.0,
                     100.0 * min(level, knee), checks, verdict_of(checks, False))  # type: ignore[arg-type]  # fmt: skip

    return probe, seen


# ------------------------------------------------------------------ the search


def test_doubles_then_bisects_to_one_stream() -> None:
    probe, seen = _fake(6)
    result = search(SearchSettings("concurrency", 1, 256), "t", probe)
    assert seen == [1, 2, 4, 8, 6, 7]
    assert (result.outcome, result.capacity, result.first_fail) == ("found", 6, 7)
    assert result.answer() == "capacity: concurrency 6 (7 fails: TTFT p99 120 ms > 75 ms)"


@pytest.mark.parametrize("knee", [1, 2, 3, 5, 12, 13, 100, 255])
def test_every_knee_is_found_exactly(knee: int) -> None:
    probe, seen = _fake(knee)
    result = search(SearchSettings("concurrency", 1, 256), "t", probe)
    assert (result.outcome, result.capacity, result.first_fail) == ("found", knee, knee + 1)
    assert len(seen) <= 2 * math.ceil(math.log2(knee + 1)) + 2


def test_a_failing_first_level_halves_then_bisects() -> None:
    probe, seen = _fake(6)
    result = search(SearchSettings("concurrency", 16, 256), "t", probe)
    assert seen[:3] == [16, 8, 4] and (result.capacity, result.first_fail) == (6, 7)


def test_fails_at_one_stream_means_no_capacity() -> None:
    probe, seen = _fake(0)
    result = search(SearchSettings("concurrency", 4, 256), "t", probe)
    assert seen == [4, 2, 1] and result.outcome == "none" and result.capacity is None
    assert result.answer().startswith("capacity: none — fails at concurrency 1, the lowest level tried (TTFT p99 120 ms > 75 ms)")


def test_passing_up_to_the_ceiling_says_at_least() -> None:
    probe, seen = _fake(1000)
    result = search(SearchSettings("concurrency", 1, 24), "t", probe)
    assert seen == [1, 2, 4, 8, 16, 24] and result.outcome == "ceiling" and result.capacity == 24
    assert "at least concurrency 24" in result.answer() and "--max-concurrency" in result.answer()


def test_an_unjudged_probe_is_no_pass_and_stops_the_search() -> None:
    probe, seen = _fake(6, no_data_at={8})
    result = search(SearchSettings("concurrency", 1, 256), "t", probe)
    assert seen == [1, 2, 4, 8] and result.outcome == "inconclusive" and result.capacity == 4
    answer = result.answer()
    assert answer.startswith("inconclusive at concurrency 8 (ttft_p99_ms: no data); passes at concurrency 4")


def test_rates_bisect_to_the_stated_precision() -> None:
    probe, _ = _fake(10.3, mode="rate")
    result = search(SearchSettings("rate", 1.0, 256.0, precision=0.1), "t", probe)
    assert result.outcome == "found" and result.capacity is not None and result.first_fail is not None
    assert result.capacity <= 10.3 < result.first_fail
    assert (result.first_fail - result.capacity) <= 0.1 * result.first_fail
    assert "req/s" in result.answer() and "within 10%" in result.answer()


def test_verdicts_fail_dominates_and_no_data_is_never_a_pass() -> None:
    fail, ok, none = _check(100), _check(50), _check(math.nan, passed=None)
    assert verdict_of((ok, fail, none), False) == "fail"
    assert verdict_of((ok, none), False) == "inconclusive"
    assert verdict_of((), False) == "inconclusive"
    assert verdict_of((ok,), False) == "pass"
    assert verdict_of((ok,), True) == "interrupted"
    speed = SloVerdict(
        "t", "concurrency", 1.0, "output_tps_p50", "output_tps", "p50", 500, True, 320.4, math.nan, math.nan, False
    )
    rate = SloVerdict(
        "t", "concurrency", 1.0, "error_rate_max", "error_rate", "max", 0.01, False, 0.05, math.nan, math.nan, False
    )
    assert speed.text == "output tokens/s p50 320 < 500" and rate.text == "error rate 5.0% > 1.0%"


def test_bad_settings_are_bad_input() -> None:
    with pytest.raises(BenchError, match="max-concurrency"):
        SearchSettings("concurrency", 8, 4)
    with pytest.raises(BenchError, match="precision"):
        SearchSettings("rate", 1.0, 8.0, precision=0)


# ------------------------------------------------------------------ scenarios


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


CAPACITY = """
[scenario]
name = "capacity"

[[target]]
provider = "openai"
model = "gpt-4.1"

[target.emulator]
ttft_ms = 50
tokens_per_s = 1000
jitter = 0
capacity = 6

[request]
max_tokens = 10
extra_body = { ignore_eos = true }

[load]
concurrency = [1]
requests = 14
warmup = 8

[slo]
ttft_p99_ms = 75
"""


def test_sweep_needs_slos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CAPACITY.replace("[slo]\nttft_p99_ms = 75\n", ""))
    assert run_app(app, ["sweep", str(path), "--emulate", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a sweep needs SLOs" in err[0]
    assert not (tmp_path / "r").exists()
    goodput_only = write(tmp_path, CAPACITY.replace("ttft_p99_ms = 75", "request_ttft_ms = 75"), "g.toml")
    assert run_app(app, ["sweep", str(goodput_only), "--emulate"]) == 2
    assert "a sweep needs SLOs" in capsys.readouterr().err
    assert run_app(app, ["sweep", str(path), "--emulate", "--max-rate", "8"]) == 2
    assert "--max-concurrency" in capsys.readouterr().err


def test_fake_sweep_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, CAPACITY))
    probes: dict[str, object] = {}

    def probe_fn(target: str, level: float, order: int, sweep_dir: Path) -> Probe:
        if "fake" not in probes:
            probes["fake"] = _fake(6)[0]
        return probes["fake"](level)  # type: ignore[operator]

    result = sweep(scenario, SweepOptions(out=tmp_path / "r", emulate=True), probe_fn=probe_fn, write_report=write_outputs)
    data = json.loads((result.sweep_dir / "sweep.json").read_text())
    assert data["finished"] and data["emulated"] and data["targets"][0]["capacity"] == 6
    assert [p["level"] for p in data["targets"][0]["probes"]] == [1, 2, 4, 8, 6, 7]
    text = (result.sweep_dir / "sweep.md").read_text()
    assert "EMULATED" in text and "**capacity: concurrency 6 (7 fails: TTFT p99 120 ms > 75 ms)**" in text
    assert "| 6 ◀ knee |" in text and "![" in text
    png = (result.sweep_dir / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG") and b"emulated" in png
    assert load_scenario(result.sweep_dir / "scenario.toml").target[0].emulator.capacity == 6


def test_ctrl_c_between_probes_keeps_what_finished(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, CAPACITY))
    fake, _ = _fake(6)

    def probe_fn(target: str, level: float, order: int, sweep_dir: Path) -> Probe:
        if order == 3:
            raise KeyboardInterrupt
        return fake(level)

    answers: list[str] = []
    result = sweep(scenario, SweepOptions(out=tmp_path / "r", emulate=True), probe_fn=probe_fn,
                   on_target=lambda t: answers.append(t.answer()))  # fmt: skip
    assert result.interrupted and answers == ["interrupted; passes at concurrency 2 so far"]
    data = json.loads((result.sweep_dir / "sweep.json").read_text())
    assert data["interrupted"] and not data["finished"]
    assert [p["level"] for p in data["targets"][0]["probes"]] == [1, 2]


# ------------------------------------------------------------------ against the emulator


def test_sweep_finds_the_knee_the_emulator_profile_implies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CAPACITY)
    out = tmp_path / "results"
    started = time.monotonic()
    assert run_app(app, ["sweep", str(path), "--emulate", "--client", "fast", "--out", str(out)]) == 0
    console = capsys.readouterr().out
    assert time.monotonic() - started < 60
    (sweep_dir,) = [p for p in out.iterdir() if p.is_dir()]
    data = json.loads((sweep_dir / "sweep.json").read_text())
    (target,) = data["targets"]
    assert target["outcome"] == "found"
    assert 5 <= target["capacity"] <= 7, console  # within one search step of the profile's 6
    by_level = {p["level"]: p for p in target["probes"]}
    for level, probe in by_level.items():
        assert probe["passed"] == (level <= target["capacity"]), console
        assert probe["n"] == 14 and probe["errors"] == 0
        assert (sweep_dir / probe["run_dir"] / "run.json").is_file()
        assert probe["slo"][0]["key"] == "ttft_p99_ms"
    assert by_level[1]["ttft_p99_ms"] < 75 < by_level[8]["ttft_p99_ms"]
    assert len(list((sweep_dir / "runs").iterdir())) == len(target["probes"])
    assert f"openai/gpt-4.1: {target['answer']}" in console
    assert target["answer"].startswith(
        f"capacity: concurrency {target['capacity']:g} ({target['capacity'] + 1:g} fails: TTFT p99 "
    )
    assert (sweep_dir / "sweep.png").is_file() and "◀ knee" in (sweep_dir / "sweep.md").read_text()


def test_a_probe_without_data_is_inconclusive_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = CAPACITY.replace("capacity = 6", "capacity = 6\nfaults = { server_error = 1.0 }").replace(
        "requests = 14", "requests = 3"
    )
    path = write(tmp_path, text.replace("warmup = 8", "warmup = 0"))
    assert run_app(app, ["sweep", str(path), "--emulate", "--client", "fast", "--out", str(tmp_path / "r")]) == 0
    console = capsys.readouterr().out
    assert "INCONCLUSIVE" in console
    assert "inconclusive at concurrency 1 (ttft_p99_ms: no successful requests (0 of 3)); no level passed" in console
    (sweep_dir,) = list((tmp_path / "r").iterdir())
    (target,) = json.loads((sweep_dir / "sweep.json").read_text())["targets"]
    assert target["outcome"] == "inconclusive" and target["capacity"] is None and len(target["probes"]) == 1
    assert target["probes"][0]["verdict"] == "inconclusive" and target["probes"][0]["passed"] is False


def test_open_loop_probes_are_rate_runs_up_to_the_ceiling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = CAPACITY.replace("concurrency = [1]", "rate = [20.0]").replace("requests = 14", "requests = 10")
    path = write(tmp_path, text.replace("warmup = 8", "warmup = 0").replace("ttft_p99_ms = 75", "ttft_p99_ms = 2000"))
    args = ["sweep", str(path), "--emulate", "--client", "fast", "--max-rate", "40", "--out", str(tmp_path / "r")]
    assert run_app(app, args) == 0
    console = capsys.readouterr().out
    assert "capacity: at least 40 req/s" in console and "--max-rate" in console
    (sweep_dir,) = list((tmp_path / "r").iterdir())
    (target,) = json.loads((sweep_dir / "sweep.json").read_text())["targets"]
    assert [p["level"] for p in target["probes"]] == [20.0, 40.0] and target["outcome"] == "ceiling"
    meta = json.loads((sweep_dir / target["probes"][1]["run_dir"] / "run.json").read_text())
    assert meta["scenario"]["load"]["mode"] == "rate" and meta["scenario"]["load"]["levels"] == [40.0]


def test_ctrl_c_ends_the_sweep_with_130_and_what_finished(tmp_path: Path) -> None:
    slow = CAPACITY.replace("tokens_per_s = 1000", "tokens_per_s = 40").replace("requests = 14", "requests = 200")
    path = write(tmp_path, slow.replace("warmup = 8", "warmup = 0"))
    out = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "sweep", str(path), "--emulate", "--client", "fast", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [f for f in out.rglob("requests.jsonl") if f.stat().st_size > 0]:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    (sweep_dir,) = [p for p in out.iterdir() if p.is_dir()]
    data = json.loads((sweep_dir / "sweep.json").read_text())
    assert data["interrupted"] is True and data["finished"] is False
    (target,) = data["targets"]
    assert target["outcome"] == "interrupted" and target["probes"][-1]["verdict"] == "interrupted"
    assert "interrupted at concurrency 1" in stdout


LADDER = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
[target.emulator]
prefill_tokens_per_s = 20000
jitter = 0.0
[request]
max_tokens = 8
[prompts]
input_tokens = [300, 4000]
[load]
concurrency = [1]
requests = 4
[slo]
ttft_p95_ms = 600
[slo.class.long]
input_tokens = 4000
ttft_p95_ms = 150
"""


def test_a_ladder_probe_runs_every_rung_and_fails_on_the_one_that_misses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, LADDER)
    assert run_app(app, ["sweep", str(path), "--emulate", "--out", str(tmp_path / "r"), "--max-concurrency", "2"]) == 0
    console = capsys.readouterr().out
    (sweep_dir,) = list((tmp_path / "r").iterdir())
    (target,) = json.loads((sweep_dir / "sweep.json").read_text())["targets"]
    first = target["probes"][0]
    assert first["n"] == 8 and first["verdict"] == "fail" and target["capacity"] is None  # both rungs, 4 each
    assert first["shape"] == "input 4000"  # the figures shown are the slowest rung's
    assert "input 4000: TTFT p95" in console and "> 150 ms" in console and "input 300:" not in console
