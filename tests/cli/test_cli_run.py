"""``bench run`` as a user meets it: exit codes, keys, secrets, Ctrl-C and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench import load_results
from bench.emulator import start_emulator

REPO = Path(__file__).resolve().parents[2]
FAKE_KEY = "gsk_FAKEtestKEY0123456789abcdefSECRETzz"


def write(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_quickstart_from_the_cli(cli, tmp_path: Path) -> None:
    code, out, err = cli(
        "run",
        str(REPO / "scenarios" / "quickstart.toml"),
        "--emulate",
        "--out",
        str(tmp_path),
        "--requests",
        "2",
        "--concurrency",
        "2",
        "--quiet",
        "--no-report",
    )
    assert code == 0, err
    assert "TTFT p50" in out and "groq/gpt-oss-120b" in out and "results:" in out
    run_dir = Path(out.split("results:")[1].split()[0])
    frame = load_results(run_dir)
    assert len(frame) == 3 * (2 + 1)


def test_missing_key_names_the_variable_and_the_emulator(
    cli, write_scenario, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    code, out, err = cli("run", str(write_scenario()), "--out", str(tmp_path / "r"))
    assert code == 2
    assert "GROQ_API_KEY" in err and "--emulate" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_bad_overrides_are_bad_input(cli, write_scenario, tmp_path: Path) -> None:
    path = str(write_scenario())
    assert cli("run", path, "--emulate", "--target", "nope", "--out", str(tmp_path))[0] == 2
    assert cli("run", path, "--emulate", "--concurrency", "a,b", "--out", str(tmp_path))[0] == 2
    assert cli("run", path, "--emulate", "--rate", "0", "--out", str(tmp_path))[0] == 2
    assert cli("run", path, "--emulate", "--rate", "1", "--concurrency", "1", "--out", str(tmp_path))[0] == 2
    code, _, err = cli("run", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml" in err


def test_all_failed_exits_1(cli, write_scenario, tmp_path: Path) -> None:
    path = write_scenario(
        """
        [[target]]
        provider = "openai"
        model = "gpt-4.1"
        [target.emulator]
        faults = { server_error = 1.0 }
        [load]
        concurrency = [1]
        requests = 2
        """
    )
    code, out, err = cli("run", str(path), "--emulate", "--out", str(tmp_path), "--quiet", "--no-report")
    assert code == 1 and "no measured request succeeded" in err


def test_live_mode_key_never_reaches_disk_or_output(tmp_path: Path) -> None:
    """A recognisable fake key, sent to a live-mode target, appears nowhere bench writes."""
    with start_emulator(seed=5) as emu:
        path = write(
            tmp_path,
            f"""
            [scenario]
            name = "secret"
            [[target]]
            provider = "groq"
            model = "llama-3.1-70b-versatile"
            base_url = "{emu.provider_base_url("groq")}"
            api_key_env = "BENCH_TEST_KEY"
            [[target]]
            provider = "openai-compatible"
            model = "not-listed-model"
            base_url = "{emu.provider_base_url("openai-compatible")}"
            api_key_env = "BENCH_TEST_KEY"
            [request]
            max_tokens = 8
            [load]
            concurrency = [1]
            requests = 2
            """,
        )
        env = dict(os.environ, BENCH_TEST_KEY=FAKE_KEY)
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "run", str(path), "--out", str(tmp_path / "results")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stderr
    assert "decommissioned" in proc.stderr and "openai/gpt-oss-120b" in proc.stderr  # retired-model warning
    assert "not-listed-model" in proc.stderr and "it lists" in proc.stderr  # models-endpoint check
    assert FAKE_KEY not in proc.stdout + proc.stderr
    assert FAKE_KEY[4:20] not in proc.stdout + proc.stderr
    for file in (tmp_path / "results").rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert FAKE_KEY.encode() not in data, file
            assert FAKE_KEY[4:20].encode() not in data, file
    meta = json.loads(next((tmp_path / "results").rglob("run.json")).read_text())
    assert meta["emulated"] is False


def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    path = write(
        tmp_path,
        """
        [scenario]
        name = "long"
        emulate = true
        [[target]]
        provider = "openai"
        model = "gpt-4.1"
        [target.emulator]
        ttft_ms = 20
        tokens_per_s = 50
        jitter = 0
        [request]
        max_tokens = 20
        [load]
        concurrency = [4]
        requests = 400
        """,
    )
    out = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(path), "--out", str(out), "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list(out.rglob("requests.jsonl"))
        if files and files[0].read_text().count("\n") >= 8:
            return proc, files[0].parent
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("run did not start")


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    proc, run_dir = _start_long_run(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "TTFT p50" in out  # the summary for what ran
    frame = load_results(run_dir)
    assert (frame["error_kind"] == "cancelled").sum() >= 1
    assert (frame["status"] == "ok").sum() >= 8
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["finished"] is False


def test_sigkill_loses_only_requests_in_flight(tmp_path: Path) -> None:
    proc, run_dir = _start_long_run(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    lines = (run_dir / "requests.jsonl").read_text().splitlines()
    assert all(json.loads(line)["status"] == "ok" for line in lines)
    frame = load_results(run_dir)
    assert len(frame) == len(lines) >= 8
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["finished"] is False
    # Nothing left behind: the emulator child went with its parent.
    time.sleep(0.5)


def test_models_command(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    code, out, _ = cli("models", "groq")
    assert code == 0 and "llama-3.1-70b-versatile" in out and "decommissioned" in out and "openai/gpt-oss-120b" in out
    assert "GROQ_API_KEY" in out
    assert cli("models", "grok")[0] == 2


def test_models_command_live_lists_from_the_endpoint(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with start_emulator() as emu:
        monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
        monkeypatch.setenv("GROQ_BASE_URL", emu.provider_base_url("groq"))
        code, out, err = cli("models", "groq")
    assert code == 0 and "groq live models:" in out and "openai/gpt-oss-20b" in out.split("live models:")[1]
    assert FAKE_KEY not in out + err


def test_emulate_command_serves_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "emulate", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "http://127.0.0.1:" in line
        url = line.strip().split()[-1]
        import openai

        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
        assert reply.choices[0].message.content
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode in (0, 130) and "Traceback" not in err


def test_usage_errors_exit_2_without_traceback(cli) -> None:
    code, out, err = cli("run", "--bogus")
    assert code == 2 and "No such option" in err + out and "Traceback" not in err + out
    code, out, err = cli("run")  # neither a scenario file nor --provider/--model
    assert code == 2 and "--provider" in err and "Traceback" not in err + out
    code, out, err = cli("validate")
    assert code == 2 and "Missing argument" in err + out


def test_bad_override_values_and_out_paths_are_one_line(cli, write_scenario, tmp_path: Path) -> None:
    path = str(write_scenario())
    for args in (["--rate", "nan"], ["--rate", "inf"], ["--concurrency", "100000"]):
        code, out, err = cli("run", path, "--emulate", "--out", str(tmp_path), *args)
        assert code == 2 and "Traceback" not in out + err and len(err.strip().splitlines()) == 1, (args, err)
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, out, err = cli("run", path, "--emulate", "--out", str(afile))
    assert code == 2 and "--out" in err and "Traceback" not in out + err


def test_all_missing_keys_are_named_at_once(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("GROQ_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    code, _, err = cli("run", str(REPO / "scenarios" / "groq-vs-peers.toml"))
    assert code == 2
    assert "GROQ_API_KEY" in err and "OPENAI_API_KEY" in err and "ANTHROPIC_API_KEY" in err and "--emulate" in err


def test_base_urls_written_with_the_api_path_work(tmp_path: Path) -> None:
    """Groq's /openai/v1 and Anthropic's /v1 are appended by their SDKs; a URL that already has them still works."""
    with start_emulator(seed=2) as emu:
        path = write(
            tmp_path,
            f"""
            [[target]]
            provider = "groq"
            model = "openai/gpt-oss-20b"
            base_url = "{emu.base_url}/openai/v1/"
            api_key_env = "BENCH_TEST_KEY"
            [[target]]
            provider = "anthropic"
            model = "claude-haiku-5-5"
            base_url = "{emu.base_url}/v1"
            api_key_env = "BENCH_TEST_KEY"
            [request]
            max_tokens = 8
            [load]
            concurrency = [1]
            requests = 1
            """,
        )
        os.environ["BENCH_TEST_KEY"] = "k"
        try:
            from bench.run.runner import run_scenario

            frame = run_scenario(path, out=tmp_path / "r", warn=lambda m: None).frame
        finally:
            del os.environ["BENCH_TEST_KEY"]
    assert (frame["status"] == "ok").all(), frame["error_message"].tolist()


def test_emulate_on_a_taken_port_is_bad_input(cli) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = cli("emulate", "--port", str(port))
    assert code == 2 and f"--port {port}" in err and "--port 0" in err and "Traceback" not in out + err


def test_models_and_runs_warn_about_a_past_or_near_deprecation_date(cli, tmp_path: Path) -> None:
    # gpt-4-turbo's deprecation date in the price source (2026-10-23) is past on any day these tests run.
    code, out, _ = cli("models", "openai", "--no-live")
    assert code == 0 and "2026-10-23" in out and "10 / 30" in out  # deprecation and price columns
    assert "warning: openai model gpt-4-turbo was deprecated on 2026-10-23" in out
    assert "LiteLLM model_prices_and_context_window.json, litellm 1.110.2 (2026-11-20); read 2026-12-04" in out
    scenario = write(
        tmp_path,
        """
        [scenario]
        name = "old-model"
        [[target]]
        provider = "openai"
        model = "gpt-4-turbo"
        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-20b"
        [load]
        concurrency = [1]
        requests = 1
        warmup = 0
        """,
    )
    code, _, err = cli("run", str(scenario), "--emulate", "--out", str(tmp_path / "out"), "--quiet", "--no-report")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "deprecated" in line]
    assert len(warnings) == 1 and warnings[0].startswith("bench: warning: target 'openai/gpt-4-turbo': openai model")


def test_validate_lists_request_shapes_bins_and_slo_classes(write_scenario, cli) -> None:
    path = write_scenario(
        """
        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-120b"
        [request]
        max_tokens = [16, 64]
        [prompts]
        input_tokens = [2000, 8000]
        [load]
        concurrency = [1]
        requests = 2
        [slo.class.long]
        input_tokens = 8000
        ttft_p95_ms = 900
        """
    )
    code, out, _ = cli("validate", str(path))
    assert code == 0
    assert "shapes: 4 at each level, each a group of its own: input 2000, output 16; input 2000, output 64;" in out
    assert "slo.class.long: ttft_p95_ms = 900 where input_tokens = [8000]" in out
    binned = write_scenario(
        """
        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-120b"
        [prompts]
        input_tokens = { mean = 900, stdev = 300, min = 100, max = 3000 }
        bins = [0, 1000]
        [load]
        concurrency = [1]
        requests = 2
        """,
        name="binned.toml",
    )
    code, out, _ = cli("validate", str(binned))
    assert code == 0 and "bins: prompt lengths grouped from 0, 1,000 tokens up" in out and "shapes:" not in out
