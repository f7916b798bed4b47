"""The emulator as a process: its handle, start failures, stop, signals, and exiting with its parent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.emulator import EmulatorError, EmulatorHandle, start_emulator
from tests.emulator_clients import (
    MESSAGES,
    raw_exchange,
    raw_post,
)

# ----------------------------------------------------------------------- process handling


def test_handle_urls_and_stop(emu: EmulatorHandle) -> None:
    assert emu.base_url == f"http://127.0.0.1:{emu.port}"
    assert emu.provider_base_url("groq") == emu.base_url == emu.provider_base_url("anthropic")
    assert emu.provider_base_url("openai") == emu.provider_base_url("openai-compatible") == emu.base_url + "/v1"
    with pytest.raises(ValueError, match="unknown provider"):
        emu.provider_base_url("mistral")
    assert emu.running and emu.pid > 0


def test_start_failure_is_reported(emu: EmulatorHandle) -> None:
    with pytest.raises(EmulatorError, match="did not start"):
        start_emulator(port=emu.port)  # taken


def test_stop_kills_what_ignores_sigterm_and_passes_stderr_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.emulator.handle import _cleanup, _terminate

    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 30"])
    time.sleep(0.1)
    start = time.monotonic()
    _terminate(stubborn, timeout_s=0.2)
    assert stubborn.returncode == -signal.SIGKILL and time.monotonic() - start < 5

    (tmp_path / "stderr").write_text("Traceback: emulator bug\n")
    _cleanup(subprocess.Popen(["true"]), str(tmp_path))
    assert "emulator bug" in capsys.readouterr().err and not tmp_path.exists()
    _cleanup(subprocess.Popen(["true"]), str(tmp_path / "never-made"))  # nothing to pass on
    assert capsys.readouterr().err == ""


def test_cli_banner_and_clean_exit_on_signals(tmp_path: Path) -> None:
    for signum in (signal.SIGINT,):  # SIGTERM: every handle.stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator", "--port", "0", "--strict-models"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("bench emulator listening on http://127.0.0.1:")
        port = int(banner.rsplit(":", 1)[1])
        assert b"200 OK" in raw_exchange(port, b"GET /v1/models HTTP/1.1\r\nconnection: close\r\n\r\n")
        with httpx.Client() as idle:  # a kept-alive connection, idle when the signal comes
            idle.get(f"http://127.0.0.1:{port}/v1/models").raise_for_status()
            slow = socket.create_connection(("127.0.0.1", port))  # and a request in flight
            body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
            slow.sendall(raw_post("/v1/chat/completions", body, 'x-bench-emulator: {"ttft_ms": 60000}\r\n'))
            time.sleep(0.2)
            process.send_signal(signum)
            _, err = process.communicate(timeout=10)
            slow.close()
        assert process.returncode == 0 and "Traceback" not in err and "Exception" not in err, err


def test_exits_with_its_parent(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    script = f"{sys.executable} -m bench.emulator --port 0 --port-file {port_file} --parent-pid $$ >/dev/null 2>&1 & echo $!"
    parent = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20, check=True)
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
            return stat.read().split(")")[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False
