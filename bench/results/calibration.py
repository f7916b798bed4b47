"""A saved ``bench calibrate`` result: the grid, every cell, each client path's verdict, and the
one-line note runs and reports carry about it.

Kept with results because a run reads the newest saved calibration (``latest_calibration``)
without importing the calibrator (:mod:`bench.campaigns.calibrate`); definitions of each
error are in that module's docstring and docs/scale.md.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError, cannot_write
from bench.scenario.model import CLIENTS

if TYPE_CHECKING:
    pass


#: The bounds a cell must stay within (absolute values).
TTFT_BOUND_MS = 1.0


ITL_BOUND_PCT = 1.0


#: Calibrated model per provider (catalogue entries without reasoning: every chunk is answer text).
MODELS: dict[str, str] = {"groq": "openai/gpt-oss-20b", "openai": "gpt-4.1", "anthropic": "claude-haiku-5-5"}


CLIENT_NAMES: dict[str, str] = {"sdk": "SDK", "fast": "fast"}


DEFAULT_PROVIDERS = ("groq", "openai", "anthropic")


DEFAULT_CLIENTS = ("sdk", "fast")


DEFAULT_CONCURRENCY = (1, 8, 16)


DEFAULT_TOKENS_PER_S = (100.0, 800.0)


DEFAULT_REQUESTS = 30


DEFAULT_TOKENS = 120


EMULATOR_TTFT_MS = 50.0


FORMAT_VERSION = 1


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
        return {k: json_float(v) for k, v in asdict(self).items()}

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
        return f"{streams_text(self.streams)} × {self.tokens_per_s:g} tokens/s"

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


def streams_text(n: int) -> str:
    return f"{n} stream" if n == 1 else f"{n} streams"


def json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
    """Same machine, as far as ``provenance.host()`` can tell: hostname, architecture and core count."""
    return all(a.get(k) == b.get(k) for k in ("hostname", "machine", "cpu_count"))


def path_name(client: str) -> str:
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
        f"{streams_text(v.streams) if i == 0 else v.streams} × {v.tokens_per_s:g}{' tokens/s' if i == 0 else ''} on {path_name(v.client)}"
        for i, v in enumerate(with_load)
        if v.streams is not None and v.tokens_per_s is not None
    ]
    bounds = f"within {result.ttft_bound_ms:g} ms / {result.itl_bound_pct:g} %"
    others = [
        f"{path_name(v.client)} not calibrated" if v.skipped else f"nothing {bounds} on {path_name(v.client)}"
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
