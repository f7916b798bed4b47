"""A prompt-length ladder through the gate: each rung is judged as its own group, and the
rungs pooled give one prefill judgment — a slower emulated prefill fails on it, and on the
long rungs' first-token time, while the short rung is left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.metrics import GroupKey
from bench.gate.prefill_change import PREFILL_METRIC, ladder_groups
from bench.gate.sides import split_groups
from bench.run.runner import run_scenario
from tests.synthetic import synthetic_frame

SCENARIO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
[target.emulator]
prefill_tokens_per_s = 20000

[request]
max_tokens = 8

[prompts]
input_tokens = [300, 2000, 8000]

[load]
concurrency = [2]
requests = 12
"""


def _run(path: Path, out: Path, **options: object) -> Path:
    return Path(run_scenario(path, out=out, emulate=True, **options).run_dir)


def test_a_slower_prefill_fails_the_ladder_and_its_long_rungs(write_scenario, tmp_path: Path, cli) -> None:
    path = write_scenario(SCENARIO)
    base = _run(path, tmp_path / "r")
    slow = _run(path, tmp_path / "r", emulator_set={"prefill_tokens_per_s": 10000})
    code, out, _ = cli("compare", str(base), str(slow), "--format", "json", "--min-samples", "10")
    result = json.loads(out)
    prefill = [m for m in result["metrics"] if m["metric"] == PREFILL_METRIC]
    assert [m["shape"] for m in prefill] == ["input 300-8000"], prefill
    assert prefill[0]["baseline_p50"] == pytest.approx(20000, rel=0.1)
    assert prefill[0]["verdict"] == "regression" and prefill[0]["change"] == pytest.approx(-0.5, abs=0.1)
    ttft = {m["shape"]: m["verdict"] for m in result["metrics"] if m["metric"] == "ttft_ms"}
    assert set(ttft) == {"input 300", "input 2000", "input 8000"}
    assert ttft["input 8000"] == "regression" and ttft["input 2000"] == "regression"
    assert code == 1


def test_rungs_pool_per_cache_state_and_need_two_rungs() -> None:
    frame = synthetic_frame(targets=[{"label": "t", "provider": "groq", "model": "m"}], levels=[1.0], n=20, seed=3)
    shapes = ["input 128, cold", "input 2000, cold", "input 128, warm", "input 2000, warm", "output 64"]
    frame["shape"] = [shapes[i % len(shapes)] for i in range(len(frame))]
    groups = split_groups(frame)
    pooled = ladder_groups(list(groups), groups, groups)
    assert sorted(key.shape for key in pooled) == ["input 128-2000, cold", "input 128-2000, warm"]
    key = GroupKey("t", "concurrency", 1.0, "fast", "input 128-2000, warm")
    b, _ = pooled[key]
    assert b.n == sum(groups[k].n for k in groups if k.shape.endswith("warm"))
