"""The per-run saturation check, provoked for real: a client that cannot keep up is told so.

The SDK path spends ~150 µs of CPU a chunk; 16 streams at 3,000 tokens/s (48,000 chunks/s)
need several cores' worth, so on any machine its event loop falls behind, and the run must
say so in run.json and in the summary. A light level (one stream at 100 tokens/s on the lean
path) must not be flagged.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from bench.report.summary import notes
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario


def _scenario(tmp_path: Path, client: str, streams: int, tps: int, requests: int) -> Path:
    path = tmp_path / f"{client}.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [scenario]
            name = "saturation"
            emulate = true
            [[target]]
            provider = "openai"
            model = "gpt-4.1"
            client = "{client}"
            [target.emulator]
            ttft_ms = 20
            tokens_per_s = {tps}
            jitter = 0
            [request]
            max_tokens = 400
            extra_body = {{ ignore_eos = true }}
            [load]
            concurrency = [{streams}]
            requests = {requests}
            timeout_s = 30
            """
        )
    )
    return path


def test_an_overloaded_sdk_client_is_flagged_in_run_json_and_summary(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(_scenario(tmp_path, "sdk", 16, 3000, 48)), out=tmp_path / "r")
    health = json.loads((result.run_dir / "run.json").read_text())["client_health"]
    assert health["saturated"] is True
    level = health["levels"][0]
    assert level["streams"] == 16 and level["client"] == "sdk"
    over_cpu = level["cpu_util"] >= health["budget"]["cpu_util"]
    over_lag = (level["loop_lag_ms_p99"] or 0) > health["budget"]["loop_lag_p99_ms"]
    assert over_cpu or over_lag
    lines = [line for line in notes(result.frame, result.meta) if line.startswith("warning: client saturated")]
    assert len(lines) == 1
    assert "concurrency 16" in lines[0] and "--client fast" in lines[0] and "--workers" in lines[0]


def test_a_light_level_is_within_budget(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(_scenario(tmp_path, "fast", 1, 100, 2)), out=tmp_path / "r")
    health = result.meta.client_health
    assert health is not None and health.levels[0].samples >= 10
    assert health.saturated is False, health.findings
    assert any(line.startswith("client health: within budget") for line in notes(result.frame, result.meta))
