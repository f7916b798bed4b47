"""``bench export RUN --format vllm``: the result JSON of ``vllm bench serve --save-result``.

Tools built around vLLM's serving benchmark (its comparison scripts, dashboards, notebooks)
read that file by key. vLLM writes one file per run of one model at one request rate or
concurrency, so bench writes one per group of measured requests (target and load level),
named as vLLM names its own (``compute_result_filename``) with bench's group after it, so no
two groups' files collide: ``{backend}-{rate}qps[-concurrency{N}]-{model}-{date}-{group}.json``
(``rate`` is ``inf`` in closed loop, ``model`` the model id after its last ``/``, ``date``
the run's start, ``group`` the target label's slug and any other grouping value).

The keys, their order, their units and the rules of the figures are those of vLLM 0.34.0's
``vllm/benchmarks/serve.py`` (``main_async``, ``benchmark`` and ``calculate_metrics``) with
``--save-result --save-detailed --percentile-metrics ttft,tpot,itl,e2el``;
``--metric-percentiles`` is ``percentiles`` here (vLLM's default: 99). Summary latencies are
in milliseconds (``*_ms``); per-request lists (``ttfts``, ``itls``, ``latencies``,
``start_times``, ``queue_times``) are in **seconds**, as vLLM writes them, with vLLM's 0.0
where a request has no value (a request that failed before its first token has ``ttft``
0.0, vLLM's default, so ``sum()`` and ``statistics.mean`` work on the lists). Statistics
follow vLLM's definitions over successful requests: numpy mean, median, population std
(ddof 0) and linear percentiles; ``tpot`` is vLLM's ``(latency − ttft) / (output tokens −
1)`` per request with more than one output token (not bench's ``tpot_ms``); ``itl`` pools
every gap; throughputs divide by ``duration``. ``max_output_tokens_per_s`` is the busiest
1-second bucket of token times, and ``max_concurrent_requests`` vLLM's per-second count: the
most successful requests active in one 1-second bucket, a request counting in every bucket
from the one it started in to the one it ended in (so it can exceed the most in flight at
one instant).

What is empty or approximated, because bench measures differently:

* ``generated_texts``: one empty string per request (bench does not keep response texts).
* ``tokenizer_id``: the model id, which is what vLLM records when no ``--tokenizer`` is given;
  bench itself uses no tokenizer (token counts come from the provider's usage, see
  ``token_source`` in ``requests.<ext>``).
* ``input_lens`` / ``output_lens``: the provider's usage counts (``input_tokens``,
  ``output_tokens``; 0 where a request has none, as vLLM gives a failed request 0 output).
* ``duration``: bench's measured window (first measured request's start to the last one's
  end), not vLLM's wall time around the whole batch.
* ``start_times``: wall-clock seconds since the Unix epoch (vLLM: its own perf_counter).
* ``queue_times``: open loop, how late each request started after it was due
  (``start_lag_ms``); closed loop, 0 (bench's streams never wait for a slot).
* ``request_rate``: the level in open loop; ``"inf"`` in closed loop, where
  ``max_concurrency`` is the level (vLLM's way of saying "N streams, no rate limit").
  ``burstiness``: the scenario's ``[load] burstiness`` (1.0, Poisson, unless it set one —
  the same gamma rule as vLLM's); a ``ramp_up_s`` ramp has no field of its own in vLLM's file.
* ``request_goodput``: bench's goodput (requests meeting every per-request SLO of the
  scenario ÷ duration), null without per-request SLOs, as in vLLM without ``--goodput``.
* ``endpoint_type`` / ``backend``: ``openai-chat`` for chat-completions providers (Groq,
  OpenAI, OpenAI-compatible); ``anthropic-messages`` (not a vLLM backend) for Anthropic.
* ``rtfx``: 0.0 (audio only).
* A statistic without data (e.g. TTFT of a run that did not stream) is null, where vLLM
  writes 0 (a 0 ms TTFT would read as a measurement).

Entries of the per-request lists are the level's measured requests (warm-up and cancelled
ones left out) in the order they were sent (``request_index``). The file has no request
ids; join it to server-side traces through ``requests.<ext>`` (same order, same
``target``, ``load_level`` and ``request_index``), whose ``request_id`` is the provider's
id for each request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd

from bench.analysis.metrics import group_positions, measured, pooled_itl, request_meets
from bench.fmt import target_name
from bench.results.run_file import RunMeta
from bench.scenario.slo import slo_for_scenario

#: vLLM's default ``--metric-percentiles``.
DEFAULT_PERCENTILES: Final[tuple[float, ...]] = (99.0,)
#: Metrics summarised as ``mean_/median_/std_/p<N>_<metric>_ms`` (vLLM's ``--percentile-metrics``).
PERCENTILE_METRICS: Final[tuple[str, ...]] = ("ttft", "tpot", "itl", "e2el")

#: Keys before the per-metric statistics, in the order vLLM writes them.
_HEAD_KEYS: Final[tuple[str, ...]] = (
    "date",
    "endpoint_type",
    "backend",
    "label",
    "model_id",
    "tokenizer_id",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "request_goodput",
    "output_throughput",
    "total_token_throughput",
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "latencies",
    "start_times",
    "queue_times",
    "generated_texts",
    "errors",
    "max_output_tokens_per_s",
    "max_concurrent_requests",
    "rtfx",
)

_BACKENDS: Final[dict[str, str]] = {
    "groq": "openai-chat",
    "openai": "openai-chat",
    "openai-compatible": "openai-chat",
    "anthropic": "anthropic-messages",
}


def percentile_key(p: float) -> str:
    """vLLM's spelling of a percentile in a key: ``99`` → ``p99``, ``99.9`` → ``p99.9``."""
    return f"p{int(p)}" if float(p) == int(p) else f"p{p}"


def result_keys(percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> list[str]:
    """Every key of one result file, in order (vLLM's key set for these percentiles)."""
    keys = list(_HEAD_KEYS)
    for metric in PERCENTILE_METRICS:
        keys += [f"mean_{metric}_ms", f"median_{metric}_ms", f"std_{metric}_ms"]
        keys += [f"{percentile_key(p)}_{metric}_ms" for p in percentiles]
    return keys


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.") or "target"


def _num(value: float) -> float | None:
    """A JSON number, or null for NaN (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _per_request(values: np.ndarray) -> list[float]:
    """A per-request list as vLLM writes it: 0.0 where a request has no value (its default)."""
    return np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0, posinf=0.0, neginf=0.0).tolist()


def _stats(values_s: np.ndarray, percentiles: Sequence[float], metric: str) -> dict[str, float | None]:
    """vLLM's summary of one metric: values in seconds in, milliseconds out; null without data."""
    x = np.asarray(values_s, dtype="float64")
    x = x[np.isfinite(x)] * 1000.0
    out: dict[str, float | None] = {}
    if x.size == 0:
        out.update({f"mean_{metric}_ms": None, f"median_{metric}_ms": None, f"std_{metric}_ms": None})
        out.update({f"{percentile_key(p)}_{metric}_ms": None for p in percentiles})
        return out
    out[f"mean_{metric}_ms"] = float(np.mean(x))
    out[f"median_{metric}_ms"] = float(np.median(x))
    out[f"std_{metric}_ms"] = float(np.std(x))
    for p, v in zip(percentiles, np.percentile(x, list(percentiles)), strict=True):
        out[f"{percentile_key(p)}_{metric}_ms"] = float(v)
    return out


def _gaps_s(itl_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every request's gaps in seconds, pooled in request order, and how many each request has."""
    lengths = np.fromiter((len(g) for g in itl_ms), dtype=np.int64, count=len(itl_ms))
    return pooled_itl(itl_ms) / 1000.0, lengths


def _peaks(
    start_s: np.ndarray, ttft_s: np.ndarray, e2e_s: np.ndarray, itl_ms: np.ndarray | tuple[np.ndarray, np.ndarray]
) -> tuple[float, int]:
    """vLLM's ``max_output_tokens_per_s`` and ``max_concurrent_requests`` (``calculate_metrics``).

    ``itl_ms`` holds each request's gaps (ms), or is the pair :func:`_gaps_s` returns.
    Requests whose start or latency is NaN (the caller blanks failed ones) are left out.
    Both count in 1-second buckets from the first start, over
    ``ceil(last end − first start) + 1`` buckets. Tokens: one at first content (start + ttft)
    and one after each gap; the busiest bucket. Concurrency: each request counts in every
    bucket from ``int(start − first)`` to ``int(end − first)``, both included; the fullest
    bucket (vLLM 0.34's rule: a request that ends in a second and one that starts later in
    the same second both count there).
    """
    ok = np.isfinite(start_s) & np.isfinite(e2e_s)
    if not ok.any():
        return 0.0, 0
    origin = float(start_s[ok].min())
    n_buckets = int(np.ceil(float((start_s[ok] + e2e_s[ok]).max()) - origin)) + 1
    timed = ok & np.isfinite(ttft_s)
    first = start_s[timed] + ttft_s[timed] - origin
    all_flat, all_lengths = itl_ms if isinstance(itl_ms, tuple) else _gaps_s(itl_ms)
    flat = all_flat[np.repeat(timed, all_lengths)]
    lengths = all_lengths[timed]
    # Each gap's token time: its request's first token plus the running sum of its gaps.
    running = np.cumsum(flat)
    ends = np.cumsum(lengths)
    before = np.repeat(np.concatenate(([0.0], running))[ends - lengths], lengths)
    times = np.concatenate((first, np.repeat(first, lengths) + running - before))
    buckets = times[np.isfinite(times)].astype(np.int64)
    buckets = buckets[(buckets >= 0) & (buckets < n_buckets)]
    max_tokens = float(np.bincount(buckets, minlength=n_buckets).max()) if buckets.size else 0.0
    # Occupied buckets per request: +1 at its first bucket, -1 after its last, then a running sum.
    first_bucket = (start_s[ok] - origin).astype(np.int64)
    last_bucket = np.minimum((start_s[ok] + e2e_s[ok] - origin).astype(np.int64), n_buckets - 1)
    change = np.zeros(n_buckets + 1, dtype=np.int64)
    np.add.at(change, first_bucket, 1)
    np.add.at(change, last_bucket + 1, -1)
    return max_tokens, int(np.cumsum(change)[:n_buckets].max())


def _burstiness(meta: RunMeta) -> float:
    """The run's arrival shape (runs written before it could be set were Poisson: 1.0)."""
    load = meta.scenario.get("load") if isinstance(meta.scenario, dict) else None
    value = load.get("burstiness") if isinstance(load, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 1.0


def _date(meta: RunMeta, start_ns: np.ndarray) -> str:
    """vLLM's ``%Y%m%d-%H%M%S`` of when the run started (UTC)."""
    started = meta.started_at
    if started is not None:
        try:
            when = datetime.fromisoformat(started)
            return when.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
        except ValueError:
            pass
    valid = start_ns[start_ns > 0]
    when = datetime.fromtimestamp(float(valid.min()) / 1e9, tz=UTC) if valid.size else datetime.now(UTC)
    return when.strftime("%Y%m%d-%H%M%S")


def vllm_result(
    rows: pd.DataFrame,
    meta: RunMeta,
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> dict[str, Any]:
    """vLLM's result dict for the measured requests of one (target, level), keys in vLLM's order.

    ``rows`` are those requests (any order: they are put in send order); ``meta`` is the run's
    run.json (date, scenario SLOs for goodput). Units as vLLM: lists in seconds, ``*_ms`` in ms.
    """
    rows = rows.sort_values("request_index", kind="stable")
    first = rows.iloc[0]
    target, mode, level = str(first["target"]), str(first["load_mode"]), float(first["load_level"])
    ok = (rows["status"] == "ok").to_numpy(dtype=bool, na_value=False)

    def col(name: str) -> np.ndarray:
        return rows[name].to_numpy(dtype="float64", na_value=np.nan)

    ttft_s, e2e_s = col("ttft_ms") / 1000.0, col("e2e_ms") / 1000.0
    inputs, outputs = col("input_tokens"), col("output_tokens")
    input_lens = np.nan_to_num(inputs, nan=0.0).astype(np.int64)
    output_lens = np.where(ok, np.nan_to_num(outputs, nan=0.0), 0.0).astype(np.int64)
    start_ns = rows["started_at_ns"].to_numpy(dtype="int64")
    start_s = np.where(start_ns > 0, start_ns / 1e9, np.nan)
    lag_s = np.nan_to_num(col("start_lag_ms"), nan=0.0) / 1000.0
    flat_s, lengths = _gaps_s(rows["itl_ms"].to_numpy(dtype=object))
    bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
    flat_list = flat_s.tolist()
    itls_s = [flat_list[a:b] for a, b in pairwise(bounds)]

    # bench's measured window (as metrics.aggregate's window_s): first start to last end.
    ends = (start_ns - int(start_ns.min())).astype("float64") + np.nan_to_num(col("e2e_ms"), nan=0.0) * 1e6
    window = float(ends.max()) / 1e9
    duration = window if window > 0 else math.nan

    completed = int(ok.sum())
    total_input = int(input_lens[ok].sum())
    total_output = int(output_lens.sum())
    shape = first["shape"] if "shape" in rows.columns and isinstance(first["shape"], str) else ""
    # The group's own rules: a [slo.class.NAME] covering its request shape replaces the scenario's.
    slo = slo_for_scenario(meta.scenario).for_group(target, shape)
    goodput = int(request_meets(rows, slo).sum()) / duration if slo.per_request and duration > 0 else None

    provider = str(first["provider"]) if pd.notna(first["provider"]) else ""
    backend = _BACKENDS.get(provider, "openai-chat")
    errors = [
        "" if is_ok else ": ".join(str(v) for v in (kind, msg) if isinstance(v, str) and v)
        for is_ok, kind, msg in zip(ok, rows["error_kind"].astype("object"), rows["error_message"].astype("object"), strict=True)
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot_s = np.where(ok & (outputs > 1), (e2e_s - ttft_s) / (outputs - 1), np.nan)
    max_tokens, max_concurrent = _peaks(np.where(ok, start_s, np.nan), ttft_s, np.where(ok, e2e_s, np.nan), (flat_s, lengths))

    result: dict[str, Any] = {
        "date": _date(meta, start_ns),
        "endpoint_type": backend,
        "backend": backend,
        # Two shapes of one target are two results: the label tells them apart, as the file name does.
        "label": target_name(target, None if pd.isna(first["client"]) else str(first["client"]))
        + (f" · {shape}" if shape else ""),
        "model_id": str(first["model"]),
        "tokenizer_id": str(first["model"]),
        "num_prompts": int(len(rows)),
        "request_rate": level if mode == "rate" else "inf",
        "burstiness": _burstiness(meta),
        "max_concurrency": int(level) if mode == "concurrency" else None,
        "duration": _num(duration),
        "completed": completed,
        "failed": int(len(rows)) - completed,
        "total_input_tokens": total_input,
        "total_output_tokens": total_output,
        "request_throughput": _num(completed / duration),
        "request_goodput": _num(goodput) if goodput is not None else None,
        "output_throughput": _num(total_output / duration),
        "total_token_throughput": _num((total_input + total_output) / duration),
        "input_lens": input_lens.tolist(),
        "output_lens": output_lens.tolist(),
        "ttfts": _per_request(ttft_s),
        "itls": itls_s,
        "latencies": _per_request(e2e_s),
        "start_times": _per_request(start_s),
        "queue_times": lag_s.tolist(),
        "generated_texts": [""] * len(rows),
        "errors": errors,
        "max_output_tokens_per_s": max_tokens,
        "max_concurrent_requests": max_concurrent,
        "rtfx": 0.0,
    }
    itl_pool = flat_s[np.repeat(ok, lengths)]
    samples = {"ttft": ttft_s[ok], "tpot": tpot_s[ok], "itl": itl_pool, "e2el": e2e_s[ok]}
    for metric in PERCENTILE_METRICS:
        result.update(_stats(samples[metric], percentiles, metric))
    return result


def result_file_name(result: Mapping[str, Any], group: Sequence[str]) -> str:
    """vLLM's file name for a result (``compute_result_filename``), bench's group after it.

    ``{backend}-{request_rate}qps[-concurrency{N}]-{model after its last /}-{date}``, then
    ``-{group}`` (slugs of the target label and any other grouping value), ``.json``.
    """
    rate = result["request_rate"]
    concurrency = f"-concurrency{result['max_concurrency']}" if result["max_concurrency"] is not None else ""
    model = _slug(str(result["model_id"]).split("/")[-1])
    rate_text = "inf" if rate == "inf" else str(float(rate))
    tail = "-".join(_slug(part) for part in group if part)
    return f"{result['backend']}-{rate_text}qps{concurrency}-{model}-{result['date']}" + (f"-{tail}" if tail else "") + ".json"


def vllm_results(
    frame: pd.DataFrame, meta: RunMeta, *, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> list[tuple[str, dict[str, Any]]]:
    """(file name, result dict) per group of measured requests, in order of appearance.

    File names follow vLLM's pattern with bench's group appended (:func:`result_file_name`):
    the target label's slug, then any grouping value beyond target and load level. Two
    groups whose names would still collide (labels that slug alike) get ``-2``, ``-3`` ….
    """
    m = measured(frame)
    out: list[tuple[str, dict[str, Any]]] = []
    used: set[str] = set()
    for key, idx in group_positions(m):
        result = vllm_result(m.iloc[idx], meta, percentiles=percentiles)
        # The group's name (``target (sdk)`` for the SDK path), then values past the client.
        extra = [key.name, *(str(v) for v in tuple(key)[4:])]
        name = result_file_name(result, extra)
        n = 1
        while name in used:
            n += 1
            name = result_file_name(result, [*extra, str(n)])
        used.add(name)
        out.append((name, result))
    return out


def write_result(result: Mapping[str, Any], path: Path) -> None:
    """One result file: plain UTF-8 JSON (orjson), NaN as null."""

    path.write_bytes(orjson.dumps(dict(result), option=orjson.OPT_SERIALIZE_NUMPY))
