"""Real stream shapes, replayed with their timing: recordings, a replay server, a measuring run.

The recordings follow the providers' documented streams event for event (field names, order,
sizes), with the offsets a real answer has — compressed so a test takes a second:

- ``anthropic_compaction``: Claude with context management (``compact_20260112``) whose input
  crossed the trigger: the answer opens with a ``compaction`` block — ``content_block_start``
  when summarising begins, one ``compaction_delta`` holding the whole summary (no intermediate
  streaming), ``content_block_stop`` — then the text block; ``message_delta.usage`` carries
  ``iterations`` (the compaction's own tokens are not in the top-level ``output_tokens``).
- ``groq_compound``: ``groq/compound`` answering with web search: reasoning streamed as
  ``delta.reasoning``, the tool call and, once the search returns, its output (reasoning text
  plus ``delta.executed_tools`` with the search results: tens of KB in one chunk), more
  reasoning 5 ms later, then the answer; ``x_groq.usage_breakdown`` on the finish chunk.

``python -m tests.real_streams`` prints each recording's TTFT and gaps per path against the
replay server's write times; ``python -m tests.real_streams NAME`` measures one recording the way a run does — each client
path warmed up first (``warm_client_path``, then the heap settled as a level starts), then the
recording replayed twice through it —
and prints JSON: each attempt's record, the process CPU time it took, and the server's own
write times. It runs in a fresh process because the costs it looks for are paid once per
process (an SDK builds a type's validators the first time it meets it).
"""

from __future__ import annotations

import gc
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

#: (offset in ms from the request's last byte, one SSE event, whether it carries content).
Step = tuple[float, bytes, bool]


@dataclass(frozen=True)
class Recording:
    name: str
    provider: str
    steps: list[Step]
    #: What both client paths must read from it.
    content_chunks: int
    output_tokens: int
    finish_reason: str


# ------------------------------------------------------------------------- Anthropic compaction


def _anthropic(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields}, separators=(',', ':'))}\n\n".encode()


def anthropic_compaction() -> Recording:
    summary = (
        "<summary>The user is building a web scraper in Python for a news site. So far: requests + "
        "BeautifulSoup fetch and parse article pages; a retry wrapper with exponential backoff; results "
        "stored in SQLite (articles(id, url, title, body, fetched_at)). Open items: JavaScript-rendered "
        "pages, rate limiting per domain, error handling for 429 and timeouts.</summary> "
    ) * 12
    steps: list[Step] = [
        (
            4.0,
            _anthropic(
                "message_start",
                message={
                    "id": "msg_01CompactionReplay",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-opus-4-6",
                    "content": [],
                    "container": None,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 171342,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                        "service_tier": "standard",
                    },
                },
            ),
            False,
        ),
        (5.0, _anthropic("content_block_start", index=0, content_block={"type": "compaction", "content": None}), False),
        (5.2, _anthropic("ping"), False),
        (
            30.0,
            _anthropic(
                "content_block_delta",
                index=0,
                delta={"type": "compaction_delta", "content": summary, "encrypted_content": "Q29tcGFjdGVk" * 400},
            ),
            False,
        ),
        (30.1, _anthropic("content_block_stop", index=0), False),
        (32.0, _anthropic("content_block_start", index=1, content_block={"type": "text", "text": ""}), False),
    ]
    words = ["Based", " on", " our", " conversation", " so", " far", ",", " here", " is", " the", " error", " handling",
             " for", " 429", " responses", ":", " wrap", " each", " fetch", " in"]  # fmt: skip
    for i, word in enumerate(words):
        delta = {"type": "text_delta", "text": word}
        steps.append((33.0 + 4.0 * i, _anthropic("content_block_delta", index=1, delta=delta), True))
    end = 33.0 + 4.0 * len(words)
    steps += [
        (end, _anthropic("content_block_stop", index=1), False),
        (
            end + 0.5,
            _anthropic(
                "message_delta",
                delta={"stop_reason": "end_turn", "stop_sequence": None},
                usage={
                    "input_tokens": 23114,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": len(words),
                    "iterations": [
                        {"type": "compaction", "input_tokens": 171342, "output_tokens": 3480},
                        {"type": "message", "input_tokens": 23114, "output_tokens": len(words)},
                    ],
                },
                context_management={"applied_edits": []},
            ),
            False,
        ),
        (end + 0.6, _anthropic("message_stop"), False),
    ]
    return Recording("anthropic_compaction", "anthropic", steps, len(words), len(words), "end_turn")


# ------------------------------------------------------------------------- Groq compound


def _chat(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-5b0c2a3e-compound-replay",
        "object": "chat.completion.chunk",
        "created": 1786530508,
        "model": "groq/compound",
        "system_fingerprint": None,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    body.update(extra)
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def groq_compound() -> Recording:
    query = "groq lpu inference latency 2026"
    results = [
        {
            "title": f"LPU inference benchmarks, part {i + 1}",
            "url": f"https://example.org/lpu-benchmarks/{i + 1}",
            "content": ("Time to first token and output speed were measured across providers with identical prompts. " * 9),
            "score": round(0.93 - i * 0.04, 2),
        }
        for i in range(10)
    ]
    output = "".join(f"Title: {r['title']}\nURL: {r['url']}\nContent: {r['content']}\n\n" for r in results)
    tool = {"index": 0, "type": "search", "arguments": json.dumps({"query": query})}
    steps: list[Step] = [(2.0, _chat({"role": "assistant", "content": ""}, x_groq={"id": "req_01compoundreplay"}), False)]
    t = 60.0
    for word in ["I", " need", " current", " figures", ",", " so", " I", " will", " search", "."]:
        steps.append((t, _chat({"reasoning": word}), True))
        t += 3.0
    steps.append((t, _chat({"reasoning": f'\n<tool>search("{query}")</tool>\n', "executed_tools": [tool]}), True))
    t += 120.0  # the search
    done = dict(tool, output=output, search_results={"results": results, "images": []})
    steps.append((t, _chat({"reasoning": f"<output>{output}</output>\n", "executed_tools": [done]}), True))
    for word in [" The", " results", " agree", "."]:
        t += 5.0
        steps.append((t, _chat({"reasoning": word}), True))
    answer = ["Groq", "'s", " LPU", " serves", " first", " tokens", " in", " about", " 0", ".", "2", " s", "."]
    t += 10.0
    for word in answer:
        steps.append((t, _chat({"content": word}), True))
        t += 3.0
    usage = {
        "queue_time": 0.021,
        "prompt_tokens": 2114,
        "prompt_time": 0.05,
        "completion_tokens": 29,
        "completion_time": 0.21,
        "total_tokens": 2143,
        "total_time": 0.26,
    }
    breakdown = {"models": [{"model": "openai/gpt-oss-120b", "usage": usage}]}
    x_groq = {"id": "req_01compoundreplay", "usage": usage, "usage_breakdown": breakdown}
    steps.append((t, _chat({}, "stop", x_groq=x_groq), False))
    steps.append((t + 0.2, _chat(None, usage=usage, x_groq={"id": "req_01compoundreplay"}), False))
    steps.append((t + 0.3, b"data: [DONE]\n\n", False))
    content = sum(1 for _, _, is_content in steps if is_content)
    return Recording("groq_compound", "groq", steps, content, 29, "stop")


RECORDINGS = {"anthropic_compaction": anthropic_compaction, "groq_compound": groq_compound}


# ------------------------------------------------------------------------- replay server


class ReplayServer:
    """Serves one recording per request on loopback, each event one write at its offset after
    the request's last byte, and keeps the CLOCK_MONOTONIC time of every write (the truth) and
    when each request began (read; for the first on a connection, accepted)."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.received_ns: list[int] = []
        self.written_ns: list[list[int]] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            accepted = time.perf_counter_ns()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(sock, accepted), daemon=True).start()

    def _serve(self, sock: socket.socket, accepted_ns: int) -> None:
        buffer = b""
        with sock:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
                )
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                buffer = buffer[length:]
                received = time.perf_counter_ns()
                # A client times a request that opened its connection from the connecting (its
                # TTFT includes it): the truth for that one starts at the accept.
                self.received_ns.append(accepted_ns or received)
                accepted_ns = 0
                written: list[int] = []
                self.written_ns.append(written)
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                    b"transfer-encoding: chunked\r\nrequest-id: req_replay\r\n\r\n"
                )
                for offset_ms, event, _ in self.recording.steps:
                    delay = (received + int(offset_ms * 1e6) - time.perf_counter_ns()) / 1e9
                    if delay > 0:
                        time.sleep(delay)
                    sock.sendall(b"%x\r\n%s\r\n" % (len(event), event))
                    written.append(time.perf_counter_ns())
                sock.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self._listener.close()


# ------------------------------------------------------------------------- measuring a replay


def _count_schema_builds() -> list[int]:
    """Count pydantic's schema generation from now on: an SDK building a type's validators
    lazily, in the middle of a stream, is what stalls its path (see bench/run/warm.py)."""
    from pydantic._internal import _generate_schema

    count = [0]
    original = _generate_schema.GenerateSchema.generate_schema

    def generate_schema(self: Any, obj: Any) -> Any:
        count[0] += 1
        return original(self, obj)

    _generate_schema.GenerateSchema.generate_schema = generate_schema  # type: ignore[method-assign]
    return count


def serve(name: str) -> None:
    """The replay server as a process of its own (a thread would share the client's GIL, and
    its writes would bunch whenever the client parses): prints its port, serves until stdin
    closes, then prints each request's read and write times as JSON."""
    server = ReplayServer(RECORDINGS[name]())
    print(server.port, flush=True)
    sys.stdin.read()
    server.close()
    print(json.dumps({"received_ns": server.received_ns, "written_ns": server.written_ns}), flush=True)


def measure(name: str, clients: tuple[str, ...] = ("sdk", "fast"), attempts: int = 2) -> dict[str, Any]:
    """Each client path, warmed up as a run warms it, reads the recording ``attempts`` times."""
    import subprocess

    import anyio

    from bench.event_loop import loop_options
    from bench.providers import ClientSettings, ProviderRequest, make_provider
    from bench.results.records import RequestRecord
    from bench.run.level import settle_heap
    from bench.run.measure import measure_request
    from bench.run.warm import warm_client_path

    built = _count_schema_builds()
    recording = RECORDINGS[name]()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.real_streams", "--serve", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    root = f"http://127.0.0.1:{int(server.stdout.readline())}"
    out: dict[str, Any] = {"name": name, "provider": recording.provider, "attempts": {}}
    request = ProviderRequest(model="m", messages=[{"role": "user", "content": "Go on."}], max_tokens=64)

    async def run(client: str) -> list[dict[str, Any]]:
        await warm_client_path(recording.provider, client)
        settings = ClientSettings(root, "replay-key", 1, 10.0, 0)
        provider = make_provider(recording.provider, settings, client)
        settle_heap()  # as a level starts
        rows = []
        try:
            for attempt in range(attempts):
                record = RequestRecord("replay", name, recording.provider, "m", "concurrency", 1.0, attempt, False, True, client)
                cpu, before = time.process_time(), built[0]
                await measure_request(provider, request, record, timeout_s=10.0)
                rows.append(
                    {
                        "record": json.loads(record.to_json()),
                        "cpu_ms": (time.process_time() - cpu) * 1e3,
                        "schemas_built": built[0] - before,
                    }
                )
        finally:
            gc.unfreeze()
            await provider.aclose()
        return rows

    try:
        for client in clients:
            out["attempts"][client] = anyio.run(run, client, backend_options=loop_options())
    finally:
        server.stdin.close()
        log = json.loads(server.stdout.read())
        server.wait()
    content = [i for i, (_, _, is_content) in enumerate(recording.steps) if is_content]
    out["truth"] = [
        {
            "ttft_ms": (written[content[0]] - received) / 1e6,
            "gaps_ms": [(written[b] - written[a]) / 1e6 for a, b in zip(content, content[1:], strict=False)],
        }
        for received, written in zip(log["received_ns"], log["written_ns"], strict=True)
    ]
    return out


def table() -> None:
    """Every recording, both paths, against the replay server's own write times."""
    import subprocess

    print(f"{'recording':21} {'path':5} {'#':>2} {'TTFT ms':>8} {'truth':>7} {'gap err ms: median':>19} {'worst':>7}")
    for name in RECORDINGS:
        done = subprocess.run([sys.executable, "-m", "tests.real_streams", name], capture_output=True, text=True, check=True)
        out = json.loads(done.stdout)
        truths = iter(out["truth"])
        for client, rows in out["attempts"].items():
            for attempt, row in enumerate(rows):
                record, truth = row["record"], next(truths)
                errors = sorted(abs(a - b) for a, b in zip(record["itl_ms"], truth["gaps_ms"], strict=True))
                print(
                    f"{name:21} {client:5} {attempt:>2} {record['ttft_ms']:8.1f} {truth['ttft_ms']:7.1f} "
                    f"{errors[len(errors) // 2]:19.2f} {errors[-1]:7.2f}"
                )


if __name__ == "__main__":
    if len(sys.argv) == 1:
        table()
    elif sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        json.dump(measure(sys.argv[1]), sys.stdout)
