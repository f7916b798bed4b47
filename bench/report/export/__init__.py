"""``bench export``: a run's per-request frame and its aggregates as CSV, Parquet or JSON.

Writes ``requests.<ext>`` (the request frame plus ``cost_usd``) and ``aggregates.<ext>``
(the :func:`bench.analysis.metrics.aggregate` frame with the run id as its first column and the
:func:`bench.analysis.cost.cost_summary` columns last). List columns (``itl_ms``) stay lists in
Parquet and JSON; CSV writes them as JSON text. ``pytest-benchmark`` hands over to
:mod:`bench.report.export.pytest_benchmark` and ``vllm`` to :mod:`bench.report.export.vllm` (result files of
``vllm bench serve --save-result``, one per target and level): formats other tools read.

An export never mixes runs or destroys data it did not make: it refuses to write into
another run's directory (its ``requests.parquet`` would then be read back as that run's
rows) and to replace a file that an earlier export did not write, unless ``force`` is
given. Which files an export wrote is kept in ``.bench-export.json`` beside them, so
exporting again to the same place just refreshes them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from bench.analysis.cost import add_cost, cost_summary
from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import GROUP_KEYS, aggregate
from bench.errors import BenchError, cannot_write
from bench.report.export.pytest_benchmark import write_pytest_benchmark
from bench.report.export.vllm import DEFAULT_PERCENTILES, vllm_results, write_result
from bench.results.records import PARQUET_FILE, is_run_dir, resolve_run_dir
from bench.results.run_file import read_run_meta

FORMATS: tuple[str, ...] = ("csv", "parquet", "json", "pytest-benchmark", "vllm")
_LIST_COLUMNS: tuple[str, ...] = ("itl_ms",)
#: Beside exported files: the names bench export wrote there (so it may replace them later).
MANIFEST = ".bench-export.json"


def _json_list(value: object) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(list(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else [])


def _loaded(run_dir: Path) -> LoadedRun:
    return LoadedRun(run_dir, read_run_meta(run_dir))


def aggregates_for(run: Path | LoadedRun) -> pd.DataFrame:
    """The run's aggregates (with goodput where its scenario, or a target, has per-request SLOs), run id first,
    and what each target and level cost (:func:`bench.analysis.cost.cost_summary`) last."""
    run = run if isinstance(run, LoadedRun) else _loaded(run)
    agg = aggregate(run.frame, run.slo)
    agg = agg.merge(cost_summary(run.frame, run.meta), on=GROUP_KEYS, how="left", validate="one_to_one")
    agg.insert(0, "run_id", run.run_id)
    return agg


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write to a temporary name, then replace: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _write_format(frame, tmp, fmt)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise cannot_write(exc, path) from None


def _write_format(frame: pd.DataFrame, path: Path, fmt: str) -> None:
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

    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY)


def _exported_before(out: Path) -> set[str]:
    """Names an earlier export wrote in ``out`` (an unreadable manifest vouches for nothing)."""
    try:
        names = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {str(n) for n in names} if isinstance(names, list) else set()


def _remember(out: Path, names: list[str]) -> None:
    files = sorted(_exported_before(out) | set(names))
    try:
        (out / MANIFEST).write_text(json.dumps({"files": files}, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise cannot_write(exc, out / MANIFEST) from None


def check_destination(run_dir: Path, out: Path, names: list[str], *, force: bool = False) -> None:
    """Refuse (BenchError) an export that would mix runs or replace a file it did not write.

    Another run's directory is off limits: its reader would take the export for its own
    data. In ``out``, a file may be replaced only when an earlier export wrote it, or when it
    is this run's own columnar copy (the same rows). ``force`` lifts both rules; a name that
    is a directory is refused either way.
    """
    own_dir = out.resolve() == run_dir.resolve()
    if not force and not own_dir and is_run_dir(out):
        other = read_run_meta(out).run_id or out.name
        raise BenchError(
            f"{out}: is the directory of another run ({other}); an export never writes into it "
            "(choose another --out, or --force to write there anyway)"
        )
    ours = _exported_before(out)
    for name in names:
        path = out / name
        if path.is_dir():
            raise BenchError(f"{path}: is a directory, so the export cannot be written there (choose another --out)")
        if not path.exists() or force or name in ours or (own_dir and name == PARQUET_FILE):
            continue
        raise BenchError(f"{path}: already exists and was not written by bench export (--force replaces it)")


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BenchError(f"{out}: is a file, not a directory (--out takes a directory)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"{out}: cannot create the output directory ({cannot_write(exc).problem})") from None


def _export_vllm(run_dir: Path, out: Path, percentiles: Sequence[float] | None, *, force: bool) -> list[Path]:
    """One vLLM result file per (target, level); see :mod:`bench.report.export.vllm`."""

    run = _loaded(run_dir)
    results = vllm_results(run.frame, run.meta, percentiles=tuple(percentiles or DEFAULT_PERCENTILES))
    if not results:
        raise BenchError(f"{run_dir}: no measured requests, so there is no vLLM result to write")
    names = [name for name, _ in results]
    check_destination(run_dir, out, names, force=force)
    _prepare_out(out)
    paths: list[Path] = []
    for name, result in results:
        path = out / name
        tmp = path.with_name(f".{name}.tmp")
        try:
            write_result(result, tmp)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise cannot_write(exc, path) from None
        paths.append(path)
    _remember(out, names)
    return paths


def export_run(
    run: str | Path,
    fmt: str,
    out_dir: Path | None = None,
    *,
    force: bool = False,
    percentiles: Sequence[float] | None = None,
) -> list[Path]:
    """Export one run (a run directory, or a results root: its newest run); returns the files written.

    ``force`` allows writing into another run's directory and replacing files an export did
    not write (:func:`check_destination`). ``percentiles`` are the ``vllm`` format's
    ``p<N>_<metric>_ms`` keys (vLLM's ``--metric-percentiles``; default 99); other formats
    ignore them.
    """
    if fmt not in FORMATS:
        raise BenchError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run_dir = resolve_run_dir(run)
    out = Path(out_dir) if out_dir is not None else run_dir
    if fmt == "pytest-benchmark":
        check_destination(run_dir, out, [], force=force)
        _prepare_out(out)

        try:
            return [write_pytest_benchmark(run_dir, out)]
        except OSError as exc:
            raise cannot_write(exc, out) from None
    if fmt == "vllm":
        return _export_vllm(run_dir, out, percentiles, force=force)
    names = [f"requests.{fmt}", f"aggregates.{fmt}"]
    check_destination(run_dir, out, names, force=force)
    _prepare_out(out)
    loaded = _loaded(run_dir)
    paths = [out / name for name in names]
    _write(add_cost(loaded.frame, loaded.meta), paths[0], fmt)
    _write(aggregates_for(loaded), paths[1], fmt)
    _remember(out, names)
    return paths
