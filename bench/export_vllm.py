"""``bench export RUN --format vllm``: the result JSON of ``vllm bench serve --save-result``.

Tools built around vLLM's serving benchmark (its comparison scripts, dashboards, notebooks)
read that file by key. vLLM writes one file per run of one model at one request rate or
concurrency, so bench writes one per (target, load level):
``vllm-<target slug>-<concurrency|rate>-<level>.json``.

The keys, their order and their units are those of vLLM's ``vllm/benchmarks/serve.py``
(``main_async`` and ``benchmark``; vllm-project/vllm at 009e6d4a) with ``--save-result
--save-detailed --percentile-metrics ttft,tpot,itl,e2el``; ``--metric-percentiles`` is
``percentiles`` here (vLLM's default: 99). Summary latencies are in milliseconds
(``*_ms``); per-request lists (``ttfts``, ``itls``, ``latencies``, ``start_times``,
``queue_times``) are in **seconds**, as vLLM writes them. Statistics follow vLLM's
definitions over successful requests: numpy mean, median, population std (ddof 0) and
linear percentiles; ``tpot`` is vLLM's ``(latency − ttft) / (output tokens − 1)`` per request
with more than one output token (not bench's ``tpot_ms``); ``itl`` pools every gap;
throughputs divide by ``duration``.

What is empty or approximated, because bench measures differently:

* ``generated_texts``: one empty string per request (bench does not keep response texts).
* ``tokenizer_id``: null (bench counts tokens from the provider's usage, not a tokenizer).
* ``input_lens`` / ``output_lens``: the provider's usage counts (``input_tokens``,
  ``output_tokens``; 0 where a request has none, as vLLM gives a failed request 0 output).
* ``duration``: bench's measured window (first measured request's start to the last one's
  end), not vLLM's wall time around the whole batch.
* ``start_times``: wall-clock seconds since the Unix epoch (vLLM: its own perf_counter).
* ``queue_times``: open loop, how late each request started after it was due
  (``start_lag_ms``); closed loop, 0 (bench's streams never wait for a slot).
* ``request_rate``: the level in open loop; ``"inf"`` in closed loop, where
  ``max_concurrency`` is the level (vLLM's way of saying "N streams, no rate limit").
  ``burstiness`` 1.0: bench's arrivals are Poisson.
* ``request_goodput``: bench's goodput (requests meeting every per-request SLO of the
  scenario ÷ duration), null without per-request SLOs, as in vLLM without ``--goodput``.
* ``endpoint_type`` / ``backend``: ``openai-chat`` for chat-completions providers (Groq,
  OpenAI, OpenAI-compatible); ``anthropic-messages`` (not a vLLM backend) for Anthropic.
* ``rtfx``: 0.0 (audio only).
* A statistic without data (e.g. TTFT of a run that did not stream) is null, where vLLM
  writes 0; a missing per-request value (a failed request's TTFT) is null, where vLLM
  writes 0.0.

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
import pandas as pd

from bench.fmt import target_name
from bench.metrics import group_positions, measured, pooled_itl, request_meets
from bench.run_file import RunMeta
from bench.slo import slo_for_scenario

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


def _level_text(level: float) -> str:
    return f"{level:g}".replace("+", "")


def _num(value: float) -> float | None:
    """A JSON number, or null for NaN (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _nums(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else v for v in np.asarray(values, dtype="float64").tolist()]


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
    """vLLM's ``max_output_tokens_per_s`` and ``max_concurrent_requests``.

    ``itl_ms`` holds each request's gaps (ms), or is the pair :func:`_gaps_s` returns.
    Requests whose start or latency is NaN (the caller blanks failed ones) are left out.
    Tokens: one at first content (start + ttft) and one after each gap, counted in 1-second
    buckets from the first start; the busiest bucket. Concurrency: the most requests in
    flight at once, over half-open intervals [start, start + latency).
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
    starts, stops = start_s[ok], start_s[ok] + e2e_s[ok]
    # Departures before arrivals at the same instant (half-open intervals), as vLLM sorts them.
    when = np.concatenate((starts, stops))
    delta = np.concatenate((np.ones(starts.size, np.int64), -np.ones(stops.size, np.int64)))
    order = np.lexsort((delta, when))
    peak = int(np.cumsum(delta[order]).max())
    return max_tokens, max(peak, 0)


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
    slo = slo_for_scenario(meta.scenario).for_target(target)
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
        "label": target_name(target, None if pd.isna(first["client"]) else str(first["client"])),
        "model_id": str(first["model"]),
        "tokenizer_id": None,
        "num_prompts": int(len(rows)),
        "request_rate": level if mode == "rate" else "inf",
        "burstiness": 1.0,
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
        "ttfts": _nums(ttft_s),
        "itls": itls_s,
        "latencies": _nums(e2e_s),
        "start_times": _nums(start_s),
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


def vllm_results(
    frame: pd.DataFrame, meta: RunMeta, *, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> list[tuple[str, dict[str, Any]]]:
    """(file name, result dict) per (target, level) of measured requests, in order of appearance.

    File names are ``vllm-<target slug>-<mode>-<level>.json`` (the slug ends in ``-sdk`` for a
    group the SDK path measured); two targets whose slugs
    collide get ``-2``, ``-3`` … after the slug.
    """
    m = measured(frame)
    out: list[tuple[str, dict[str, Any]]] = []
    slugs: dict[str, str] = {}
    for (target, mode, level, client), idx in group_positions(m):
        shown = target_name(target, client)
        if shown not in slugs:
            base = _slug(shown)
            slug, n = base, 1
            while slug in slugs.values():
                n += 1
                slug = f"{base}-{n}"
            slugs[shown] = slug
        name = f"vllm-{slugs[shown]}-{mode}-{_level_text(level)}.json"
        out.append((name, vllm_result(m.iloc[idx], meta, percentiles=percentiles)))
    return out


def write_result(result: Mapping[str, Any], path: Path) -> None:
    """One result file: plain UTF-8 JSON (orjson), NaN as null."""
    import orjson

    path.write_bytes(orjson.dumps(dict(result), option=orjson.OPT_SERIALIZE_NUMPY))
