"""How bench writes numbers, load levels and JSON values, for every output but the report.

The run summary, the gate's renderers, exports, baselines and the pytest plugin format
through these, so a level reads as ``schema.LoadLevel`` writes it (``concurrency 16``) and a missing figure is ``null`` in JSON
everywhere. The report formats every number through :func:`format_value` too: one registry
(unit -> formatter) decides how each kind of figure reads, so the same value prints the same way
in every table and sentence, and a diff of two reports shows only real changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Any, SupportsFloat

import numpy as np

from bench.errors import BenchError


def target_name(target: str, client: str | None) -> str:
    """A target as a group of results is named: ``groq/llama`` when the default lean client
    measured it (or nothing says which), ``groq/llama (sdk)`` when the SDK path did.

    SDK figures include the SDK's own cost, so wherever they are named they say so — and a
    run that measured a target with both clients names its two groups apart.
    """
    return f"{target} ({client})" if client and client != "fast" else target


def number(value: Any, pattern: str, missing: str = "–") -> str:
    """``pattern.format(value)``, or ``missing`` for None and NaN (never a misleading 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return pattern.format(value)


def json_safe(value: Any) -> Any:
    """A value JSON can hold: NaN and infinities become None (null), numpy scalars Python
    numbers, enums their value, tuples lists; dicts and lists recursively."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Enum):
        return str(value.value)
    return value


#: The largest change a threshold may name (10000 %, a hundredfold): past it, a typo.
MAX_FRACTION = 100.0


def parse_fraction(text: str, what: str = "threshold") -> float:
    """``10%`` or ``0.1`` → 0.1; a bare number of 1 or more is refused as ambiguous, and the
    suggestion offered is always one this function accepts."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BenchError(f"{what}: expected a percentage like 10% or a fraction like 0.1, got {text!r}") from None
    if not math.isfinite(value):
        raise BenchError(f"{what}: must be a finite number, got {text!r}")
    if not raw.endswith("%") and value >= 1:
        if value / 100 < 1:
            raise BenchError(f"{what}: {text!r} is ambiguous; write {value:g}% or {value / 100:g}")
        raise BenchError(f"{what}: {text!r} is ambiguous; write {value:g}% (a change of {value / 100:g} times the baseline)")
    if value <= 0:
        raise BenchError(f"{what}: must be greater than 0, got {text!r}")
    if value > MAX_FRACTION:
        raise BenchError(f"{what}: at most {MAX_FRACTION:.0%}, got {text!r}")
    return value


#: What a missing figure reads as in a table or a sentence (never a misleading 0).
DASH = "–"


def as_float(value: object) -> float | None:
    """A number (Python's, numpy's, or its text) as a float; None when missing: None, NaN, pandas' NA, or not a number."""
    if not isinstance(value, (SupportsFloat, str)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def num(value: object) -> str:
    """3-ish significant figures by magnitude: 1,234 · 123 · 12.3 · 1.23 · 0.123; '–' when missing.

    Never scientific notation, so the same value always prints the same way."""
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


def share(value: object) -> str:
    """A proportion as a percentage with one decimal: '4.0%'."""
    v = as_float(value)
    return DASH if v is None else f"{v * 100:.1f}%"


def count(value: object) -> str:
    """A whole count with thousands separators: '1,234'."""
    v = as_float(value)
    return DASH if v is None else f"{int(v):,}"


def usd(value: object) -> str:
    """US dollars with three significant figures, never scientific: $12.3, $0.0123, $0.0000606."""
    v = as_float(value)
    if v is None:
        return DASH
    if v == 0:
        return "$0"
    if abs(v) >= 100:
        return f"${v:,.0f}"
    decimals = max(2, 2 - math.floor(math.log10(abs(v))))
    return f"${v:.{decimals}f}"


def change(value: object) -> str:
    """A relative change with its sign and one decimal: '+4.2%' ('–' when missing or infinite)."""
    v = as_float(value)
    return f"{v:+.1%}" if v is not None and math.isfinite(v) else DASH


def signed(value: object) -> str:
    """A difference as :func:`num` writes it, with a '+' when positive: '+1.25', '-3.10', '0'."""
    text = num(value)
    return text if text == DASH or text.startswith("-") or text == "0" else "+" + text


def points(value: object) -> str:
    """A difference of two proportions in percentage points: '+1.5 pts'."""
    v = as_float(value)
    return DASH if v is None else f"{v * 100:+.1f} pts"


def decimals2(value: object) -> str:
    """Two fixed decimals (a share of one CPU core: '0.42')."""
    v = as_float(value)
    return DASH if v is None else f"{v:.2f}"


#: Unit -> formatter: every number the report writes goes through one of these.
FORMATTERS: dict[str, Callable[[object], str]] = {
    "number": num,
    "ms": num,
    "tokens/s": num,
    "tokens": num,
    "req/s": num,
    "s": num,
    "MB": num,
    "KB": num,
    "µs": num,
    "share": share,
    "count": count,
    "usd": usd,
    "change": change,
    "signed": signed,
    "points": points,
    "cores": decimals2,
}


def format_value(value: object, unit: str) -> str:
    """``value`` as the report writes a figure of ``unit`` (``ms``, ``share``, ``usd`` …: see
    :data:`FORMATTERS`); a missing value reads '–'. An unknown unit is a programming error."""
    try:
        formatter = FORMATTERS[unit]
    except KeyError:
        raise ValueError(f"no formatter for unit {unit!r}; known: {', '.join(sorted(FORMATTERS))}") from None
    return formatter(value)
