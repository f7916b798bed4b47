"""The client's own limits are the client's: out of file descriptors is not a provider error,
and a slow models list before a live run costs no more than the scenario's timeout."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import load_results
from bench.emulator import start_emulator
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))


def test_running_out_of_file_descriptors_is_a_client_error_and_said(tmp_path: Path) -> None:
    with start_emulator() as emu:
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "run", "--provider", "openai-compatible", "--model", "m",
             "--base-url", emu.provider_base_url("openai-compatible"), "--concurrency", "60", "--requests", "60",
             "--max-tokens", "4", "--out", str(tmp_path / "r"), "--no-report", "--quiet"],
            capture_output=True, text=True, timeout=120, preexec_fn=_low_fd_limit, cwd=tmp_path,
        )  # fmt: skip
    assert "Traceback" not in proc.stderr
    frame = load_results(tmp_path / "r")
    kinds = frame["error_kind"].value_counts().to_dict()
    assert kinds.get("client_resources", 0) >= 1, kinds
    assert "connection" not in kinds  # the provider did nothing wrong
    assert (frame["status"] == "ok").sum() >= 1
    assert "not the provider's" in proc.stdout and "ulimit -n" in proc.stdout
    assert "open-file limit 48 is below" in proc.stderr  # said before the run, too


class _SlowModels(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # the models list: slower than any request may take
        time.sleep(8)
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_live_preflight_obeys_the_scenario_timeout(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowModels)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "s.toml"
    path.write_text(
        textwrap.dedent(f"""
        [[target]]
        provider = "openai-compatible"
        model = "m"
        base_url = "http://127.0.0.1:{server.server_address[1]}/v1"
        [request]
        stream = false
        max_tokens = 4
        [load]
        concurrency = [1]
        requests = 1
        timeout_s = 1
        """)
    )
    warnings: list[str] = []
    started = time.monotonic()
    try:
        result = run_scenario(load_scenario(path), out=tmp_path / "r", warn=warnings.append)
    finally:
        server.shutdown()
    assert time.monotonic() - started < 6  # the list took 8 s; the scenario allows 1 s
    assert any("could not list models" in w for w in warnings), warnings
    assert (result.frame["status"] == "ok").all()
