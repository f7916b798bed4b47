"""A wrong or retired model name is said before anything is measured, on every path.

``bench validate`` and ``bench run`` (emulated or live) name a groq, openai or anthropic model
the catalogue does not know, with the closest ids it does know, and a retired one with its
replacement. They are warnings: the catalogue goes stale, so a live run still asks the
provider's own models list, and an openai-compatible server may serve any name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.emulator import start_emulator
from bench.scenario.model import parse_scenario

Cli = Callable[..., tuple[int, str, str]]


def _write(tmp_path: Path, targets: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(targets) + "\n[load]\nconcurrency = [1]\nrequests = 1\n")
    return path


def test_validate_names_unknown_and_retired_models(cli: Cli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [[target]]
        provider = "openai"
        model = "gpt-4.2"
        [[target]]
        provider = "groq"
        model = "llama-3.1-70b-versatile"
        [[target]]
        provider = "anthropic"
        model = "claude-haiku-5-5"
        [[target]]
        provider = "openai-compatible"
        model = "whatever-my-server-loaded"
        base_url = "http://127.0.0.1:9/v1"
        """,
    )
    code, out, err = cli("validate", str(path))
    assert code == 0
    assert out.splitlines()[0] == f"{path}: ok (2 warnings, on stderr) — scenario 's'"
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("bench: warning: target 'openai/gpt-4.2': model 'gpt-4.2' is not in bench's catalogue")
    assert "did you mean 'gpt-4.1'" in lines[0] and "`bench models openai`" in lines[0]
    assert lines[1] == (
        "bench: warning: target 'groq/llama-3.1-70b-versatile': model llama-3.1-70b-versatile was decommissioned "
        "on 2025-01-24; use openai/gpt-oss-120b"
    )


def test_validate_of_known_models_says_ok_alone(cli: Cli, tmp_path: Path) -> None:
    path = _write(tmp_path, '[[target]]\nprovider = "anthropic"\nmodel = "claude-sonnet-5-5"\n')
    code, out, err = cli("validate", str(path))
    assert code == 0 and out.startswith(f"{path}: ok — scenario") and err == ""


def test_an_emulated_run_names_an_unknown_model(cli: Cli, tmp_path: Path) -> None:
    args = ["run", "--provider", "openai", "--model", "gpt-4.2", "--emulate", "-n", "1", "--quiet", "--no-report"]
    code, out, err = cli(*args, "--out", str(tmp_path))
    assert code in (0, 1), err  # 1 where the emulator answers openai's model_not_found
    assert "target 'openai/gpt-4.2': model 'gpt-4.2' is not in bench's catalogue" in err
    assert "did you mean 'gpt-4.1'" in err and "Traceback" not in err


def test_an_emulated_run_names_a_retired_model(cli: Cli, tmp_path: Path) -> None:
    args = ["run", "--provider", "groq", "--model", "llama-3.1-70b-versatile", "--emulate", "-n", "1", "--quiet"]
    code, out, err = cli(*args, "--no-report", "--out", str(tmp_path))
    assert "model llama-3.1-70b-versatile was decommissioned on 2025-01-24; use openai/gpt-oss-120b" in err


@pytest.mark.slow
def test_a_live_run_warns_and_still_asks_the_provider(tmp_path: Path) -> None:
    with start_emulator() as emu:
        path = _write(
            tmp_path,
            f"""
            [[target]]
            provider = "openai"
            model = "gpt-4.2"
            base_url = "{emu.provider_base_url("openai")}"
            api_key_env = "BENCH_TEST_KEY"
            """,
        )
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "run", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-report"],
            env=dict(os.environ, BENCH_TEST_KEY="not-a-real-key"),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert "model 'gpt-4.2' is not in bench's catalogue of openai models (did you mean 'gpt-4.1'" in proc.stderr
    assert "openai does not list model 'gpt-4.2'; it lists: " in proc.stderr  # today's live models-list check
    assert "Traceback" not in proc.stderr


def test_the_emulator_is_told_each_target_s_provider_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.run import level

    scenario = parse_scenario(
        {
            "target": [
                {"provider": "openai-compatible", "model": "m", "base_url": "http://127.0.0.1:9/v1", "emulator": {"ttft_ms": 5}},
                {"provider": "openai", "model": "gpt-4.2"},
            ],
            "load": {"concurrency": [1], "requests": 1},
        },
        "s.toml",
    )
    assert level.emulator_payload(scenario.target[0]) == {"ttft_ms": 5.0, "faults": {}, "provider": "openai-compatible"}
    assert level.emulator_payload(scenario.target[1])["provider"] == "openai"


def test_a_sweep_names_a_retired_model_once(cli: Cli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [scenario]
        emulate = true
        [[target]]
        provider = "groq"
        model = "llama-3.3-70b-versatile"
        [target.emulator]
        ttft_ms = 2
        tokens_per_s = 20000
        jitter = 0
        [slo]
        ttft_p50_ms = 5000
        """,
    )
    code, out, err = cli("sweep", str(path), "--max-concurrency", "4", "-n", "2", "--out", str(tmp_path / "s"))
    assert code == 0, err
    assert out.count(" @ ") >= 3  # several probes ran
    assert err.count("model llama-3.3-70b-versatile was shut down") == 1, err
