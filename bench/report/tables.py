"""Markdown tables with fixed, deterministic output, and the table cells built from numbers.

Numbers themselves are formatted by :func:`bench.fmt.format_value` (one registry, unit ->
formatter); the names here (``num``, ``share``, ``count``, ``usd``) are that registry's
formatters, re-exported for the report's modules.
"""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate

from bench.fmt import DASH, as_float, count, format_value, num, share, usd
from bench.schema import BY_NAME


def heading(column: str, stat: str, *, unit: bool = True, ci: bool = False) -> str:
    """A statistic's table header from the column table: ``first token p50 (ms) [95% CI]``,
    ``tokens/s p10`` (a speed's label already says its unit)."""
    text = f"{BY_NAME[column].heading} {stat}"
    if unit and BY_NAME[column].unit == "ms":
        text += " (ms)"
    return text + (" [95% CI]" if ci else "")


def _is_missing(value: object) -> bool:
    return as_float(value) is None


def ci(low: object, high: object) -> str:
    """'[72.0–78.2]', or '' when the interval is undefined (fewer than 2 values)."""
    if _is_missing(low) or _is_missing(high):
        return ""
    return f"[{num(low)}–{num(high)}]"


def with_ci(value: object, low: object, high: object) -> str:
    interval = ci(low, high)
    return f"{num(value)} {interval}" if interval and not _is_missing(value) else num(value)


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


def shape_column(
    headers: Sequence[str], rows: Sequence[Sequence[object]], align: Sequence[str], shapes: Sequence[str], at: int
) -> tuple[list[str], list[list[object]], list[str]]:
    """A table with a ``shape`` column inserted at ``at`` (left-aligned) when any row has a request
    shape (docs/scenarios.md, "Request shapes"); unchanged for plain scenarios, so their tables
    read as they always did. ``shapes`` holds each row's label, in the rows' order."""
    if not any(shapes):
        return list(headers), [list(r) for r in rows], list(align)
    return (
        [*headers[:at], "shape", *headers[at:]],
        [[*r[:at], shape, *r[at:]] for r, shape in zip(rows, shapes, strict=True)],
        [*align[:at], "left", *align[at:]],
    )


__all__ = [
    "DASH",
    "as_float",
    "cell",
    "ci",
    "code",
    "count",
    "format_value",
    "heading",
    "num",
    "shape_column",
    "share",
    "table",
    "usd",
    "with_ci",
]
