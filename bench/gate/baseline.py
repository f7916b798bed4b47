"""Saved baselines under ``baselines/``: small, diff-friendly, meant to be committed.

Layout::

    baselines/<name>/baseline.json   run metadata (run.json as it was), when and from where it
                                     was saved, and the aggregates a reader wants to see
    baselines/<name>/samples.csv     one line per measured request: group keys (client included;
                                     older baselines take it from their run.json), request order,
                                     status and the numeric metric columns — what the gate's
                                     test needs; no prompts, texts, ITL lists or error messages

A quickstart baseline is a few kilobytes. Loading one gives a frame with the results schema,
so ``bench compare`` and ``bench check`` treat it exactly like a run directory.

A comparison side is resolved in this order: an existing run directory, an existing
baseline directory, an existing results root (its newest run), then a baseline *name* under
the baselines root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd

from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import aggregate, measured
from bench.errors import BenchError, writing
from bench.fmt import json_safe
from bench.gate.sides import Side, SideInfo
from bench.results.records import frame_from_records, is_run_dir, resolve_run_dir
from bench.results.row_checks import drop_impossible
from bench.results.run_file import RUN_FILE, RunMeta, read_run_meta
from bench.scenario.slo import SLO_COLUMNS, slo_from_table

DEFAULT_ROOT: Final = Path("baselines")
META_FILE: Final = "baseline.json"
SAMPLES_FILE: Final = "samples.csv"
FORMAT: Final = "bench-baseline/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Identity and order columns kept per request, then every numeric metric that has values.
_KEEP: Final[tuple[str, ...]] = (
    "target",
    "provider",
    "model",
    "load_mode",
    "load_level",
    "client",
    "shape",
    "request_index",
    "started_at_ns",
    "status",
    "error_kind",
)


@dataclass(frozen=True)
class BaselineInfo:
    name: str
    path: Path
    run_id: str
    scenario_name: str | None
    saved_at: str | None
    emulated: bool | None
    fingerprint: str | None
    requests: int


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BenchError(f"bad baseline name {name!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    return name


def is_baseline_dir(path: Path) -> bool:
    return (path / META_FILE).is_file() and (path / SAMPLES_FILE).is_file()


def _samples(frame: pd.DataFrame) -> pd.DataFrame:
    m = measured(frame).sort_values(["started_at_ns", "request_index"], kind="stable")
    numeric = [c for c in SLO_COLUMNS if m[c].notna().any()]
    out = m[list(_KEEP) + numeric].copy()
    for col in numeric:
        out[col] = out[col].round(4)
    return out.reset_index(drop=True)


def save_baseline(name: str, run: str | Path, *, root: Path = DEFAULT_ROOT, overwrite: bool = False) -> BaselineInfo:
    """Save a run (directory or results root: its newest run) as baseline ``name``."""
    check_name(name)
    loaded = LoadedRun.from_run_dir(run)
    run_dir, frame, meta = loaded.run_dir, loaded.frame, loaded.meta
    samples = _samples(frame)
    if samples.empty:
        raise BenchError(f"{run_dir}: no measured requests to save")
    target = root / name
    if target.exists() and not overwrite:
        raise BenchError(f"baseline {name!r} already exists in {root} (--force replaces it)")
    slo = slo_from_table(meta.slo_table)
    aggregates = aggregate(frame, slo, ci=False)
    keep = [c for c in aggregates.columns if aggregates[c].notna().any()]
    doc = {
        "format": FORMAT,
        "name": name,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {"run_id": meta.run_id or run_dir.name},  # no local path: the file is committed
        "run": meta.to_json(),
        "aggregates": json_safe(aggregates[keep].round(4).to_dict(orient="records")),
    }
    _write_atomically(target, doc, samples)
    return _info(name, target, doc, len(samples))


def _write_atomically(target: Path, doc: dict[str, Any], samples: pd.DataFrame) -> None:
    """Write the baseline beside ``target`` and move it into place whole: a full or read-only
    disk leaves no half a baseline, and ``--force`` never loses the old one to a failed save."""
    staging = target.with_name(f".{target.name}.saving-{os.getpid()}")
    replaced = target.with_name(f".{target.name}.replaced-{os.getpid()}")
    try:
        with writing(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            (staging / META_FILE).write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
            samples.to_csv(staging / SAMPLES_FILE, index=False, lineterminator="\n")
            if target.exists():
                target.rename(replaced)
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if replaced.exists() and not target.exists():  # put the old one back
            replaced.rename(target)
        shutil.rmtree(replaced, ignore_errors=True)


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path / META_FILE}: unreadable baseline ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BenchError(f"{path / META_FILE}: not a bench baseline (expected format {FORMAT!r})")
    return doc


def _info(name: str, path: Path, doc: dict[str, Any], requests: int) -> BaselineInfo:
    run = _run_meta(doc, path)
    return BaselineInfo(
        name=name,
        path=path,
        run_id=str(run.run_id or (doc.get("source") or {}).get("run_id") or "?"),
        scenario_name=run.scenario_name,
        saved_at=doc.get("saved_at"),
        emulated=run.emulated,
        fingerprint=run.fingerprint,
        requests=requests,
    )


def _run_meta(doc: dict[str, Any], path: Path) -> RunMeta:
    """The run.json saved with a baseline (in its ``run`` key)."""
    run = doc.get("run")
    return RunMeta.from_json(run if isinstance(run, dict) else {}, f"{path / META_FILE}: run")


def list_baselines(root: Path = DEFAULT_ROOT) -> list[BaselineInfo]:
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and _NAME.match(child.name) and is_baseline_dir(child):  # not a save in progress
            doc = _read_doc(child)
            with open(child / SAMPLES_FILE, encoding="utf-8") as fh:
                requests = max(0, sum(1 for _ in fh) - 1)
            out.append(_info(child.name, child, doc, requests))
    return out


def load_baseline(path: Path) -> tuple[RunMeta, pd.DataFrame]:
    """(run metadata, per-request frame with the results schema) of a baseline directory."""
    doc = _read_doc(path)
    try:
        samples = pd.read_csv(path / SAMPLES_FILE, dtype={"target": "string", "load_mode": "string", "shape": "string"})
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path / SAMPLES_FILE}: unreadable baseline samples ({exc})") from None
    samples["warmup"] = False
    meta = _run_meta(doc, path)
    if "client" not in samples.columns:
        samples["client"] = _recorded_clients(meta, samples["target"])
    problems: dict[int, str] = {}
    frame = frame_from_records(samples, problems)
    return meta, drop_impossible(frame, problems, source=str(path / SAMPLES_FILE), first_line=2)


def _recorded_clients(meta: RunMeta, targets: pd.Series) -> pd.Series:
    """Per request of a baseline saved before samples kept the client: the client its run.json
    names for the request's target (each target had one then), else None (unknown)."""
    by_target: dict[str, str] = {}
    for target in meta.scenario.get("targets") or []:
        if isinstance(target, dict) and isinstance(target.get("label"), str) and isinstance(target.get("client"), str):
            by_target[target["label"]] = target["client"]
    one = meta.client if meta.client and "," not in meta.client else None
    return targets.map(lambda t: by_target.get(str(t), one)).astype("object")


def load_side(spec: str, *, root: Path = DEFAULT_ROOT) -> Side:
    """A comparison side from a run directory, a results root, or a baseline (directory or name)."""
    path = Path(spec)
    if path.is_dir() and is_run_dir(path):
        return _run_side(spec, path)
    if path.is_dir() and is_baseline_dir(path):
        return _baseline_side(spec, path)
    if path.is_dir():
        try:
            run_dir = resolve_run_dir(path)
        except BenchError:
            pass
        else:
            return _run_side(spec, run_dir)
    if _NAME.match(spec) and is_baseline_dir(root / spec):
        return _baseline_side(spec, root / spec)
    names = ", ".join(b.name for b in list_baselines(root)) or "none"
    raise BenchError(f"{spec}: not a run directory, a results root with runs, or a saved baseline (baselines in {root}: {names})")


def _run_side(spec: str, run_dir: Path) -> Side:
    run = LoadedRun(run_dir, read_run_meta(run_dir))
    if run.frame.empty:
        raise BenchError(f"{run_dir}: no requests recorded")
    info = SideInfo.from_meta(spec, "run", str(run_dir), run.meta, has_run_file=(run_dir / RUN_FILE).is_file())
    return Side(info, run)


def _baseline_side(spec: str, path: Path) -> Side:
    meta, frame = load_baseline(path)
    return Side(SideInfo.from_meta(spec, "baseline", str(path), meta), LoadedRun.with_frame(path, meta, frame))
