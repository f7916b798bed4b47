"""pytest-benchmark suite for the code that runs per chunk and per request.

    pytest benchmarks/test_hot_paths.py --benchmark-only --no-cov        # full: 100k-row frames
    BENCH_PERF_QUICK=1 pytest benchmarks/test_hot_paths.py \\
        --benchmark-disable --no-cov -p no:cacheprovider                  # CI: each body once, small data

Per chunk: the SDK's SSE decoding, the provider's chunk → StreamEvent translation and the
measuring loop (``bench.run.measure.measure_request``). Per request: ``RequestRecord.to_json`` and
``ResultsWriter.write``. Per run: ``load_results`` (JSONL and Parquet), ``aggregate``,
``evaluate_slo`` and the CI gate's ``compare_sides`` on 100 000 rows. No network: chunks come
from memory, so these time the harness's own code, not a server.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.analysis.metrics import aggregate, evaluate_slo  # noqa: E402
from bench.gate.compare import CompareSettings, Side, SideInfo, compare_sides  # noqa: E402
from bench.providers.base import ProviderRequest, StreamEvent, Usage  # noqa: E402
from bench.results.records import PARQUET_FILE, RequestRecord, ResultsWriter, load_results  # noqa: E402
from bench.results.run_file import write_run_meta  # noqa: E402
from bench.run.measure import measure_request  # noqa: E402
from bench.scenario.slo import slo_from_table  # noqa: E402
from tests.synthetic import synthetic_frame  # noqa: E402

QUICK = os.environ.get("BENCH_PERF_QUICK", "") not in ("", "0")
#: Rows in the per-run benchmarks (about 100k; a few thousand in quick mode).
ROWS_PER_GROUP = 800 if QUICK else 16_665
CHUNKS = 64 if QUICK else 1000
TARGETS = ("groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo", "anthropic/claude-sonnet-5-5")
SLO = slo_from_table({"ttft_p50_ms": 100, "output_tps_p50": 500, "response_100_ms_p50": 500, "error_rate_max": 0.01})


def _record(i: int = 0) -> RequestRecord:
    return RequestRecord(
        run_id="20260925-100000-perf-0000",
        target=TARGETS[0],
        provider="groq",
        model="llama-3.3-70b-versatile",
        load_mode="concurrency",
        load_level=4.0,
        request_index=i,
        warmup=False,
        stream=True,
        started_at_ns=1_790_330_400_000_000_000 + i,
        sdk_prep_ms=0.9,
        ttfb_ms=41.2,
        ttft_ms=75.3,
        ttfa_ms=75.3,
        e2e_ms=330.1,
        output_tokens=128,
        input_tokens=64,
        token_source="usage",
        content_chunks=128,
        itl_ms=[2.0] * 127,
        output_tps=501.2,
        tpot_ms=1.995,
        response_100_ms=274.8,
        finish_reason="stop",
        request_id=f"req_{i:08d}",
    )


# --------------------------------------------------------------------------- per chunk


class _MemoryProvider:
    """A provider whose stream is already in memory: isolates the measuring loop's cost."""

    client = "sdk"

    def __init__(self, events: list[StreamEvent]) -> None:
        self._events = events

    async def events(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        for event in self._events:
            yield event


def _events(n: int) -> list[StreamEvent]:
    out = [StreamEvent(answer="", response_id="chatcmpl-1")]
    out += [StreamEvent(answer=" word", response_id="chatcmpl-1") for _ in range(n)]
    out.append(StreamEvent(finish_reason="stop", usage=Usage(output_tokens=n, input_tokens=64)))
    return out


REQUEST = ProviderRequest(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=CHUNKS)


def test_measure_loop_per_chunk(benchmark: Any) -> None:
    provider = _MemoryProvider(_events(CHUNKS))

    def run() -> RequestRecord:
        return asyncio.run(measure_request(provider, REQUEST, _record(), timeout_s=60))

    record = benchmark(run)
    assert record.status == "ok"


def _chunk_json(i: int, n: int) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if i == 0 else {"content": " word"}
    chunk: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if i == n else None}],
    }
    if i == n:
        chunk["usage"] = {"prompt_tokens": 64, "completion_tokens": n, "total_tokens": n + 64}
    return chunk


def _sse_body(n: int) -> bytes:
    lines = [f"data: {json.dumps(_chunk_json(i, n))}\n\n" for i in range(n + 1)]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def test_sse_decoding_per_chunk(benchmark: Any) -> None:
    """The openai SDK's SSE decoder over a canned body (what every streamed chunk goes through)."""
    streaming = pytest.importorskip("openai._streaming")
    body = _sse_body(CHUNKS)
    pieces = [body[i : i + 1024] for i in range(0, len(body), 1024)]

    def decode() -> int:
        decoder = streaming.SSEDecoder()
        return sum(1 for _ in decoder.iter_bytes(iter(pieces)))

    assert benchmark(decode) == CHUNKS + 2


def test_openai_chunk_translation(benchmark: Any) -> None:
    """ChatCompletionsProvider's chunk → StreamEvent loop over real SDK chunk objects."""
    pytest.importorskip("openai")
    from openai.types.chat import ChatCompletionChunk

    from bench.providers.base import ClientSettings
    from bench.providers.openai_chat import ChatCompletionsProvider

    chunks = [ChatCompletionChunk.model_validate(_chunk_json(i, CHUNKS)) for i in range(CHUNKS + 1)]

    class _Stream:
        response = type("R", (), {"headers": {"content-type": "text/event-stream"}})()

        def __aiter__(self) -> AsyncIterator[Any]:
            async def gen() -> AsyncIterator[Any]:
                for chunk in chunks:
                    yield chunk

            return gen()

        async def close(self) -> None:
            return None

    class _Completions:
        async def create(self, **_: Any) -> _Stream:
            return _Stream()

    provider = ChatCompletionsProvider("openai", ClientSettings(None, "k", 1, 60.0, 0))
    provider._sdk = type("SDK", (), {"chat": type("Chat", (), {"completions": _Completions()})()})()

    async def consume() -> int:
        return sum([1 async for _ in provider.events(REQUEST)])

    assert benchmark(lambda: asyncio.run(consume())) == CHUNKS + 1


# --------------------------------------------------------------------------- per request


def test_record_to_json(benchmark: Any) -> None:
    record = _record()
    assert benchmark(record.to_json).startswith("{")


def test_results_writer(benchmark: Any, tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "run")
    records = [_record(i) for i in range(100)]

    def write_100() -> None:
        for record in records:
            writer.write(record)

    benchmark(write_100)
    writer.close()
    assert writer.count >= 100


# --------------------------------------------------------------------------- per run (100k rows)


@pytest.fixture(scope="module")
def big_frame() -> Any:
    frame = synthetic_frame(targets=TARGETS, levels=(1, 4), n=ROWS_PER_GROUP, warmup=2, error_share=0.01)
    return frame


@pytest.fixture(scope="module")
def big_run(big_frame: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("perf") / "20260925-100000-perf-0000"
    run_dir.mkdir()
    write_run_meta(run_dir, {"run_id": run_dir.name, "emulated": True})
    with open(run_dir / "requests.jsonl", "w", encoding="utf-8") as fh:
        for row in big_frame.to_dict(orient="records"):
            row["itl_ms"] = [float(x) for x in row["itl_ms"]]
            row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            fh.write(json.dumps(row, default=str) + "\n")
    return run_dir


def test_load_results_jsonl(benchmark: Any, big_run: Path) -> None:
    (big_run / PARQUET_FILE).unlink(missing_ok=True)
    frame = benchmark.pedantic(load_results, args=(big_run,), rounds=1 if QUICK else 3, iterations=1)
    assert len(frame) == 6 * (ROWS_PER_GROUP + 2)


def test_load_results_parquet(benchmark: Any, big_run: Path) -> None:
    from bench.results.records import write_parquet

    write_parquet(big_run)
    frame = benchmark.pedantic(load_results, args=(big_run,), rounds=1 if QUICK else 5, iterations=1)
    assert len(frame) == 6 * (ROWS_PER_GROUP + 2)


def test_aggregate(benchmark: Any, big_frame: Any) -> None:
    table = benchmark.pedantic(aggregate, args=(big_frame, SLO), rounds=1 if QUICK else 3, iterations=1)
    assert len(table) == 6


def test_evaluate_slo(benchmark: Any, big_frame: Any) -> None:
    verdicts = benchmark.pedantic(evaluate_slo, args=(big_frame, SLO), rounds=1 if QUICK else 3, iterations=1)
    assert len(verdicts) == 6 * 4


def test_compare_gate(benchmark: Any, big_frame: Any) -> None:
    other = synthetic_frame(targets=TARGETS, levels=(1, 4), n=ROWS_PER_GROUP, warmup=2, seed=1)
    info = SideInfo(spec="x", kind="run", path="x", run_id="x", fingerprint="f", emulated=True)
    base, cand = Side.of_frame(info, big_frame), Side.of_frame(info, other)
    comparison = benchmark.pedantic(compare_sides, args=(base, cand, CompareSettings()), rounds=1 if QUICK else 3, iterations=1)
    assert comparison.family_size == 12


# --------------------------------------------------------------------------- client paths


def test_fast_path_parse_and_record(benchmark: Any) -> None:
    """Lean client: HTTP chunks → httptools → SSE → orjson → events → measure loop (see client_cost.py)."""
    from benchmarks.client_cost import fast_path, sse_events

    events = sse_events(CHUNKS)
    tally = benchmark(lambda: asyncio.run(fast_path(events)))
    assert len(tally.content_ns) == CHUNKS


def test_sdk_path_parse_and_record(benchmark: Any) -> None:
    """SDK client over the same bytes: httpx2 → openai AsyncStream → provider → measure loop."""
    from benchmarks.client_cost import sdk_path, sse_events

    events = sse_events(CHUNKS)
    tally = benchmark(lambda: asyncio.run(sdk_path(events)))
    assert len(tally.content_ns) == CHUNKS
