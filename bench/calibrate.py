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

import contextlib
import json
import math
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import run_meta
from bench.errors import BenchError, cannot_write

if TYPE_CHECKING:
    import pandas as pd

#: The bounds a cell must stay within (absolute values).
TTFT_BOUND_MS = 1.0
ITL_BOUND_PCT = 1.0

#: Calibrated model per provider (catalogue entries without reasoning: every chunk is answer text).
MODELS: dict[str, str] = {"groq": "llama-3.1-8b-instant", "openai": "gpt-4.1", "anthropic": "claude-haiku-5-5"}
CLIENT_NAMES: dict[str, str] = {"sdk": "SDK", "fast": "fast"}

DEFAULT_PROVIDERS = ("groq", "openai", "anthropic")
DEFAULT_CLIENTS = ("sdk", "fast")
DEFAULT_CONCURRENCY = (1, 8, 16)
DEFAULT_TOKENS_PER_S = (100.0, 800.0)
DEFAULT_REQUESTS = 30
DEFAULT_TOKENS = 120
EMULATOR_TTFT_MS = 50.0

FORMAT_VERSION = 1


# --------------------------------------------------------------------------- data


@dataclass
class CalibrationCell:
    """One load cell's errors (definitions in the module docstring). NaN where nothing was measured."""

    provider: str
    client: str
    streams: int
    tokens_per_s: float
    #: Measured requests joined to the chunk log (errors are over these).
    n: int
    #: Measured requests that did not succeed (status other than ok).
    n_failed: int = 0
    ttft_err_p50_ms: float = math.nan
    ttft_err_p99_ms: float = math.nan
    itl_err_mean_pct: float = math.nan
    tpot_err_mean_pct: float = math.nan
    #: The client's own request-building cost (kept out of TTFT), median over measured requests.
    sdk_prep_p50_ms: float = math.nan
    #: Requests whose harness content-chunk count differs from the server's.
    chunk_mismatch: int = 0

    @property
    def load(self) -> float:
        """Streams × tokens/s: the chunks per second the client must handle (one token per chunk)."""
        return self.streams * self.tokens_per_s

    def within(self, ttft_ms: float = TTFT_BOUND_MS, itl_pct: float = ITL_BOUND_PCT) -> bool:
        values = (self.ttft_err_p50_ms, self.ttft_err_p99_ms, self.itl_err_mean_pct)
        if self.n == 0 or self.n_failed or any(not math.isfinite(v) for v in values):
            return False
        return (
            abs(self.ttft_err_p50_ms) <= ttft_ms
            and abs(self.ttft_err_p99_ms) <= ttft_ms
            and abs(self.itl_err_mean_pct) <= itl_pct
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationCell:
        out = dict(data)
        for name in ("ttft_err_p50_ms", "ttft_err_p99_ms", "itl_err_mean_pct", "tpot_err_mean_pct", "sdk_prep_p50_ms"):
            out[name] = math.nan if out.get(name) is None else float(out[name])
        out["tokens_per_s"] = float(out["tokens_per_s"])
        return cls(**{k: v for k, v in out.items() if k in cls.__dataclass_fields__})


@dataclass
class ClientVerdict:
    """A client path's verdict: the highest load within bounds, or why there is none."""

    client: str
    #: Highest load within bounds (None: no cell of this path was within bounds, or it was skipped).
    streams: int | None = None
    tokens_per_s: float | None = None
    #: Loads (streams, tokens/s) of this path that were not within bounds.
    failed: list[tuple[int, float]] = field(default_factory=list)
    #: Why the path was not calibrated (e.g. not available in this install); None when it was.
    skipped: str | None = None

    @property
    def load_text(self) -> str | None:
        if self.streams is None or self.tokens_per_s is None:
            return None
        return f"{_streams(self.streams)} × {self.tokens_per_s:g} tokens/s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "streams": self.streams,
            "tokens_per_s": self.tokens_per_s,
            "failed": [[s, t] for s, t in self.failed],
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClientVerdict:
        tps = data.get("tokens_per_s")
        return cls(
            client=data["client"],
            streams=data.get("streams"),
            tokens_per_s=None if tps is None else float(tps),
            failed=[(int(s), float(t)) for s, t in data.get("failed", [])],
            skipped=data.get("skipped"),
        )


@dataclass
class CalibrationGrid:
    """What was run: every combination of providers × clients × concurrency × tokens_per_s."""

    providers: list[str] = field(default_factory=lambda: list(DEFAULT_PROVIDERS))
    clients: list[str] = field(default_factory=lambda: list(DEFAULT_CLIENTS))
    concurrency: list[int] = field(default_factory=lambda: list(DEFAULT_CONCURRENCY))
    tokens_per_s: list[float] = field(default_factory=lambda: list(DEFAULT_TOKENS_PER_S))
    requests: int = DEFAULT_REQUESTS
    tokens: int = DEFAULT_TOKENS
    ttft_ms: float = EMULATOR_TTFT_MS
    workers: int | None = None

    @classmethod
    def default(cls, quick: bool = False) -> CalibrationGrid:
        """The default grid, or with ``quick`` one small one (1, 8 streams × 800 tokens/s, 8 requests of 60 tokens)."""
        if quick:
            return cls(concurrency=[1, 8], tokens_per_s=[800.0], requests=8, tokens=60)
        return cls()

    def check(self) -> None:
        from bench.scenario import CLIENTS

        for name in self.providers:
            if name not in MODELS:
                raise BenchError(f"--providers: unknown provider {name!r}; expected some of {', '.join(MODELS)}")
        for name in self.clients:
            if name not in CLIENTS:
                raise BenchError(f"--client {name!r}: expected some of {', '.join(CLIENTS)}")
        if not self.providers or not self.clients or not self.concurrency or not self.tokens_per_s:
            raise BenchError("empty grid: give at least one provider, client, concurrency and tokens/s")
        if any(c < 1 for c in self.concurrency):
            raise BenchError("--concurrency: streams must be 1 or more")
        if any(not (0 < t <= 100_000) for t in self.tokens_per_s):
            raise BenchError("--tokens-per-s: rates must be greater than 0 and at most 100000")
        if self.requests < 1:
            raise BenchError("--requests: must be 1 or more")
        if self.tokens < 2:
            raise BenchError("--tokens: must be 2 or more (inter-token error needs two chunks)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationGrid:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class CalibrationResult:
    """A whole calibration: where and when, what was run, every cell, and each client path's verdict."""

    date: str
    host: dict[str, Any]
    versions: dict[str, Any]
    grid: CalibrationGrid
    cells: list[CalibrationCell]
    verdicts: dict[str, ClientVerdict]
    ttft_bound_ms: float = TTFT_BOUND_MS
    itl_bound_pct: float = ITL_BOUND_PCT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "date": self.date,
            "host": self.host,
            "versions": self.versions,
            "grid": self.grid.to_dict(),
            "bounds": {"ttft_ms": self.ttft_bound_ms, "itl_pct": self.itl_bound_pct},
            "cells": [cell.to_dict() for cell in self.cells],
            "verdicts": {name: v.to_dict() for name, v in self.verdicts.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationResult:
        bounds = data.get("bounds") or {}
        return cls(
            date=data["date"],
            host=dict(data.get("host") or {}),
            versions=dict(data.get("versions") or {}),
            grid=CalibrationGrid.from_dict(data.get("grid") or {}),
            cells=[CalibrationCell.from_dict(c) for c in data.get("cells", [])],
            verdicts={name: ClientVerdict.from_dict(v) for name, v in (data.get("verdicts") or {}).items()},
            ttft_bound_ms=float(bounds.get("ttft_ms", TTFT_BOUND_MS)),
            itl_bound_pct=float(bounds.get("itl_pct", ITL_BOUND_PCT)),
        )

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise BenchError(f"--save {path}: cannot write there ({cannot_write(exc).problem})") from None
        return path

    @classmethod
    def load(cls, path: Path | str) -> CalibrationResult:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except OSError as exc:
            raise BenchError(f"{path}: cannot read calibration ({exc.strerror})") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{path}: not a bench calibration file ({exc})") from None


def save(result: CalibrationResult, path: Path | str) -> Path:
    return result.save(path)


def load(path: Path | str) -> CalibrationResult:
    return CalibrationResult.load(path)


def _streams(n: int) -> str:
    return f"{n} stream" if n == 1 else f"{n} streams"


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
    import anyio

    from bench.providers import ClientSettings, make_provider

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
    from bench.records import load_results
    from bench.runner import run_scenario
    from bench.scenario import load_scenario

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
    date = run_meta.utc_now()
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
        host=run_meta.host(),
        versions=run_meta.versions(),
        grid=grid,
        cells=cells,
        verdicts=verdicts(cells, grid.clients, skipped),
    )


# --------------------------------------------------------------------------- reading it back


def latest_calibration(results_root: Path | str) -> CalibrationResult | None:
    """The newest calibration saved under ``results_root`` (``calibration*.json``), or None.

    Unreadable files are passed over: a report must not fail because an old file is broken.
    """
    root = Path(results_root)
    if not root.is_dir():
        return None
    found: list[CalibrationResult] = []
    for path in root.glob("calibration*.json"):
        try:
            found.append(CalibrationResult.load(path))
        except BenchError:
            continue
    return max(found, key=lambda r: r.date) if found else None


def same_host(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Same machine, as far as ``run_meta.host()`` can tell: hostname, architecture and core count."""
    return all(a.get(k) == b.get(k) for k in ("hostname", "machine", "cpu_count"))


def _path_name(client: str) -> str:
    return f"the {CLIENT_NAMES.get(client, client)} path"


def verdict_text(result: CalibrationResult) -> str:
    """The verdict in a phrase, fast path first.

    "within 1 ms / 1 % up to 16 streams × 800 tokens/s on the fast path, 8 × 100 on the SDK path";
    paths without a load follow after "; " ("the fast path not calibrated", "nothing within
    1 ms / 1 % on the SDK path").
    """
    order = sorted(result.verdicts.values(), key=lambda v: (v.client != "fast", v.client != "sdk", v.client))
    with_load = [v for v in order if not v.skipped and v.streams is not None and v.tokens_per_s is not None]
    loads = [
        f"{_streams(v.streams) if i == 0 else v.streams} × {v.tokens_per_s:g}{' tokens/s' if i == 0 else ''} on {_path_name(v.client)}"
        for i, v in enumerate(with_load)
        if v.streams is not None and v.tokens_per_s is not None
    ]
    bounds = f"within {result.ttft_bound_ms:g} ms / {result.itl_bound_pct:g} %"
    others = [
        f"{_path_name(v.client)} not calibrated" if v.skipped else f"nothing {bounds} on {_path_name(v.client)}"
        for v in sorted((v for v in order if v not in with_load), key=lambda v: v.skipped is not None)
    ]
    if not order:
        return "no client path calibrated"
    return "; ".join([f"{bounds} up to " + ", ".join(loads), *others] if loads else others)


def calibration_note(result: CalibrationResult | None, host: Mapping[str, Any]) -> str:
    """One line for a run or report: what the calibration says, and whether it was made on this host."""
    if result is None:
        return "this machine has not been calibrated (run `bench calibrate`)"
    day = result.date[:10]
    if same_host(result.host, host):
        return f"this machine was calibrated on {day}: {verdict_text(result)}"
    where = result.host.get("hostname") or "another machine"
    return (
        f"the calibration found was made on a different host ({where}, {day}), not this one: "
        f"its numbers do not apply here (run `bench calibrate` on this machine)"
    )


# --------------------------------------------------------------------------- printing

HEADER = (
    f"{'provider':10} {'client':6} {'streams':>7} {'tok/s':>6} {'n':>4} "
    f"{'TTFT err p50 ms':>15} {'p99 ms':>8} {'ITL err %':>9} {'TPOT err %':>10} {'sdk_prep p50 ms':>15}  within"
)


def _num(value: float, width: int, spec: str = ".2f") -> str:
    return f"{value:>{width}{spec}}" if math.isfinite(value) else f"{'–':>{width}}"


def cell_row(cell: CalibrationCell) -> str:
    flags = "yes" if cell.within() else "no"
    extra = []
    if cell.n_failed:
        extra.append(f"{cell.n_failed} failed")
    if cell.chunk_mismatch:
        extra.append(f"{cell.chunk_mismatch} chunk-count mismatches")
    if extra:
        flags += " (" + ", ".join(extra) + ")"
    return (
        f"{cell.provider:10} {cell.client:6} {cell.streams:>7} {cell.tokens_per_s:>6g} {cell.n:>4} "
        f"{_num(cell.ttft_err_p50_ms, 15)} {_num(cell.ttft_err_p99_ms, 8)} {_num(cell.itl_err_mean_pct, 9)} "
        f"{_num(cell.tpot_err_mean_pct, 10)} {_num(cell.sdk_prep_p50_ms, 15)}  {flags}"
    )


def verdict_lines(result: CalibrationResult) -> list[str]:
    """One line per client path: its verdict in words."""
    lines = []
    bounds = f"{result.ttft_bound_ms:g} ms (TTFT p50 and p99 error) and {result.itl_bound_pct:g} % (mean inter-token error)"
    for v in result.verdicts.values():
        label = f"{CLIENT_NAMES.get(v.client, v.client)} path"
        if v.skipped:
            lines.append(f"{label}: not calibrated ({v.skipped})")
        elif v.streams is None or v.tokens_per_s is None:
            lines.append(f"{label}: no load within {bounds}; lowest tried: {_lowest(result, v.client)}")
        else:
            line = f"{label}: within {bounds} up to {v.load_text}"
            lower_failed = [(s, t) for s, t in v.failed if s * t < v.streams * v.tokens_per_s]
            if lower_failed:
                line += " (but not at the lower " + ", ".join(f"{s} × {t:g}" for s, t in lower_failed) + ")"
            lines.append(line)
    return lines


def _lowest(result: CalibrationResult, client: str) -> str:
    cells = [c for c in result.cells if c.client == client]
    if not cells:
        return "none"
    low = min(cells, key=lambda c: (c.load, c.streams))
    return f"{_streams(low.streams)} × {low.tokens_per_s:g} tokens/s"
