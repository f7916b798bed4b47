"""Number formatting and markdown tables with fixed, deterministic output.

Numbers are formatted by magnitude (three significant figures or so, never scientific
notation), so the same value always prints the same way and a diff of two reports shows
only real changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import SupportsFloat

from tabulate import tabulate

from bench.schema import BY_NAME

DASH = "–"


def heading(column: str, stat: str, *, unit: bool = True, ci: bool = False) -> str:
    """A statistic's table header from the column table: ``first token p50 (ms) [95% CI]``,
    ``tokens/s p10`` (a speed's label already says its unit)."""
    text = f"{BY_NAME[column].heading} {stat}"
    if unit and BY_NAME[column].unit == "ms":
        text += " (ms)"
    return text + (" [95% CI]" if ci else "")


def as_float(value: object) -> float | None:
    """A number (Python's, numpy's, or its text) as a float; None when missing: None, NaN, pandas' NA, or not a number."""
    if not isinstance(value, (SupportsFloat, str)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _is_missing(value: object) -> bool:
    return as_float(value) is None


def num(value: object) -> str:
    """3-ish significant figures by magnitude: 1,234 · 123 · 12.3 · 1.23 · 0.123; '–' when missing."""
    v = as_float(value)
    if v is None:
        return DASH
    a = abs(v)
    if a >= 100:
        text = f"{v:,.0f}"
    elif a >= 10:
        text = f"{v:.1f}"
    elif a >= 1:
        text = f"{v:.2f}"
    elif a == 0:
        text = "0"
    else:
        text = f"{v:.3f}"
    return "0" if text in ("-0", "-0.0", "-0.00", "-0.000") else text


def ci(low: object, high: object) -> str:
    """'[72.0–78.2]', or '' when the interval is undefined (fewer than 2 values)."""
    if _is_missing(low) or _is_missing(high):
        return ""
    return f"[{num(low)}–{num(high)}]"


def with_ci(value: object, low: object, high: object) -> str:
    interval = ci(low, high)
    return f"{num(value)} {interval}" if interval and not _is_missing(value) else num(value)


def share(value: object) -> str:
    """A proportion as a percentage with one decimal: '4.0%'."""
    v = as_float(value)
    return DASH if v is None else f"{v * 100:.1f}%"


def count(value: object) -> str:
    v = as_float(value)
    return DASH if v is None else f"{int(v):,}"


def cell(text: object) -> str:
    """Make arbitrary text safe inside a pipe-table cell."""
    s = str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return s


def code(text: object) -> str:
    s = str(text).replace("`", "'")
    return f"`{s}`"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: Sequence[str] | None = None) -> str:
    """A GitHub pipe table. ``align`` per column: 'left' or 'right' (default: first left, rest right)."""
    if align is None:
        align = ["left"] + ["right"] * (len(headers) - 1)
    body = [[cell(c) for c in row] for row in rows]
    return tabulate(body, headers=[cell(h) for h in headers], tablefmt="pipe", colalign=list(align), disable_numparse=True)
