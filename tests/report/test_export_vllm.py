"""``bench export --format vllm``: vLLM's result JSON, exactly its keys and units, on a real emulated run."""

from __future__ import annotations

import json
import statistics
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.analysis.metrics import measured
from bench.errors import BenchError
from bench.report.export import aggregates_for, export_run
from bench.report.export.vllm import result_keys, vllm_results
from bench.results.records import load_results
from bench.results.run_file import read_run_meta
from bench.run.runner import run_scenario
from tests.synthetic import write_synthetic_run

#: What ``vllm bench serve --save-result --save-detailed --percentile-metrics ttft,tpot,itl,e2el``
#: writes (vllm/benchmarks/serve.py of vllm 0.34.0, main_async and benchmark), written out here
#: rather than taken from bench, so that a change on either side shows.
VLLM_KEYS = [
    "date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
    "request_rate", "burstiness", "max_concurrency",
    "duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
    "request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
    "input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "queue_times",
    "generated_texts", "errors", "max_output_tokens_per_s", "max_concurrent_requests", "rtfx",
    "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms",
    "mean_tpot_ms", "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms",
    "mean_itl_ms", "median_itl_ms", "std_itl_ms", "p99_itl_ms",
    "mean_e2el_ms", "median_e2el_ms", "std_e2el_ms", "p99_e2el_ms",
]  # fmt: skip


@pytest.fixture(scope="module")
def emulated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vllm")
    path = root / "s.toml"
    path.write_text(
        textwrap.dedent(
            """
            [scenario]
            name = "vllm-export"
            emulate = true

            [[target]]
            provider = "groq"
            model = "openai/gpt-oss-20b"
            [target.emulator]
            ttft_ms = 15
            tokens_per_s = 2000
            jitter = 0.05

            [request]
            max_tokens = 24

            [load]
            concurrency = [2]
            requests = 6
            warmup = 1
            timeout_s = 10
            """
        ),
        encoding="utf-8",
    )
    return run_scenario(path, out=root / "results").run_dir


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_emulated_run_has_exactly_vllms_keys_and_units(emulated_run: Path, tmp_path: Path) -> None:
    written = export_run(emulated_run, "vllm", tmp_path)
    result = _read(written[0])
    # vllm/benchmarks/serve.py, compute_result_filename: {label or backend}-{request_rate}qps
    # [-concurrency{N}]-{model id after its last /}-{date}.json; bench's group after it.
    assert [p.name for p in written] == [
        f"openai-chat-infqps-concurrency2-gpt-oss-20b-{result['date']}-groq-openai-gpt-oss-20b.json"
    ]
    assert list(result) == VLLM_KEYS  # the same keys, in vLLM's order
    assert result_keys() == VLLM_KEYS

    frame = load_results(emulated_run)
    rows = measured(frame).sort_values("request_index")
    ok = rows[rows["status"] == "ok"]
    assert len(rows) == 6 and len(ok) == 6  # warm-up left out
    # Per-request lists: seconds. Summaries: milliseconds.
    np.testing.assert_allclose(np.array(result["ttfts"]) * 1000, rows["ttft_ms"], rtol=1e-9)
    np.testing.assert_allclose(np.array(result["latencies"]) * 1000, rows["e2e_ms"], rtol=1e-9)
    for gaps_s, gaps_ms in zip(result["itls"], rows["itl_ms"], strict=True):
        np.testing.assert_allclose(np.array(gaps_s) * 1000, np.asarray(gaps_ms, dtype=float), rtol=1e-9)
    np.testing.assert_allclose(np.array(result["start_times"]) * 1e9, rows["started_at_ns"], rtol=1e-15)
    assert result["mean_ttft_ms"] == pytest.approx(ok["ttft_ms"].mean())
    assert result["median_ttft_ms"] == pytest.approx(ok["ttft_ms"].median())
    assert result["std_ttft_ms"] == pytest.approx(np.std(ok["ttft_ms"].to_numpy()))  # population std, as numpy
    assert result["p99_ttft_ms"] == pytest.approx(np.percentile(ok["ttft_ms"], 99))
    assert result["median_e2el_ms"] == pytest.approx(ok["e2e_ms"].median())
    pooled = np.concatenate([np.asarray(g, dtype=float) for g in ok["itl_ms"]])
    assert result["mean_itl_ms"] == pytest.approx(pooled.mean())
    # vLLM's TPOT: (latency - ttft) / (output tokens - 1), not bench's tpot_ms.
    tpot = (ok["e2e_ms"] - ok["ttft_ms"]) / (ok["output_tokens"] - 1)
    assert result["mean_tpot_ms"] == pytest.approx(tpot[ok["output_tokens"] > 1].mean())
    assert 1 < result["mean_ttft_ms"] < 1000  # milliseconds, not seconds
    assert 0.001 < result["ttfts"][0] < 1  # seconds, not milliseconds

    # Totals and throughputs over bench's measured window.
    agg = aggregates_for(emulated_run).iloc[0]
    assert result["duration"] == pytest.approx(agg["window_s"])
    assert (result["completed"], result["failed"], result["num_prompts"]) == (6, 0, 6)
    assert result["total_output_tokens"] == int(ok["output_tokens"].sum()) == sum(result["output_lens"])
    assert result["total_input_tokens"] == int(ok["input_tokens"].sum()) == sum(result["input_lens"])
    assert result["request_throughput"] == pytest.approx(6 / agg["window_s"])
    assert result["output_throughput"] == pytest.approx(ok["output_tokens"].sum() / agg["window_s"])
    assert result["total_token_throughput"] == pytest.approx(
        (ok["output_tokens"].sum() + ok["input_tokens"].sum()) / agg["window_s"]
    )
    # vLLM's per-second count (every request active in a 1-second bucket), not the instant peak of 2.
    assert result["max_concurrent_requests"] == _concurrency_as_vllm(result) >= 2
    assert result["max_output_tokens_per_s"] > 0
    # What bench cannot fill, as documented: tokenizer_id is the model id, vLLM's default.
    assert result["generated_texts"] == [""] * 6 and result["tokenizer_id"] == "openai/gpt-oss-20b"
    assert result["errors"] == [""] * 6 and result["queue_times"] == [0.0] * 6
    assert (result["request_rate"], result["max_concurrency"], result["burstiness"]) == ("inf", 2, 1.0)
    assert (result["backend"], result["endpoint_type"], result["rtfx"]) == ("openai-chat", "openai-chat", 0.0)
    assert (result["label"], result["model_id"]) == ("groq/openai/gpt-oss-20b", "openai/gpt-oss-20b")
    assert result["request_goodput"] is None  # no per-request SLOs, as vLLM without --goodput
    assert len(result["date"]) == 15 and result["date"][8] == "-"  # %Y%m%d-%H%M%S


def test_failures_open_loop_goodput_and_percentiles(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path / "runs", targets=("groq/openai/gpt-oss-120b", "anthropic/claude-haiku-5-5"), n=12,
        error_share=0.25, load_mode="rate", levels=(2.5,), slo={"request_ttft_ms": 150},
    )  # fmt: skip
    frame = load_results(run)
    results = dict(vllm_results(frame, read_run_meta(run), percentiles=(50, 90, 99.9)))
    date = next(iter(results.values()))["date"]
    groq, claude = (
        f"openai-chat-2.5qps-gpt-oss-120b-{date}-groq-openai-gpt-oss-120b.json",
        f"anthropic-messages-2.5qps-claude-haiku-5-5-{date}-anthropic-claude-haiku-5-5.json",
    )
    assert list(results) == [groq, claude]  # open loop: no -concurrency part, as vLLM without --max-concurrency
    result = results[groq]
    assert [k for k in result if k.endswith("_ttft_ms")] == [
        "mean_ttft_ms",
        "median_ttft_ms",
        "std_ttft_ms",
        "p50_ttft_ms",
        "p90_ttft_ms",
        "p99.9_ttft_ms",
    ]
    rows = measured(frame)
    rows = rows[rows["target"] == "groq/openai/gpt-oss-120b"].sort_values("request_index")
    failed = (rows["status"] != "ok").to_numpy()
    assert result["failed"] == int(failed.sum()) > 0 and result["completed"] == len(rows) - int(failed.sum())
    assert all(result["errors"][i] for i in np.flatnonzero(failed)) and not any(
        result["errors"][i] for i in np.flatnonzero(~failed)
    )
    assert all(result["output_lens"][i] == 0 for i in np.flatnonzero(failed))
    assert (result["request_rate"], result["max_concurrency"]) == (2.5, None)
    np.testing.assert_allclose(np.array(result["queue_times"]) * 1000, rows["start_lag_ms"], rtol=1e-9)
    good = ((rows["status"] == "ok") & (rows["ttft_ms"] <= 150)).sum()
    assert result["request_goodput"] == pytest.approx(good / result["duration"])
    assert results[claude]["backend"] == "anthropic-messages"
    json.dumps(result, allow_nan=False)  # valid JSON: no NaN anywhere
    # A request that failed before its first token has ttft 0.0, vLLM's RequestFuncOutput default
    # (vllm/benchmarks/lib/endpoint_request_func.py), so plain sum() and statistics.mean work.
    no_token = rows["ttft_ms"].isna().to_numpy()
    assert no_token.any() and all(result["ttfts"][i] == 0.0 for i in np.flatnonzero(no_token))
    assert all(isinstance(v, float) for v in result["ttfts"] + result["latencies"] + result["start_times"])
    assert statistics.mean(result["ttfts"]) == pytest.approx(sum(result["ttfts"]) / len(rows))


def test_no_stream_gives_null_statistics_not_zero(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "runs", targets=("openai/gpt-4-turbo",), n=4)
    frame = load_results(run)
    frame["ttft_ms"] = np.nan  # as a run that did not stream
    frame["itl_ms"] = [[] for _ in range(len(frame))]
    result = vllm_results(frame, read_run_meta(run))[0][1]
    assert result["mean_ttft_ms"] is None and result["p99_itl_ms"] is None and result["mean_tpot_ms"] is None
    assert result["ttfts"] == [0.0] * 4 and result["mean_e2el_ms"] > 0


def test_colliding_slugs_get_distinct_files(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path / "runs", n=3, targets=({"provider": "groq", "model": "m", "label": "a/b"}, {"provider": "groq", "model": "m", "label": "a-b"})
    )  # fmt: skip
    results = vllm_results(load_results(run), read_run_meta(run))
    date = results[0][1]["date"]
    assert [name for name, _ in results] == [
        f"openai-chat-infqps-concurrency1-m-{date}-a-b.json",
        f"openai-chat-infqps-concurrency1-m-{date}-a-b-2.json",
    ]


def test_cli_vllm_export(cli, tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "runs", n=3, targets=("groq/openai/gpt-oss-120b",), levels=(1, 8))
    out = tmp_path / "out"
    code, stdout, err = cli("export", str(run), "--format", "vllm", "--out", str(out), "--metric-percentiles", "50,99")
    assert code == 0, err
    date = _read_date(run)
    names = [f"openai-chat-infqps-concurrency{c}-gpt-oss-120b-{date}-groq-openai-gpt-oss-120b.json" for c in (1, 8)]
    assert stdout.splitlines() == [f"wrote {out / n}" for n in names]
    assert "p50_e2el_ms" in _read(out / names[0]) and _read(out / names[1])["max_concurrency"] == 8
    # Exporting again refreshes its own files; a file it did not write is left alone.
    assert cli("export", str(run), "--format", "vllm", "--out", str(out))[0] == 0
    (out / "keep").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / names[0]).write_text("{}")
    code, _, err = cli("export", str(run), "--format", "vllm", "--out", str(other))
    assert code == 2 and "was not written by bench export" in err
    code, _, err = cli("export", str(run), "--format", "vllm", "--metric-percentiles", "fast")
    assert code == 2 and "--metric-percentiles" in err


def test_a_run_without_measured_requests_has_nothing_to_write(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "runs", n=0, warmup=2, targets=("groq/openai/gpt-oss-120b",))
    with pytest.raises(BenchError, match="no measured requests"):
        export_run(run, "vllm", tmp_path / "out")


def _read_date(run: Path) -> str:
    return vllm_results(load_results(run), read_run_meta(run))[0][1]["date"]


def _concurrency_as_vllm(result: dict[str, Any]) -> int:
    """vllm/benchmarks/serve.py (vllm 0.34.0), calculate_metrics: the per-second count, as vLLM loops."""
    ok = [i for i, error in enumerate(result["errors"]) if not error]
    start, latency = result["start_times"], result["latencies"]
    first = min(start[i] for i in ok)
    buckets = np.zeros(int(np.ceil(max(start[i] + latency[i] for i in ok) - first)) + 1)
    for i in ok:
        for second in range(int(start[i] - first), int(start[i] + latency[i] - first) + 1):
            buckets[second] += 1
    return int(buckets.max())


def _peaks_as_vllm(start: np.ndarray, ttft: np.ndarray, latency: np.ndarray, itl_ms: list[list[float]]) -> tuple[float, int]:
    """vllm/benchmarks/serve.py (vllm 0.34.0), calculate_metrics: vLLM's own loops, for the
    vectorised version to agree with."""
    idx = [i for i in range(len(start)) if np.isfinite(start[i]) and np.isfinite(latency[i])]
    first = min(start[i] for i in idx)
    buckets = np.zeros(int(np.ceil(max(start[i] + latency[i] for i in idx) - first)) + 1)
    concurrent = np.zeros(len(buckets))
    for i in idx:
        for second in range(int(start[i] - first), int(start[i] + latency[i] - first) + 1):
            concurrent[second] += 1
        if not np.isfinite(ttft[i]):
            continue
        t = start[i] + ttft[i]
        times = [t]
        for gap in itl_ms[i]:
            t += gap / 1000
            times.append(t)
        for x in times:
            if 0 <= int(x - first) < len(buckets):
                buckets[int(x - first)] += 1
    return float(buckets.max()), int(concurrent.max())


def test_peak_tokens_and_concurrency_agree_with_vllms_loops() -> None:
    from bench.report.export.vllm import _peaks

    rng = np.random.default_rng(7)
    n = 300
    start, ttft = rng.uniform(0, 6, n), rng.uniform(0.01, 0.3, n)
    gaps = [list(rng.uniform(1, 30, rng.integers(0, 40))) for _ in range(n)]
    latency = ttft + np.array([sum(g) / 1000 for g in gaps]) + 0.001
    start[3], ttft[5] = np.nan, np.nan  # a failed request; a request that never streamed
    itl = np.empty(n, dtype=object)
    itl[:] = gaps
    assert _peaks(start, ttft, latency, itl) == _peaks_as_vllm(start, ttft, latency, gaps)


def test_concurrency_counts_every_request_active_in_a_second_as_vllm_does() -> None:
    from bench.report.export.vllm import _peaks

    # Five requests one after another within one second: never two in flight at once, but all
    # five active in second 0 (vllm/benchmarks/serve.py, calculate_metrics: 5, where the
    # instant peak is 1). A request over a second boundary counts in both seconds.
    start = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.5])
    latency = np.array([0.19, 0.19, 0.19, 0.19, 0.3, 0.2])
    ttft = np.full(6, 0.05)
    itl = np.empty(6, dtype=object)
    itl[:] = [[] for _ in range(6)]
    assert _peaks(start, ttft, latency, itl)[1] == 5
    assert _peaks_as_vllm(start, ttft, latency, [[]] * 6)[1] == 5
    assert _peaks(start[4:], ttft[4:], latency[4:], itl[4:])[1] == 2  # [0.8, 1.1) and [1.5, 1.7): both in second 1
