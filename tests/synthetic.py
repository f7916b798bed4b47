"""Realistic synthetic run directories for tests and benchmarks (no network, no emulator).

``write_synthetic_run`` writes ``run.json`` and ``requests.jsonl`` exactly as the runner does
(``write_run_meta`` + ``ResultsWriter``), so everything that reads results — metrics,
reports, export, the CI gate — can be tested against a run with known properties:

* per-provider latency profiles close to the seed's table (Groq ~75 ms first token and
  ~500 tokens/s; OpenAI ~250 ms and ~75 tokens/s; Anthropic ~350 ms and ~60 tokens/s),
  slowing down as the load level rises;
* reasoning models (``gpt-oss``, ``qwen3``, ``reason`` in the model id) stream reasoning
  first, so ``ttfa_ms`` > ``ttft_ms`` and ``reasoning_tokens`` is set;
* Groq rows carry server timings (``queue_ms``, ``prompt_ms``, ``completion_ms``,
  ``server_output_tps``);
* warm-up rows first in every level, flagged ``warmup``;
* ``error_share`` of measured requests fail with a rotating error kind;
* ``load_mode="rate"`` gives open-loop rows with ``scheduled_ms`` and ``start_lag_ms``;
* ``shape`` labels every row with a request shape (``"input 2000, warm"``; several: every
  target × level once per shape): an input rung sets the prompt length and adds its prefill
  at :data:`PREFILL_TOKENS_PER_S`; ``warm`` serves :data:`WARM_CACHED` of it from cache
  (only the rest is prefilled), ``cold`` none.

Everything is derived from ``seed``: the same arguments give the same bytes.

Use from a test (``tests`` is a package, so the repository root is on ``sys.path``)::

    from tests.synthetic import write_synthetic_run
    run_dir = write_synthetic_run(tmp_path, n=20, levels=(1, 4))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.results.records import PARQUET_FILE, REQUESTS_FILE, RequestRecord, ResultsWriter
from bench.results.run_file import write_run_meta
from bench.scenario.shapes import parse as parse_shape
from bench.schema import COLUMNS

DEFAULT_TARGETS: tuple[str, ...] = (
    "groq/llama-3.3-70b-versatile",
    "openai/gpt-4-turbo",
    "anthropic/claude-sonnet-5-5",
)

#: Median first token (ms), median tokens/s, TTFT spread (lognormal sigma) per provider.
PROFILES: dict[str, tuple[float, float, float]] = {
    "groq": (75.0, 520.0, 0.20),
    "openai": (250.0, 75.0, 0.25),
    "anthropic": (350.0, 60.0, 0.25),
    "openai-compatible": (120.0, 150.0, 0.20),
}

#: Errors cycle through these kinds, with a plausible HTTP status (None: no response).
ERROR_CYCLE: tuple[tuple[str, int | None, str], ...] = (
    ("rate_limited", 429, "Error code: 429 - rate limit reached for requests"),
    ("server_error", 500, "Error code: 500 - internal server error"),
    ("stream_interrupted", 200, "stream ended before the final event"),
    ("timeout", None, "no response within 60 s"),
)

#: Prefill speed of every synthetic target when a shape names an input rung (tokens/s), and the
#: share of a warm prompt served from cache.
PREFILL_TOKENS_PER_S = 20_000.0
WARM_CACHED = 0.75

#: 2026-09-25T10:00:00Z: a fixed wall clock so output never depends on when a test ran.
BASE_WALL_NS = 1_790_330_400 * 1_000_000_000


def _parse_target(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, str):
        provider, _, model = spec.partition("/")
        return {"label": spec, "provider": provider, "model": model or "model", "base_url": None}
    provider = str(spec["provider"])
    model = str(spec.get("model", "model"))
    return {
        "label": str(spec.get("label") or f"{provider}/{model}"),
        "provider": provider,
        "model": model,
        "base_url": spec.get("base_url"),
    }


def _is_reasoning(model: str) -> bool:
    return any(word in model for word in ("gpt-oss", "qwen3", "reason"))


def synthetic_frame(
    *,
    run_id: str = "20260925-100000-synthetic-0000",
    targets: Sequence[str | Mapping[str, Any]] = DEFAULT_TARGETS,
    levels: Sequence[float] = (1,),
    n: int = 50,
    seed: int = 0,
    error_share: float = 0.0,
    ttft_scale: float = 1.0,
    tps_scale: float = 1.0,
    load_mode: str = "concurrency",
    warmup: int = 2,
    max_tokens: int = 128,
    timeout_s: float = 60.0,
    itl_as_arrays: bool = False,
    client: str = "fast",
    started_ns: int = BASE_WALL_NS,
    shape: str = "",
) -> pd.DataFrame:
    """The per-request frame (schema columns, schema order), vectorised so a million rows is quick.

    ``itl_as_arrays`` leaves ``itl_ms`` as numpy arrays (cheaper for Parquet at scale);
    ``client`` is the client path every row names.
    ``started_ns`` is the wall clock of the first request (weekly runs for a trend differ in it).
    """
    rng = np.random.default_rng(seed)
    parts: list[dict[str, Any]] = []
    parts_of_shape = parse_shape(shape)
    rung = parts_of_shape.input_range[0] if parts_of_shape.input_range else None
    prompt_tokens = float(rung) if rung is not None else 128.0
    cached_tokens = (
        prompt_tokens * WARM_CACHED if parts_of_shape.cache == "warm" else 0.0 if parts_of_shape.cache == "cold" else np.nan
    )
    prefill_ms = (prompt_tokens - np.nan_to_num(cached_tokens)) * 1000.0 / PREFILL_TOKENS_PER_S if rung is not None else 0.0
    wall_ns = started_ns
    for target in map(_parse_target, targets):
        ttft_med, tps_med, sigma = PROFILES.get(target["provider"], PROFILES["openai-compatible"])
        reasoning = _is_reasoning(target["model"])
        for level in levels:
            level = float(level)
            m = warmup + n
            is_warm = np.arange(m) < warmup
            # Load slows first tokens and streams a little (queueing on the provider's side).
            slowdown = 1.0 + 0.04 * (level - 1.0)
            ttft = ttft_med * ttft_scale * slowdown * rng.lognormal(0.0, sigma, m)
            ttft = np.where(is_warm, ttft * 1.6, ttft) + prefill_ms
            tps = np.clip(rng.normal(tps_med * tps_scale / math.sqrt(slowdown), tps_med * tps_scale * 0.08, m), 1.0, None)
            tokens = rng.integers(max(2, max_tokens // 2), max_tokens + 1, m)
            reasoning_tokens = rng.integers(20, 61, m) if reasoning else np.zeros(m, dtype=np.int64)
            # Anthropic streams a few tokens per event; the others one per chunk.
            chunks = np.ceil(tokens / 3).astype(np.int64) if target["provider"] == "anthropic" else tokens.copy()
            chunks = np.maximum(chunks, 2)
            stream_ms = tokens * (1.0 - 1.0 / chunks) / tps * 1000.0
            output_tps = tokens * (1.0 - 1.0 / chunks) / (stream_ms / 1000.0)
            ttfa = ttft + (reasoning_tokens / tps * 1000.0 if reasoning else 0.0)
            tail_ms = rng.uniform(0.5, 3.0, m)
            e2e = ttft + stream_ms + tail_ms
            ttfb = ttft * rng.uniform(0.55, 0.95, m)

            # Errors among measured rows only, cycling through kinds for a predictable mix.
            status = np.full(m, "ok", dtype=object)
            error_kind = np.full(m, None, dtype=object)
            error_message = np.full(m, None, dtype=object)
            http_status = np.full(m, 200.0)
            n_err = int(round(error_share * n))
            if n_err:
                err_rows = warmup + np.sort(rng.choice(n, n_err, replace=False))
                for j, row in enumerate(err_rows):
                    kind, code, message = ERROR_CYCLE[j % len(ERROR_CYCLE)]
                    status[row] = "error"
                    error_kind[row] = kind
                    error_message[row] = message
                    http_status[row] = np.nan if code is None else code
            bad = status == "error"
            no_response = np.isin(error_kind, ["rate_limited", "server_error", "timeout"])
            cut = error_kind == "stream_interrupted"
            e2e = np.where(error_kind == "timeout", timeout_s * 1000.0, e2e)
            e2e = np.where(np.isin(error_kind, ["rate_limited", "server_error"]), ttfb, e2e)
            e2e = np.where(cut, ttft + stream_ms * 0.4, e2e)
            ttft = np.where(no_response, np.nan, ttft)
            ttfa = np.where(no_response, np.nan, ttfa)
            ttfb = np.where(error_kind == "timeout", np.nan, ttfb)
            output_tps = np.where(bad, np.nan, output_tps)
            tokens_f = np.where(bad, np.nan, tokens.astype(float))
            chunks = np.where(bad, np.where(cut, chunks // 3, 0), chunks)

            # Start times: closed loop fills ``level`` slots back to back; open loop is Poisson.
            scheduled = np.full(m, np.nan)
            start_lag = np.full(m, np.nan)
            if load_mode == "rate":
                scheduled = np.cumsum(rng.exponential(1000.0 / level, m))
                start_lag = rng.exponential(0.3, m)
                start_ms = scheduled + start_lag
            else:
                slots = max(1, int(level))
                start_ms = np.zeros(m)
                for slot in range(slots):
                    idx = np.arange(slot, m, slots)
                    start_ms[idx] = np.concatenate(([0.0], np.cumsum(e2e[idx] + 0.2)[:-1]))
            started_ns = wall_ns + (start_ms * 1e6).astype(np.int64)
            wall_ns = int(started_ns.max() + np.nanmax(e2e) * 1e6) + 1_000_000_000

            # Inter-content-event gaps: ``chunks - 1`` per request summing to the stream time.
            n_gaps = np.where(bad, np.maximum(chunks - 1, 0), chunks - 1)
            raw = rng.exponential(1.0, int(n_gaps.sum()))
            offsets = np.concatenate(([0], np.cumsum(n_gaps)))
            sums = np.add.reduceat(np.append(raw, 0.0), offsets[:-1])
            sums = np.where(n_gaps > 0, sums, 1.0)
            span = np.where(cut, stream_ms * 0.4, stream_ms)
            scale = np.repeat(span / sums, n_gaps)
            gaps = np.round(raw * scale, 4)
            itl = np.split(gaps, offsets[1:-1]) if m > 1 else [gaps]
            if not itl_as_arrays:
                itl = [a.tolist() for a in itl]

            groq = target["provider"] == "groq"
            queue = np.where(bad, np.nan, rng.exponential(2.0, m)) if groq else np.full(m, np.nan)
            prompt = np.where(bad, np.nan, rng.uniform(3.0, 8.0, m)) if groq else np.full(m, np.nan)
            server_tps = tps * 1.12
            completion = np.where(bad, np.nan, tokens / server_tps * 1000.0) if groq else np.full(m, np.nan)
            server_out = np.where(bad, np.nan, server_tps) if groq else np.full(m, np.nan)

            tpot = 1000.0 / output_tps
            parts.append(
                {
                    "run_id": np.full(m, run_id, dtype=object),
                    "target": np.full(m, target["label"], dtype=object),
                    "provider": np.full(m, target["provider"], dtype=object),
                    "model": np.full(m, target["model"], dtype=object),
                    "load_mode": np.full(m, load_mode, dtype=object),
                    "load_level": np.full(m, level),
                    "request_index": np.arange(m),
                    "warmup": is_warm,
                    "stream": np.ones(m, dtype=bool),
                    "client": np.full(m, client, dtype=object),
                    "shape": np.full(m, shape, dtype=object),
                    "status": status,
                    "error_kind": error_kind,
                    "error_message": error_message,
                    "http_status": http_status,
                    "retries": np.zeros(m, dtype=np.int64),
                    "started_at_ns": started_ns,
                    "sdk_prep_ms": np.round(rng.normal(2.4, 0.3, m), 4),
                    "ttfb_ms": ttfb,
                    "ttft_ms": ttft,
                    "ttfa_ms": ttfa,
                    "e2e_ms": e2e,
                    "output_tokens": tokens_f,
                    "reasoning_tokens": np.where(bad, np.nan, reasoning_tokens) if reasoning else np.full(m, np.nan),
                    "input_tokens": np.full(m, prompt_tokens),
                    "cached_input_tokens": np.full(m, cached_tokens),
                    "cache_write_input_tokens": np.full(m, np.nan),
                    "token_source": np.where(bad, "none", "usage").astype(object),
                    "content_chunks": chunks.astype(np.int64),
                    "tool_call_chunks": np.zeros(m, dtype=np.int64),
                    "itl_ms": itl,
                    "output_tps": output_tps,
                    "tpot_ms": tpot,
                    "response_100_ms": ttfa + 100.0 * tpot,
                    "finish_reason": np.where(bad, None, np.where(tokens >= max_tokens, "length", "stop")).astype(object),
                    "request_id": np.array([f"req_{seed:x}_{len(parts):02x}_{i:06x}" for i in range(m)], dtype=object),
                    "queue_ms": queue,
                    "prompt_ms": prompt,
                    "completion_ms": completion,
                    "server_output_tps": server_out,
                    "scheduled_ms": scheduled,
                    "start_lag_ms": start_lag,
                    "input_tokens_asked": np.full(m, prompt_tokens),
                    "max_tokens_asked": np.full(m, float(max_tokens)),
                    "conversation": np.full(m, np.nan),
                    "turn": np.full(m, np.nan),
                    "worker": np.zeros(m, dtype=np.int64),
                }
            )
    columns: dict[str, Any] = {}
    for name in COLUMNS:
        if name == "itl_ms":
            columns[name] = [x for p in parts for x in p[name]]
        else:
            columns[name] = np.concatenate([p[name] for p in parts]) if parts else []
    frame = pd.DataFrame(columns, columns=list(COLUMNS))
    for name, dtype in COLUMNS.items():
        if dtype == "float64":
            frame[name] = frame[name].astype("float64")
    return frame


def run_meta(
    *,
    run_id: str,
    targets: Sequence[str | Mapping[str, Any]],
    levels: Sequence[float],
    n: int,
    emulated: bool,
    slo: Mapping[str, float] | None,
    load_mode: str,
    warmup: int,
    max_tokens: int,
    scenario_name: str,
    ended_ns: int,
    client: str = "fast",
    started_ns: int = BASE_WALL_NS,
) -> dict[str, Any]:
    """run.json as the runner writes it (README.md, "Results"), with fixed versions and host."""

    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "run_id": run_id,
        "scenario_name": scenario_name,
        "scenario_description": "Synthetic short chat turns, streaming",
        "scenario_path": f"scenarios/{scenario_name}.toml",
        "scenario": {
            "name": scenario_name,
            "description": "Synthetic short chat turns, streaming",
            "targets": [_parse_target(t) for t in targets],
            "request": {"stream": True, "max_tokens": max_tokens, "temperature": 0.0, "max_retries": 0},
            "prompts": {"source": "synthetic", "input_tokens": 128, "seed": 42},
            "load": {
                "mode": load_mode,
                "levels": [float(x) for x in levels],
                "requests": n,
                "warmup": warmup,
                "timeout_s": 60.0,
            },
            "slo": dict(slo or {}),
        },
        "fingerprint": f"0123456789abcdef+{client}",
        "emulated": emulated,
        "started_at": iso(started_ns),
        "ended_at": iso(ended_ns),
        "finished": True,
        "interrupted": False,
        "versions": {
            "bench": "0.1.0",
            "python": "3.11.9",
            "openai": "3.57.0",
            "anthropic": "2.13.0",
            "groq": "1.7.2",
            "httpx": "0.28.1",
            "httpx2": "2.16.0",
        },
        "host": {"hostname": "bench-host", "platform": "Linux-6.8-x86_64", "machine": "x86_64", "cpu_count": 2},
        "git_revision": "0000000000000000000000000000000000000000",
        "client": client,
        "prompts_unique": True,
        "prompt_note": "every request's prompt starts with a unique seeded prefix",
        "overhead": {"sdk_prep_ms_p50": 2.4, "sdk_prep_ms_p99": 3.1, "start_lag_ms_p99": 0.9},
    }


def write_synthetic_run(
    root: Path,
    *,
    run_id: str = "20260925-100000-synthetic-0000",
    targets: Sequence[str | Mapping[str, Any]] = DEFAULT_TARGETS,
    levels: Sequence[float] = (1,),
    n: int = 50,
    seed: int = 0,
    emulated: bool = True,
    error_share: float = 0.0,
    ttft_scale: float = 1.0,
    tps_scale: float = 1.0,
    slo: Mapping[str, float] | None = None,
    load_mode: str = "concurrency",
    warmup: int = 2,
    max_tokens: int = 128,
    scenario_name: str = "synthetic",
    parquet: bool = False,
    client: str | Sequence[str] = "fast",
    sdk_ttft_scale: float = 1.0,
    started_ns: int = BASE_WALL_NS,
    shape: str | Sequence[str] = "",
) -> Path:
    """Write ``root/run_id/{run.json,requests.jsonl}`` and return the run directory.

    ``n`` measured requests (plus ``warmup`` warm-up rows) per target × level.
    ``error_share`` of measured requests fail; ``ttft_scale``/``tps_scale`` shift every
    target's profile (a slower or faster "candidate" for comparison tests); ``slo`` is the
    scenario's raw ``[slo]`` table; ``parquet`` also writes the columnar copy (fast path for
    big runs, written straight from the frame). ``client`` names the client path, or several
    (``("fast", "sdk")``: every target × level once per client, the SDK's first tokens
    ``sdk_ttft_scale`` times the lean client's). ``shape`` labels the rows with a request
    shape, or several (every target × level once per shape, in the order given).
    """
    clients = (client,) if isinstance(client, str) else tuple(client)
    shapes = (shape,) if isinstance(shape, str) else tuple(shape)
    frame = pd.concat(
        [
            synthetic_frame(
                run_id=run_id,
                targets=targets,
                levels=levels,
                n=n,
                seed=seed + i + 101 * j,
                error_share=error_share,
                ttft_scale=ttft_scale * (sdk_ttft_scale if name == "sdk" else 1.0),
                tps_scale=tps_scale,
                load_mode=load_mode,
                warmup=warmup,
                max_tokens=max_tokens,
                itl_as_arrays=parquet,
                client=name,
                started_ns=started_ns + j * 3_600_000_000_000,
                shape=label,
            )
            for i, name in enumerate(clients)
            for j, label in enumerate(shapes)
        ],
        ignore_index=True,
    )
    run_dir = Path(root) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    ended_ns = int((frame["started_at_ns"] + frame["e2e_ms"].fillna(0) * 1e6).max()) if len(frame) else started_ns
    write_run_meta(
        run_dir,
        run_meta(
            run_id=run_id,
            targets=targets,
            levels=levels,
            n=n,
            emulated=emulated,
            slo=slo,
            load_mode=load_mode,
            warmup=warmup,
            max_tokens=max_tokens,
            scenario_name=scenario_name,
            ended_ns=ended_ns,
            client=",".join(clients),
            started_ns=started_ns,
        ),
    )
    if parquet:
        _write_fast(frame, run_dir)
        return run_dir
    writer = ResultsWriter(run_dir)
    try:
        values = {name: frame[name].tolist() for name in COLUMNS}
        for i in range(len(frame)):
            row = {name: values[name][i] for name in COLUMNS}
            for name, dtype in COLUMNS.items():
                value = row[name]
                if dtype == "float64" and isinstance(value, float) and math.isnan(value):
                    row[name] = None
            if row["http_status"] is not None:
                row["http_status"] = int(row["http_status"])
            writer.write(RequestRecord(**row))
    finally:
        writer.close()
    return run_dir


def _write_fast(frame: pd.DataFrame, run_dir: Path) -> None:
    """JSONL and Parquet straight from the frame: seconds for a million rows, not minutes."""
    frame.to_parquet(run_dir / PARQUET_FILE, index=False)
    out = frame.copy()
    out["itl_ms"] = out["itl_ms"].map(lambda a: a.tolist() if isinstance(a, np.ndarray) else a)
    out.to_json(run_dir / REQUESTS_FILE, orient="records", lines=True)
