"""``bench calibrate`` printed: one row per cell, one verdict line per client path."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench.results.calibration import (
    CLIENT_NAMES,
    CalibrationCell,
    CalibrationResult,
    streams_text,
)

if TYPE_CHECKING:
    pass


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
    return f"{streams_text(low.streams)} × {low.tokens_per_s:g} tokens/s"
