"""No first-request artifact: each (provider, client path) is warmed once per process, off the record.

``warm_client_path`` sends one request of the wire format through a client of that path to a
canned answer on loopback (real sockets, the real SDKs and lean client). The last test runs
``bench run`` in fresh processes with ``warmup = 0`` and checks that the first measured request
of each level is not an outlier in TTFT — the one timing-flavoured assertion here.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from bench import load_results
from bench.event_loop import loop_options
from bench.providers import ClientSettings, ProviderRequest, make_provider
from bench.results.records import RequestRecord
from bench.run import warm
from bench.run.measure import measure_request

PROVIDERS = ("groq", "openai", "openai-compatible", "anthropic")
CLIENTS = ("sdk", "fast")
COMBINATIONS = [(p, c) for p in PROVIDERS for c in CLIENTS]


def test_each_path_is_warmed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "_warmed", set())  # as in a fresh process (other tests may have warmed)

    async def main() -> tuple[list[bool], list[bool]]:
        first = [await warm.warm_client_path(p, c) for p, c in COMBINATIONS]
        again = [await warm.warm_client_path(p, c) for p, c in COMBINATIONS]
        return first, again

    first, again = anyio.run(main, backend_options=loop_options())
    assert first == [True] * 8
    assert again == [False] * 8
    assert warm._warmed == set(COMBINATIONS)


def test_asyncio_loop_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """On asyncio's own loop (BENCH_EVENT_LOOP=asyncio) as well as uvloop."""
    monkeypatch.setattr(warm, "_warmed", set())
    assert anyio.run(warm.warm_client_path, "anthropic", "sdk") is True
    assert anyio.run(warm.warm_client_path, "anthropic", "sdk") is False


@pytest.mark.parametrize(("provider", "client"), COMBINATIONS)
def test_the_canned_answer_is_parsed_like_a_real_one(provider: str, client: str) -> None:
    """The warm-up request exercises what a real stream needs: reasoning, text, usage, finish."""

    async def main() -> RequestRecord:
        server = await asyncio.start_server(warm._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        path = make_provider(provider, ClientSettings(warm._base_url(provider, port), "bench-warm-up", 1, 10.0, 0), client)
        request = ProviderRequest(model="m", messages=[{"role": "user", "content": "warm up"}], max_tokens=2)
        record = RequestRecord("t", "t", provider, "m", "concurrency", 1.0, 0, False, True, client)
        try:
            await measure_request(path, request, record, timeout_s=10.0)
        finally:
            await path.aclose()
            server.close()
            await server.wait_closed()
        return record

    record = anyio.run(main, backend_options=loop_options())
    assert record.status == "ok", (record.error_kind, record.error_message)
    assert record.client == client
    assert record.output_tokens == 2 and record.input_tokens == 1 and record.token_source == "usage"
    # Anthropic: one thinking chunk, one answer chunk, a tool call's name and its arguments (a
    # server tool's input is no content); chat: reasoning, a compound tool call and its results
    # (reasoning text too), a function call, one answer chunk.
    assert record.tool_call_chunks == (2 if provider == "anthropic" else 1)
    assert record.content_chunks == (4 if provider == "anthropic" else 5)
    assert record.ttft_ms is not None and record.ttfa_ms is not None and record.ttfa_ms >= record.ttft_ms
    if provider == "anthropic":
        assert record.finish_reason == "end_turn" and record.request_id == "msg_warm"
    else:
        assert record.finish_reason == "stop" and record.request_id == "chatcmpl-warm"
        assert record.reasoning_tokens == 1  # completion_tokens_details in the final usage chunk
        assert record.queue_ms == 1.0 and record.completion_ms == 1.0  # x_groq usage, parsed on every chat path


# ------------------------------------------------------------------- first-request artifact

PROFILE = "[target.emulator]\nttft_ms = 20\ntokens_per_s = 1000\njitter = 0\n"
# Two targets per provider: each level runs on a fresh client, the first in a fresh process.
# One target at a time (order = "sequential"): what is measured is what one fresh client pays.
# Interleaved, every target's first request starts at the same instant and waits for the
# others' to be sent — the reason scenarios with several targets want warmup = 1 or more.
FIRST_REQUEST = f"""
[scenario]
name = "first-request"
emulate = true

[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
{PROFILE}
[[target]]
provider = "groq"
model = "llama-3.1-8b-instant"
{PROFILE}
[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
label = "anthropic-again"
{PROFILE}
[[target]]
provider = "groq"
model = "llama-3.1-8b-instant"
label = "groq-again"
{PROFILE}
[request]
max_tokens = 20

[load]
concurrency = [1]
requests = 8
warmup = 0
order = "sequential"
"""

#: A first request more than this above the others' median (or 3 median absolute deviations,
#: if those are wider) paid a start-up cost.
TOLERANCE_MS = 5.0
#: Fresh processes (odd): the verdict per target is the median over them. Measured against the
#: emulator in a fresh ``bench run`` on this 2-core machine, the first Anthropic SDK request
#: without the warm-up paid +4 to +29 ms (median ~9; ~45 ms on real recorded streams) and the
#: first Groq one +1 to +12 ms; with it every first request was within -1 to +7 ms (median
#: ~1.5). One process alone is too noisy to tell them apart; the median of three is not.
PROCESSES = 3


def _excess(run_dir: Path) -> dict[str, tuple[float, float]]:
    """Per target and level: (first request's TTFT minus the others' median, allowed excess)."""
    frame = load_results(run_dir)
    assert (frame["status"] == "ok").all(), frame[["target", "error_kind", "error_message"]]
    assert not frame["warmup"].any()
    out = {}
    for (target, level), group in frame.groupby(["target", "load_level"]):
        ttft = group.sort_values("request_index")["ttft_ms"].tolist()
        first, rest = ttft[0], ttft[1:]
        median = statistics.median(rest)
        mad = statistics.median(abs(t - median) for t in rest)
        out[f"{target} at {level:g}"] = (first - median, max(TOLERANCE_MS, 3 * mad))
    return out


@pytest.mark.parametrize("client", ["fast", "sdk"])
def test_first_measured_request_is_not_an_outlier(tmp_path: Path, client: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(FIRST_REQUEST))
    seen: dict[str, list[tuple[float, float]]] = {}
    for attempt in range(PROCESSES):
        out = tmp_path / f"r{attempt}"
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "run", str(path), "--out", str(out), "--quiet", "--no-report", "--client", client],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
        for where, value in _excess(run_dir).items():
            seen.setdefault(where, []).append(value)
        majority = PROCESSES // 2 + 1
        if all(sum(excess <= allowed for excess, allowed in values) >= majority for values in seen.values()):
            break  # already clean in most processes, for every target
    assert len(seen) == 4  # both providers, a first and a second client each
    outliers = {
        where: [f"{excess:+.1f} ms (allowed {allowed:.1f})" for excess, allowed in values]
        for where, values in seen.items()
        if statistics.median(excess - allowed for excess, allowed in values) > 0
    }
    assert not outliers, f"the first measured request paid a start-up cost: {outliers}"
