"""Loaded rows are checked before anything is computed from them: impossible values are set aside.

Results files are data from outside this process (another tool, an edited file, a disk that
lied): a TTFT of −50 ms would pass any latency SLO, a negative token count would make a
negative price, text where a number belongs would silently become "no value". So every
timing, speed and count must be a finite number in its plausible range, or absent; a row
that breaks this is left out of the frame, and the reader is told which rows and why — on
stderr when the file is read, in the run's summary and in its report (docs/metrics.md).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from bench.schema import TABLE

#: Longest a timing may be: 10^9 ms is 11.6 days, far beyond the longest request timeout (1 day).
_MAX_MS: Final = 1e9
#: Largest a count or a speed may be.
_MAX_COUNT: Final = 1e9

#: Column -> (lowest, highest) value it can hold; absent (NaN) is always allowed.
LIMITS: Final[dict[str, tuple[float, float]]] = {
    **{c.name: (0.0, _MAX_MS) for c in TABLE if c.unit == "ms" and c.dtype == "float64"},
    **{c.name: (0.0, _MAX_COUNT) for c in TABLE if c.unit in ("tokens", "tok/s")},
    "itl_ms": (0.0, _MAX_MS),
    "content_chunks": (0.0, _MAX_COUNT),
    "tool_call_chunks": (0.0, _MAX_COUNT),
    "conversation": (0.0, 1e12),
    "turn": (1.0, 1_000.0),
    "retries": (0.0, 1_000.0),
    "request_index": (0.0, 1e12),
    "worker": (0.0, 1e6),
    "started_at_ns": (0.0, float(2**63 - 1)),
    "load_level": (1e-9, _MAX_COUNT),
    "http_status": (100.0, 599.0),
}
#: How many bad rows a warning names before it says "…".
_SHOWN: Final = 3
#: Where a frame carries what loading set aside (``DataFrame.attrs``).
ATTR: Final = "bench_set_aside"


@dataclass(frozen=True)
class SetAside:
    """Rows loading left out: how many, from where, and the first few by line and reason."""

    source: str
    count: int
    examples: tuple[str, ...]

    def describe(self) -> str:
        more = " …" if self.count > len(self.examples) else ""
        rows = "request" if self.count == 1 else "requests"
        return f"{self.count} {rows} with impossible values set aside ({'; '.join(self.examples)}{more})"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "count": self.count, "examples": list(self.examples)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SetAside:
        return cls(str(data["source"]), int(data["count"]), tuple(str(e) for e in data["examples"]))


def set_aside(frame: pd.DataFrame) -> SetAside | None:
    """What loading left out of ``frame`` (None when nothing, or for a frame not loaded from a file)."""
    data = frame.attrs.get(ATTR)
    return SetAside.from_dict(data) if isinstance(data, Mapping) else None


def _shown(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _why(value: Any, low: float, high: float) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return "not a finite number"
        return f"below {_shown(low)}" if value < low else f"above {_shown(high)}"
    return "not a number"


def numeric_problem(column: str, value: Any) -> str | None:
    """Why ``value`` cannot stand in ``column`` (text, a boolean, NaN/inf, out of range), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{column} = {_shown(value)}: not a number"
    low, high = LIMITS.get(column, (-math.inf, math.inf))
    if math.isfinite(value) and low <= value <= high:
        return None
    return f"{column} = {_shown(value)}: {_why(value, low, high)}"


def _range_problems(frame: pd.DataFrame) -> dict[int, str]:
    """Row position -> the first out-of-range value in it (vectorised per column)."""
    problems: dict[int, str] = {}
    for column, (low, high) in LIMITS.items():
        if column not in frame.columns:
            continue
        if column == "itl_ms":
            for position, gap in _bad_in_lists(frame[column], low, high):
                problems.setdefault(position, f"itl_ms holds {_shown(gap)}: {_why(gap, low, high)}")
            continue
        values = frame[column].to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(values) & ~((values >= low) & (values <= high))
        for found in np.flatnonzero(bad).tolist():
            value = float(values[found])
            problems.setdefault(found, f"{column} = {_shown(value)}: {_why(value, low, high)}")
    return problems


def _bad_in_lists(column: pd.Series, low: float, high: float) -> list[tuple[int, Any]]:
    """(row, first bad value) for list cells holding a value outside [low, high], NaN or text."""
    cells = column.tolist()
    lengths = np.fromiter((len(cell) for cell in cells), dtype=np.int64, count=len(cells))
    try:
        flat = np.fromiter(itertools.chain.from_iterable(cells), dtype="float64", count=int(lengths.sum()))
    except (TypeError, ValueError):  # text or None inside a list: the careful way
        found = []
        for row, cell in enumerate(cells):
            bad = [v for v in cell if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high]
            if bad:
                found.append((row, bad[0]))
        return found
    with np.errstate(invalid="ignore"):
        bad_values = ~((flat >= low) & (flat <= high))  # NaN inside a list of gaps is bad too
    if not bad_values.any():
        return []
    rows = np.repeat(np.arange(len(cells)), lengths)
    first: dict[int, Any] = {}
    for position in np.flatnonzero(bad_values):
        first.setdefault(int(rows[position]), float(flat[position]))
    return list(first.items())


def drop_impossible(
    frame: pd.DataFrame, text_problems: Mapping[int, str], *, source: str, first_line: int = 1, warn: bool = True
) -> pd.DataFrame:
    """``frame`` without rows holding impossible values, and what was set aside in its attrs.

    ``text_problems`` are rows the parser already found holding text where a number belongs
    (by position). Rows are named by their line in ``source``: position + ``first_line``.
    """
    problems = {**_range_problems(frame), **text_problems}
    if not problems:
        return frame
    rows = sorted(problems)
    examples = tuple(f"line {row + first_line}: {problems[row]}" for row in rows[:_SHOWN])
    found = SetAside(source, len(rows), examples)
    kept = frame.drop(index=frame.index[rows]).reset_index(drop=True)
    kept.attrs[ATTR] = found.to_dict()
    if warn:
        print(f"bench: warning: {source}: {found.describe()}; the figures leave them out", file=sys.stderr)
    return kept
