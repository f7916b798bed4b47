"""Servers that are not our emulator: the shapes vLLM, llama.cpp and mock servers really send.

A tiny stdlib HTTP server on loopback plays each one, so the real openai SDK and bench's
provider code meet bytes we did not write for ourselves.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.run.runner import run_scenario


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None, extra: dict | None = None) -> bytes:
    body = {
        "id": "cmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    body.update(extra or {})
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "vllm"
    seen: list[dict] = []

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        if self.mode == "no-models":
            self.send_response(404)
            body = b'{"detail":"Not Found"}'
        else:
            self.send_response(200)
            body = json.dumps(
                {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "me"}]}
            ).encode()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Handler.seen.append({"body": request, "auth": self.headers.get("authorization")})
        if self.mode == "json-only" or not request.get("stream"):
            body = json.dumps(
                {
                    "id": "cmpl-x",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "m",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")  # close-delimited body, no chunked encoding
        self.end_headers()
        parts = [_chunk({"role": "assistant", "content": ""})]
        if self.mode == "vllm":
            parts += [_chunk({"reasoning_content": "hmm"}), _chunk({"reasoning_content": " ok"})]
            parts += [
                _chunk({"content": w}, usage={"prompt_tokens": 5, "completion_tokens": i + 3, "total_tokens": i + 8})
                for i, w in enumerate(["Hi", " there", "!"])
            ]
            parts += [_chunk({}, finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})]
            parts += [b"data: [DONE]\n\n"]
        else:  # llama.cpp-like: timings block, no usage, no [DONE]
            parts += [_chunk({"content": w}) for w in ["A", "", "B", "C"]]
            parts += [_chunk({}, finish="stop", extra={"timings": {"predicted_ms": 3.0}})]
        for part in parts:
            if self.mode == "vllm" and part is parts[3]:
                # The answer starts a few ms after the reasoning, as on a real server: events
                # written back to back can arrive in one read, and the lean client rightly
                # stamps them alike (they did arrive together), so TTFA could not exceed TTFT.
                time.sleep(0.005)
            self.wfile.write(part)
            self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server() -> Iterator[type[Handler]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"  # type: ignore[attr-defined]
    Handler.seen = []
    try:
        yield Handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _scenario(tmp_path: Path, url: str, stream: bool = True) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        textwrap.dedent(f"""
        [[target]]
        provider = "openai-compatible"
        model = "m"
        base_url = "{url}"
        [request]
        stream = {"true" if stream else "false"}
        max_tokens = 8
        [load]
        concurrency = [1]
        requests = 2
        """)
    )
    return path


@pytest.mark.parametrize("client", ["fast", "sdk"])
def test_vllm_shapes(server: type[Handler], tmp_path: Path, client: str) -> None:
    server.mode = "vllm"
    frame = run_scenario(_scenario(tmp_path, server.url), out=tmp_path / "r", warn=lambda m: None, client=client).frame  # type: ignore[attr-defined]
    assert (frame["status"] == "ok").all(), frame["error_message"].tolist()
    assert (frame["output_tokens"] == 5).all() and (frame["token_source"] == "usage").all()
    assert (frame["content_chunks"] == 5).all()
    assert (frame["ttfa_ms"] > frame["ttft_ms"]).all()
    # No key configured → the SDK's placeholder, never a real key; max_tokens, not max_completion_tokens.
    assert all(s["auth"] == "Bearer not-needed" for s in server.seen)
    assert all("max_tokens" in s["body"] and s["body"]["stream_options"] == {"include_usage": True} for s in server.seen)


def test_llama_cpp_shapes(server: type[Handler], tmp_path: Path) -> None:
    server.mode = "llamacpp"
    frame = run_scenario(_scenario(tmp_path, server.url), out=tmp_path / "r", warn=lambda m: None).frame  # type: ignore[attr-defined]
    assert (frame["status"] == "ok").all(), frame["error_message"].tolist()
    # No usage: one token per chunk with a text field, the empty byte-fallback piece included.
    assert (frame["token_source"] == "chunks").all() and (frame["output_tokens"] == 4).all()
    assert (frame["content_chunks"] == 3).all() and (frame["finish_reason"] == "stop").all()


def test_server_that_ignores_stream_is_a_clear_protocol_error(server: type[Handler], tmp_path: Path) -> None:
    server.mode = "json-only"
    frame = run_scenario(_scenario(tmp_path, server.url), out=tmp_path / "r", warn=lambda m: None).frame  # type: ignore[attr-defined]
    assert (frame["error_kind"] == "protocol").all()
    assert frame["error_message"].str.contains("stream = false").all()
    ok = run_scenario(_scenario(tmp_path, server.url, stream=False), out=tmp_path / "r", warn=lambda m: None).frame  # type: ignore[attr-defined]
    assert (ok["status"] == "ok").all() and (ok["token_source"] == "estimate").all()


def test_preflight_hints_at_base_url(server: type[Handler], tmp_path: Path) -> None:
    server.mode = "no-models"
    warnings: list[str] = []
    run_scenario(_scenario(tmp_path, server.url), out=tmp_path / "r", warn=warnings.append)  # type: ignore[attr-defined]
    assert any("could not list models" in w and "/v1" in w for w in warnings)
