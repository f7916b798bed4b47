"""How far this machine's measurements are from the truth: the harness against an emulator whose timing is exact.

``bench calibrate`` (and ``benchmarks/timing_accuracy.py``) runs the harness, on this machine,
against the built-in emulator with jitter 0, one token per chunk and ``ignore_eos``, one *cell*
per provider × client path × streams × tokens/s. The emulator logs when it read each request and
when it wrote each content chunk (its ``--chunk-log``, ``perf_counter_ns`` = CLOCK_MONOTONIC, the
harness's clock too), so each measured request can be joined to the server's own record of it
(the response id the client saw, ``request_id`` on both sides) and its errors computed exactly:

``TTFT error`` (ms, per request)
    harness ``ttft_ms`` − (server's first content chunk written − server's request read).
    Positive: the harness reports a later first token than the server sent. The harness's t0 is
    its last socket write of the request, a little before the server reads it, so a perfect
    client still shows the loopback transit (tens of µs). Reported as the p50 and p99 (numpy's
    linear percentiles) over the cell's measured requests; with 30 requests the p99 is close to
    the worst request.

``inter-token error`` (%, per request, then the mean over requests)
    mean(harness ``itl_ms``) ÷ mean(server's gaps between consecutive content chunks) − 1.
    Positive: the harness sees the stream slower than it was sent (a client that falls behind
    under load stretches the gaps it sees).

``TPOT error`` (%, per request, then the mean over requests)
    harness ``tpot_ms`` ÷ mean server gap − 1. With one token per chunk and usage counted it
    equals the inter-token error; it differs when the harness's token count does.

A cell is *within bounds* when |TTFT error p50| ≤ 1 ms, |TTFT error p99| ≤ 1 ms and
|mean inter-token error| ≤ 1 %. A client path's verdict is the highest load (streams ×
tokens/s, ties to more streams) at which every provider's cell for that path is within bounds.

Requests whose harness chunk count differs from the server's are still counted, and the cell
says how many (``chunk_mismatch``): both sides count non-empty content chunks, so any mismatch
means the client merged or lost chunks.
"""

from __future__ import annotations

import json
import math
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np

from bench.providers import ClientSettings, make_provider
from bench.results import provenance
from bench.results.calibration import (
    MODELS,
    CalibrationCell,
    CalibrationGrid,
    CalibrationResult,
    ClientVerdict,
)
from bench.results.records import load_results
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario

if TYPE_CHECKING:
    import pandas as pd


# --------------------------------------------------------------------------- data


# --------------------------------------------------------------------------- error arithmetic


@dataclass
class RequestError:
    """One measured request against the server's record of it (definitions in the module docstring)."""

    request_id: str
    ttft_err_ms: float
    #: mean(harness itl) / mean(server gap) − 1 (a fraction); NaN below two chunks on either side.
    itl_err: float
    #: harness tpot / mean(server gap) − 1 (a fraction); NaN when the harness has no tpot.
    tpot_err: float
    chunk_mismatch: bool


def read_chunk_log(path: Path) -> dict[str, dict[str, Any]]:
    """The emulator's chunk log keyed by the response id the client saw (requests with content only)."""
    truth: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return truth
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("first_content_ns"):
            truth[entry["request_id"]] = entry
    return truth


def _server_gaps_ms(entry: Mapping[str, Any]) -> tuple[float, int]:
    """Mean gap between the server's content chunks (ms) and the number of chunks."""
    chunks = entry.get("chunk_ns")
    if chunks:
        n = len(chunks)
        mean = float(np.mean(np.diff(np.asarray(chunks, dtype=np.float64)))) / 1e6 if n > 1 else math.nan
        return mean, n
    n = int(entry.get("n_content_chunks") or 0)
    if n < 2:
        return math.nan, n
    return (entry["last_content_ns"] - entry["first_content_ns"]) / 1e6 / (n - 1), n


def _floats(value: Any) -> list[float]:
    if value is None:
        return []
    try:
        return [float(v) for v in value]
    except TypeError:
        return []


def request_errors(frame: pd.DataFrame, truth: Mapping[str, Mapping[str, Any]]) -> list[RequestError]:
    """Each row of ``frame`` (measured, ok) joined on ``request_id`` to its chunk-log entry.

    Rows with no entry in ``truth`` are left out (the caller counts them).
    """
    out: list[RequestError] = []
    for row in frame.to_dict(orient="records"):
        entry = truth.get(row["request_id"])
        if entry is None:
            continue
        ttft_truth = (entry["first_content_ns"] - entry["received_ns"]) / 1e6
        ttft = row["ttft_ms"]
        ttft_err = float(ttft) - ttft_truth if ttft is not None and ttft == ttft else math.nan
        gap, n_server = _server_gaps_ms(entry)
        itl = _floats(row.get("itl_ms"))
        itl_err = float(np.mean(itl)) / gap - 1 if itl and gap > 0 else math.nan
        tpot = row.get("tpot_ms")
        tpot_err = float(tpot) / gap - 1 if tpot is not None and tpot == tpot and gap > 0 else math.nan
        content_chunks = row.get("content_chunks")
        if content_chunks is None or content_chunks != content_chunks:
            harness_chunks = len(itl) + 1 if itl else None
        else:
            harness_chunks = int(content_chunks)
        out.append(
            RequestError(
                str(row["request_id"]), ttft_err, itl_err, tpot_err, harness_chunks is not None and harness_chunks != n_server
            )
        )
    return out


def _finite(values: Iterable[float]) -> np.ndarray:
    x = np.asarray(list(values), dtype=np.float64)
    return x[np.isfinite(x)]


def summarize_cell(
    provider: str, client: str, streams: int, tokens_per_s: float, frame: pd.DataFrame, truth: Mapping[str, Mapping[str, Any]]
) -> CalibrationCell:
    """A cell from its run's frame (all rows of this cell, warm-up included) and the chunk log."""
    measured = frame[~frame["warmup"].astype(bool)]
    ok = measured[measured["status"] == "ok"]
    errors = request_errors(ok, truth)
    ttft = _finite(e.ttft_err_ms for e in errors)
    itl = _finite(e.itl_err for e in errors)
    tpot = _finite(e.tpot_err for e in errors)
    prep = _finite(ok["sdk_prep_ms"]) if "sdk_prep_ms" in ok else np.array([])
    p50, p99 = (float(v) for v in np.percentile(ttft, [50, 99])) if ttft.size else (math.nan, math.nan)
    return CalibrationCell(
        provider=provider,
        client=client,
        streams=int(streams),
        tokens_per_s=float(tokens_per_s),
        n=len(errors),
        n_failed=int(len(measured) - len(ok)),
        ttft_err_p50_ms=p50,
        ttft_err_p99_ms=p99,
        itl_err_mean_pct=100 * float(itl.mean()) if itl.size else math.nan,
        tpot_err_mean_pct=100 * float(tpot.mean()) if tpot.size else math.nan,
        sdk_prep_p50_ms=float(np.median(prep)) if prep.size else math.nan,
        chunk_mismatch=sum(e.chunk_mismatch for e in errors),
    )


def verdicts(
    cells: list[CalibrationCell], clients: Iterable[str], skipped: Mapping[str, str] | None = None
) -> dict[str, ClientVerdict]:
    """Per client path: the highest load (streams × tokens/s, ties to more streams) where every provider's cell is within bounds."""
    skipped = skipped or {}
    out: dict[str, ClientVerdict] = {}
    for client in clients:
        if client in skipped:
            out[client] = ClientVerdict(client, skipped=skipped[client])
            continue
        loads: dict[tuple[int, float], bool] = {}
        for cell in cells:
            if cell.client == client:
                key = (cell.streams, cell.tokens_per_s)
                loads[key] = loads.get(key, True) and cell.within()
        if not loads:
            out[client] = ClientVerdict(client, skipped="no cell was run")
            continue
        order = sorted(loads, key=lambda k: (k[0] * k[1], k[0]))
        good = [k for k in order if loads[k]]
        best = good[-1] if good else (None, None)
        out[client] = ClientVerdict(client, best[0], best[1], failed=[k for k in order if not loads[k]])
    return out


# --------------------------------------------------------------------------- running


def scenario_text(provider: str, streams: int, tokens_per_s: float, grid: CalibrationGrid) -> str:
    """One cell as a scenario: exact emulator timing (jitter 0), ``ignore_eos``, warm-up = streams."""
    workers = f"workers = {grid.workers}\n" if grid.workers else ""
    return (
        textwrap.dedent(
            f"""
        [scenario]
        name = "calibrate"
        [[target]]
        provider = "{provider}"
        model = "{MODELS[provider]}"
        label = "{provider}"
        [target.emulator]
        ttft_ms = {grid.ttft_ms:g}
        tokens_per_s = {tokens_per_s:g}
        jitter = 0
        [request]
        max_tokens = {grid.tokens}
        extra_body = {{ ignore_eos = true }}
        [load]
        concurrency = [{streams}]
        requests = {grid.requests}
        warmup = {streams}
        """
        )
        + workers
    )  # still inside [load]


def client_available(provider: str, client: str) -> str | None:
    """None when ``make_provider`` can build this provider's ``client`` path, else why not (one line)."""

    try:
        built = make_provider(provider, ClientSettings("http://127.0.0.1:9", "bench-calibrate", 1, 5.0, 0), client)
    except ValueError as exc:
        return str(exc)
    except ImportError as exc:
        return f"the {client!r} client for {provider!r} cannot be imported ({exc})"
    try:
        anyio.run(built.aclose)
    except Exception:  # noqa: BLE001 - closing a client that never connected is not calibration's concern
        pass
    return None


def measure_cell(
    provider: str, client: str, streams: int, tokens_per_s: float, grid: CalibrationGrid, work: Path
) -> CalibrationCell:
    """Run one cell against a fresh emulator and join its requests to the emulator's chunk log."""

    tag = f"{provider}-{client}-{streams}-{tokens_per_s:g}"
    chunk_log = work / f"chunks-{tag}.jsonl"
    scenario = work / f"scenario-{tag}.toml"
    scenario.write_text(scenario_text(provider, streams, tokens_per_s, grid), encoding="utf-8")
    result = run_scenario(
        load_scenario(scenario), out=work / "results", emulate=True, emulator_chunk_log=chunk_log, client=client, quiet=True
    )
    if result.interrupted:
        raise KeyboardInterrupt
    frame = load_results(result.run_dir)
    return summarize_cell(provider, client, streams, tokens_per_s, frame, read_chunk_log(chunk_log))


def calibrate(
    grid: CalibrationGrid,
    *,
    on_cell: Callable[[CalibrationCell], None] | None = None,
    note: Callable[[str], None] | None = None,
    work_dir: Path | None = None,
) -> CalibrationResult:
    """Run every cell of ``grid`` (providers × clients × concurrency × tokens/s) and judge each client path.

    A client path that ``make_provider`` cannot build for a provider (e.g. ``fast`` before it is
    registered) is skipped for that provider with a ``note``; a path no provider could run gets
    a verdict with ``skipped`` set.
    """
    grid.check()
    date = provenance.utc_now()
    cells: list[CalibrationCell] = []
    missing: dict[str, list[str]] = {}
    runnable: list[tuple[str, str]] = []
    for client in grid.clients:
        for provider in grid.providers:
            why = client_available(provider, client)
            if why is None:
                runnable.append((client, provider))
                continue
            missing.setdefault(client, []).append(why)
            if note is not None:
                note(f"{client} client path skipped for {provider}: not available in this install ({why})")
    # Load by load, every path at each: a background load that comes and goes hits all paths alike.
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-", dir=work_dir) as tmp:
        work = Path(tmp)
        for streams in grid.concurrency:
            for tps in grid.tokens_per_s:
                for client, provider in runnable:
                    cell = measure_cell(provider, client, streams, tps, grid, work)
                    cells.append(cell)
                    if on_cell is not None:
                        on_cell(cell)
    skipped = {c: "; ".join(why) for c, why in missing.items() if len(why) == len(grid.providers)}
    return CalibrationResult(
        date=date,
        host=provenance.host(),
        versions=provenance.versions(),
        grid=grid,
        cells=cells,
        verdicts=verdicts(cells, grid.clients, skipped),
    )


# --------------------------------------------------------------------------- reading it back


# --------------------------------------------------------------------------- printing
