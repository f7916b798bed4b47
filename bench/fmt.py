"""How bench writes numbers, load levels and JSON values, for every output but the report.

The run summary, the gate's renderers, exports, baselines and the pytest plugin format
through these, so a level reads as ``schema.LoadLevel`` writes it (``concurrency 16``) and a missing figure is ``null`` in JSON
everywhere. (The report package keeps its own tables for now; it is to adopt these.)
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

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
