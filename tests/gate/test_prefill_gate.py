"""The gate judges prefill speed where prompt lengths ranged widely: a slower emulated prefill
fails ``bench compare`` on ``prefill_tokens_per_s``; a replicate passes; fixed prompts add no row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.metrics import GroupKey
from bench.gate.compare import CompareSettings, Verdict
from bench.gate.prefill_change import PREFILL_METRIC, prefill_change
from bench.gate.sides import Group
from bench.run.runner import run_scenario

SCENARIO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
[target.emulator]
prefill_tokens_per_s = 20000

[request]
max_tokens = 8

[prompts]
input_tokens = { mean = 5000, stdev = 3000, min = 200, max = 12000 }

[load]
concurrency = [4]
requests = 40
"""


def _run(path: Path, out: Path, **options: object) -> Path:
    return Path(run_scenario(path, out=out, emulate=True, **options).run_dir)


def test_a_slower_prefill_is_a_regression_and_a_replicate_is_not(write_scenario, tmp_path: Path, cli) -> None:
    path = write_scenario(SCENARIO)
    base = _run(path, tmp_path / "r")
    same = _run(path, tmp_path / "r", emulator_seed=7)
    slow = _run(path, tmp_path / "r", emulator_set={"prefill_tokens_per_s": 10000})
    code, out, _ = cli("compare", str(base), str(same), "--format", "json")
    result = json.loads(out)
    rows = [m for m in result["metrics"] if m["metric"] == PREFILL_METRIC]
    assert len(rows) == 1 and rows[0]["verdict"] == "no change", rows
    assert rows[0]["baseline_p50"] == pytest.approx(20000, rel=0.1)
    assert code == 0
    code, out, _ = cli("compare", str(base), str(slow), "--format", "json")
    result = json.loads(out)
    (row,) = [m for m in result["metrics"] if m["metric"] == PREFILL_METRIC]
    assert row["verdict"] == "regression" and row["change"] == pytest.approx(-0.5, abs=0.08)
    assert row["ci_high"] < 0 and code == 1


def _group(tokens: list[float], ttft: list[float], asked: list[float]) -> Group:
    frame = pd.DataFrame({"input_tokens": tokens, "ttft_ms": ttft, "input_tokens_asked": asked, "status": "ok"})
    return Group(frame, np.ones(len(frame), dtype=bool))


def test_fixed_prompts_are_not_judged_on_prefill() -> None:
    key = GroupKey("t", "concurrency", 1.0, "fast")
    fixed = _group([128.0, 130.0, 127.0] * 5, [100.0, 101.0, 99.0] * 5, [128.0] * 15)
    assert prefill_change(key, fixed, fixed, CompareSettings(), 1, 0) is None
    flat = _group([200.0, 4000.0, 8000.0] * 5, [100.0, 100.0, 100.0] * 5, [200.0, 4000.0, 8000.0] * 5)
    change = prefill_change(key, flat, flat, CompareSettings(), 1, 0)
    assert change is not None and change.verdict is Verdict.INSUFFICIENT  # no growth: no speed to compare
