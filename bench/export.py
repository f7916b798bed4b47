"""``bench export``: a run's per-request frame and its aggregates as CSV, Parquet or JSON.

Writes ``requests.<ext>`` and ``aggregates.<ext>`` (the :func:`bench.metrics.aggregate`
frame, with the run id as its first column). List columns (``itl_ms``) stay lists in
Parquet and JSON; CSV writes them as JSON text (DESIGN §6). ``pytest-benchmark`` hands
over to :mod:`bench.pytest_benchmark` (its JSON format is a contract other tools read).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.metrics import aggregate
from bench.records import load_results, read_run_meta, resolve_run_dir
from bench.slo import slo_from_table

FORMATS: tuple[str, ...] = ("csv", "parquet", "json", "pytest-benchmark")
_LIST_COLUMNS: tuple[str, ...] = ("itl_ms",)


def _json_list(value: object) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(list(value) if value is not None and not isinstance(value, float) else [])


def aggregates_for(run_dir: Path, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The run's aggregates (with goodput when its scenario has per-request SLOs), run id first."""
    meta = read_run_meta(run_dir)
    scenario = meta.get("scenario") if isinstance(meta.get("scenario"), dict) else {}
    table = scenario.get("slo") if isinstance(scenario.get("slo"), dict) else None
    frame = load_results(run_dir) if frame is None else frame
    agg = aggregate(frame, slo_from_table(table))
    agg.insert(0, "run_id", str(meta.get("run_id") or run_dir.name))
    return agg


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        out = frame.copy()
        for col in _LIST_COLUMNS:
            if col in out.columns:
                out[col] = out[col].map(_json_list)
        out.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_bytes(_json_records(frame))


def _json_records(frame: pd.DataFrame) -> bytes:
    """Plain UTF-8 JSON (no \\u or \\/ escapes), each float in its shortest exact form
    (222.341044, not pandas' 222.341044000000011: nothing lost, nothing invented); NaN is null."""
    import orjson

    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY)


def export_run(run: str | Path, fmt: str, out_dir: Path | None = None) -> list[Path]:
    """Export one run (a run directory, or a results root: its newest run); returns the files written."""
    if fmt not in FORMATS:
        raise BenchError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run_dir = resolve_run_dir(run)
    out = Path(out_dir) if out_dir is not None else run_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"{out}: cannot create the output directory ({exc.strerror})") from None
    if fmt == "pytest-benchmark":
        from bench.pytest_benchmark import write_pytest_benchmark  # helper-3's module; only this format needs it

        return [write_pytest_benchmark(run_dir, out)]
    frame = load_results(run_dir)
    requests_path = out / f"requests.{fmt}"
    aggregates_path = out / f"aggregates.{fmt}"
    _write(frame, requests_path, fmt)
    _write(aggregates_for(run_dir, frame), aggregates_path, fmt)
    return [requests_path, aggregates_path]
