"""A run as pytest-benchmark JSON, so teams that keep pytest-benchmark histories can fold it in.

One benchmark per target × load level × metric (TTFT, TTFA, e2e, TPOT and time to a
100-token answer, when the run has them), each request one "round", stats in seconds, computed
with pytest-benchmark's own definitions (its quartile methods, Tukey fences, outlier counts).
The file is named like pytest-benchmark's storage (``NNNN_<run id>.json``), so either

    pytest-benchmark --storage file://OUT compare            # every numbered file in OUT
    pytest-benchmark compare OUT/0001_<run id>.json ...      # explicit files

reads it. Exporting the same run again rewrites its file rather than adding a number.
pytest-benchmark is not imported here: only its JSON format is a contract.
"""

from __future__ import annotations

import json
import math
import platform
import re
import statistics
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench import __version__
from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import group_positions, ok_mask
from bench.fmt import target_name
from bench.results.records import resolve_run_dir
from bench.results.run_file import RunMeta, read_run_meta
from bench.schema import LoadLevel

#: Latency columns exported (milliseconds in the frame, seconds in the JSON).
EXPORTED: Final[tuple[str, ...]] = ("ttft_ms", "ttfa_ms", "e2e_ms", "tpot_ms", "response_100_ms")
#: The format version written in "version" (pytest-benchmark's own field).
PYTEST_BENCHMARK_FORMAT: Final = "5.1.0"
_NUMBERED = re.compile(r"^(\d{4})_(.+)\.json$")


def _q1(data: list[float]) -> float:
    n = len(data)
    if n == 1:
        return data[0]
    if n % 2:
        k, r = n // 4, n % 4
        return 0.25 * data[k - 1] + 0.75 * data[k] if r == 1 else 0.75 * data[k] + 0.25 * data[k + 1]
    return statistics.median(data[: n // 2])


def _q3(data: list[float]) -> float:
    n = len(data)
    if n == 1:
        return data[0]
    if n % 2:
        k, r = n // 4, n % 4
        return 0.75 * data[3 * k] + 0.25 * data[3 * k + 1] if r == 1 else 0.25 * data[3 * k + 1] + 0.75 * data[3 * k + 2]
    return statistics.median(data[n // 2 :])


def benchmark_stats(values_s: list[float]) -> dict[str, Any]:
    """pytest-benchmark's ``Stats.as_dict()`` for these durations (seconds), same definitions."""
    data = list(values_s)
    ordered = sorted(data)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if len(data) > 1 else 0
    q1, q3 = _q1(ordered), _q3(ordered)
    iqr = q3 - q1
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    stddev_outliers = sum(1 for v in data if v < mean - stddev or v > mean + stddev)
    iqr_outliers = sum(1 for v in data if v < low_fence or v > high_fence)
    if len(data) == 1:
        ld15iqr = hd15iqr = data[0]
    else:
        ld15iqr = ordered[bisect_left(ordered, low_fence)]
        hd15iqr = ordered[bisect_right(ordered, high_fence) - 1]
    total = sum(data)
    return {
        "min": ordered[0],
        "max": ordered[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": len(data),
        "median": statistics.median(data),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": ld15iqr,
        "hd15iqr": hd15iqr,
        "ops": len(data) / total if total else 0,
        "total": total,
        "data": data,
        "iterations": 1,
    }


def _machine_info(meta: RunMeta) -> dict[str, Any]:
    host, versions = meta.host, meta.versions
    uname = platform.uname()
    return {
        "node": host.get("name") or host.get("hostname") or uname.node,
        "processor": host.get("processor") or uname.processor,
        "machine": host.get("machine") or uname.machine,
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": versions.get("python") or platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": uname.release,
        "system": host.get("system") or uname.system,
        "cpu": {"count": host.get("cpu_count")} if host.get("cpu_count") else {},
        "bench": {"run_id": meta.run_id, "emulated": meta.emulated, "versions": versions},
    }


def pytest_benchmark_document(run_dir: Path) -> dict[str, Any]:
    """The JSON document for one run (see the module docstring)."""
    run = LoadedRun(run_dir, read_run_meta(run_dir))
    meta, frame = run.meta, run.measured
    scenario = str(meta.scenario_name or run_dir.name)
    load = meta.scenario.get("load")
    warmup = bool(load.get("warmup")) if isinstance(load, dict) else False
    benchmarks: list[dict[str, Any]] = []
    ok = frame.loc[ok_mask(frame)].sort_values(["started_at_ns", "request_index"], kind="stable")
    for (target, mode, level, client, shape), positions in group_positions(ok):
        part = ok.iloc[positions]
        for column in EXPORTED:
            values = part[column].to_numpy(dtype="float64", na_value=np.nan)
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            metric = column.removesuffix("_ms")
            param = f"{target_name(target, client)}-{mode}={LoadLevel.of(mode, level).number}" + (f"-{shape}" if shape else "")
            all_rows = frame[
                (frame["target"] == target)
                & (frame["load_mode"] == mode)
                & (frame["load_level"] == level)
                & (frame["client"].astype("object").fillna("") == client)
                & (frame["shape"].astype("object").fillna("") == shape)
            ]
            benchmarks.append(
                {
                    "group": f"{scenario}: {metric}",
                    "name": f"{metric}[{param}]",
                    "fullname": f"bench/{scenario}::{metric}[{param}]",
                    "params": {
                        "target": str(target),
                        "load_mode": str(mode),
                        "load_level": float(level),
                        "client": client,
                        **({"shape": shape} if shape else {}),
                    },
                    "param": param,
                    "extra_info": {
                        "metric": column,
                        "unit": "s",
                        "requests": int(len(all_rows)),
                        "errors": int(len(all_rows) - len(part)),
                        "emulated": meta.emulated,
                        "run_id": meta.run_id or run_dir.name,
                    },
                    "options": {
                        "disable_gc": False,
                        "timer": "perf_counter_ns",
                        "min_rounds": 1,
                        "max_time": 0,
                        "min_time": 0,
                        "warmup": warmup,
                    },
                    "stats": benchmark_stats([float(v) / 1000.0 for v in values]),
                }
            )
    started = meta.started_at
    return {
        "machine_info": _machine_info(meta),
        "commit_info": {
            "id": meta.git_revision,
            "time": started,
            "author_time": started,
            "dirty": None,
            "project": "bench",
            "branch": None,
        },
        "benchmarks": benchmarks,
        "datetime": started or datetime.now(UTC).isoformat(),
        "version": PYTEST_BENCHMARK_FORMAT,
        "bench_version": __version__,
    }


def write_pytest_benchmark(run_dir: Path, out_dir: Path) -> Path:
    """Write ``out_dir/NNNN_<run id>.json`` for ``run_dir`` (a run or a results root); returns the path."""
    run_dir = resolve_run_dir(run_dir)
    document = pytest_benchmark_document(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = re.sub(r"[^A-Za-z0-9._-]", "_", str(document["machine_info"]["bench"]["run_id"] or run_dir.name))
    numbers = []
    path = None
    for existing in out_dir.iterdir():
        match = _NUMBERED.match(existing.name)
        if match:
            numbers.append(int(match.group(1)))
            if match.group(2) == run_id:
                path = existing
    if path is None:
        path = out_dir / f"{(max(numbers) + 1 if numbers else 1):04d}_{run_id}.json"
    text = json.dumps(document, indent=4, default=_json_default, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
