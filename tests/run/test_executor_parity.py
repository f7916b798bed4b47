"""Every executor is as safe as the local one: keys never reach disk, and Ctrl-C ends the same way.

Each test runs ``bench run`` once per executor — this process (local), ``--workers 2`` and
``--executor ray --workers 2`` on a local Ray — in a subprocess, as a user would, and checks
what each left behind with the same assertions (docs/executors.md says what is guaranteed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from bench import load_results
from bench.cli import app
from bench.cli.app import run_app

#: Keys that no key-shaped pattern catches (no gsk_/sk- prefix, no "Bearer" before them once
#: echoed): only redacting the key a process actually holds keeps them out of the files.
KEYS = {
    "GROQ_API_KEY": "PlainGroqKey7Q2Wm9Xv4Tz",
    "OPENAI_API_KEY": "PlainOpenAIKey3Hn8Rb5Lc",
    "ANTHROPIC_API_KEY": "PlainAnthropicKey6Jd1Fs0",
    "BENCH_COMPAT_KEY": "PlainCompatKey2Yk7Pq4Ne",
}
PROVIDERS = (
    ("groq", "openai/gpt-oss-20b", "GROQ_API_KEY"),
    ("openai", "gpt-4.1", "OPENAI_API_KEY"),
    ("anthropic", "claude-haiku-5-5", "ANTHROPIC_API_KEY"),
    ("openai-compatible", "my-model", "BENCH_COMPAT_KEY"),
)
EXECUTORS: dict[str, list[str]] = {
    "local": [],
    "workers": ["--workers", "2"],
    "ray": ["--executor", "ray", "--workers", "2"],
}


class _EchoKey(BaseHTTPRequestHandler):
    """Answers everything 401 with the caller's key in the body, as some servers do."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        key = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error", "code": key}}
        ).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKey)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _targets(url: str) -> str:
    """Every provider kind on both client paths, all pointed at the echoing server."""
    out = []
    for provider, model, env in PROVIDERS:
        base = f"{url}/v1" if provider in ("openai", "openai-compatible") else url
        for client in ("sdk", "fast"):
            out.append(
                f'[[target]]\nprovider = "{provider}"\nmodel = "{model}"\nlabel = "{provider}-{client}"\n'
                f'base_url = "{base}"\napi_key_env = "{env}"\nclient = "{client}"\n'
            )
    return "\n".join(out)


def _leaks(root: Path) -> list[str]:
    """Every file under ``root`` (and every string cell of its Parquet files) holding a key."""
    found = []
    for file in sorted(root.rglob("*")):
        if not file.is_file():
            continue
        data = file.read_bytes()
        texts = [data.decode("utf-8", "replace")]
        if file.suffix == ".parquet":
            frame = pd.read_parquet(file)
            texts.append(frame.astype(str).to_csv())
        for name, key in KEYS.items():
            if any(key in text for text in texts):
                found.append(f"{file.relative_to(root)}: {name}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_keys_echoed_in_401_bodies_never_reach_disk(executor: str, echo_url: str, tmp_path: Path) -> None:
    if executor == "ray":
        pytest.importorskip("ray")
    path = tmp_path / "s.toml"
    path.write_text(
        f'[scenario]\nname = "echo"\n\n{_targets(echo_url)}\n[request]\nmax_tokens = 8\n\n'
        "[load]\nconcurrency = [2]\nrequests = 2\ntimeout_s = 20\n"
    )
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(path), "--out", str(out), "--quiet", *EXECUTORS[executor]],
        env={**os.environ, **KEYS},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]  # nothing succeeded: every answer was a 401
    assert "Traceback" not in proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    frame = load_results(run_dir)
    assert len(frame) == 8 * 2
    assert set(frame["error_kind"]) == {"auth"}, frame[["target", "error_kind", "error_message"]]
    assert frame["error_message"].str.contains("Incorrect API key provided: ***", regex=False).all(), frame["error_message"]
    for fmt in ("csv", "parquet", "json", "pytest-benchmark", "vllm"):
        assert run_app(app, ["export", str(run_dir), "--format", fmt, "--out", str(tmp_path / "export" / fmt)]) == 0
    assert run_app(app, ["report", str(run_dir), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").is_file()
    assert _leaks(tmp_path) == []
    assert not [name for name, key in KEYS.items() if key in proc.stdout + proc.stderr]


# ------------------------------------------------------------------------------ cancellation


@pytest.fixture(scope="module")
def counting_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``bench emulate`` with a chunk log: one line for every request the server saw."""
    log = tmp_path_factory.mktemp("emulator") / "chunks.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "emulate", "--port", "0", "--chunk-log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    try:
        assert "http://127.0.0.1:" in line, line
        yield line.strip().split()[-1], log
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


def _served(log: Path, marker: str) -> int:
    """Chat requests of one run the emulator answered or saw cut off (its log names the path)."""
    if not log.is_file():
        return 0
    return sum(1 for line in log.read_text().splitlines() if marker in line and "/chat/completions" in line)


def _processes_with(marker: str) -> list[int]:
    """Processes (any session: Ray detaches some) whose environment carries ``marker``."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def _interrupt(executor: str, signals: str, emulator: tuple[str, Path], tmp_path: Path, targets: int = 1) -> None:
    """Start a long run, send ``signals`` mid-stream, and check every request in flight — on
    every target, ``targets`` of them side by side (interleaved) — is one ``cancelled`` row."""
    if executor == "ray":
        pytest.importorskip("ray")
    url, log = emulator
    marker = f"bench-cancel-{executor}-{signals.replace(' ', '-')}-{targets}-{os.getpid()}"
    path = tmp_path / "s.toml"
    # Every request streams for ~2 s, so at any moment all four streams of each target have one in flight.
    path.write_text(
        '[scenario]\nname = "cancel"\n\n'
        + "".join(
            f'[[target]]\nprovider = "openai-compatible"\nmodel = "{marker}-{t}"\nbase_url = "{url}/v1"\n\n'
            for t in range(targets)
        )
        + "[request]\nmax_tokens = 150\nextra_body = { ignore_eos = true }\n\n"
        "[load]\nconcurrency = [4]\nrequests = 400\ntimeout_s = 60\n"
    )
    out = tmp_path / "results"
    env = {**os.environ, "BENCH_TEST_MARK": marker}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(path), "--out", str(out), "--quiet", "--no-report", *EXECUTORS[executor]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,  # its own process group: Ctrl-C in a terminal reaches the whole group
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            files = list(out.rglob("requests.jsonl"))
            if files and files[0].read_text().count("\n") >= 4 * targets:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            raise AssertionError("the run did not get going")
        time.sleep(0.5)  # mid-stream for every stream
        for name in signals.split():  # to the group, as a terminal's Ctrl-C; SIGTERM as a service manager sends it
            if name == "SIGINT":
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGTERM)
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    run_dir = files[0].parent
    frame = load_results(run_dir)
    kinds = frame["error_kind"].fillna("ok").value_counts().to_dict()
    assert set(kinds) <= {"ok", "cancelled"}, kinds
    assert kinds.get("cancelled") == 4 * targets, kinds  # every stream's request in flight, recorded
    cancelled = frame[frame["error_kind"] == "cancelled"]
    assert cancelled.groupby("target").size().to_dict() == {f"openai-compatible/{marker}-{t}": 4 for t in range(targets)}
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["finished"] is False and meta["ended_at"]
    assert meta["order"] == ("interleaved" if targets > 1 else "sequential")
    # Every request the server saw is a row: nothing in flight vanished.
    deadline = time.monotonic() + 10
    while _served(log, marker) < len(frame) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _served(log, marker) == len(frame)
    # No process of the run outlives it (workers, Ray's actors and its local cluster).
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []


@pytest.mark.slow
@pytest.mark.parametrize("signals", ["SIGINT", "SIGINT SIGINT", "SIGTERM"])
@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_ctrl_c_records_every_request_in_flight(
    executor: str, signals: str, counting_emulator: tuple[str, Path], tmp_path: Path
) -> None:
    _interrupt(executor, signals, counting_emulator, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("signals", ["SIGINT", "SIGINT SIGINT"])
@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_ctrl_c_records_every_request_in_flight_of_every_interleaved_target(
    executor: str, signals: str, counting_emulator: tuple[str, Path], tmp_path: Path
) -> None:
    _interrupt(executor, signals, counting_emulator, tmp_path, targets=2)
