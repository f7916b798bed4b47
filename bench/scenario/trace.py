"""Request traces to replay: the public Mooncake format, one JSON object per line.

::

    {"timestamp": 0, "input_length": 6955, "output_length": 52, "hash_ids": [0, 1, 2, …]}

``timestamp`` is when the request arrived, in milliseconds from the trace's start;
``input_length`` and ``output_length`` are its prompt and response lengths in tokens;
``hash_ids`` (optional) name the prompt's blocks of :data:`BLOCK_TOKENS` tokens, so two
requests whose lists start alike share that much prompt prefix — what a provider's prompt
cache can reuse. Replaying sends each line's request at its time (divided by ``speedup``)
with a synthetic prompt built block by block from those ids, so the provider sees the trace's
lengths and its shared prefixes without the original text (docs/scenarios.md).

A trace is part of what a run measures: its fingerprint holds the file's content hash, not
its path, so the same trace under another name compares, and an edited one does not.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bench.errors import ScenarioError

#: Tokens per hash block in Mooncake traces.
BLOCK_TOKENS = 512
#: The most lines a trace may have (each becomes a request of one level).
MAX_LINES = 10_000_000


@dataclass(frozen=True)
class Trace:
    """A parsed trace: per request, its arrival (s from the first), lengths and prefix blocks."""

    arrivals_s: tuple[float, ...]
    input_lengths: tuple[int, ...]
    output_lengths: tuple[int, ...]
    hash_ids: tuple[tuple[int, ...], ...]
    #: SHA-256 of the file's bytes (first 16 hex digits).
    digest: str

    def __len__(self) -> int:
        return len(self.arrivals_s)

    @property
    def rate(self) -> float:
        """Mean arrivals per second over the trace's span (requests − 1 gaps over it)."""
        span = self.arrivals_s[-1] - self.arrivals_s[0] if len(self) > 1 else 0.0
        return (len(self) - 1) / span if span > 0 else float(len(self))


def _count(value: object, name: str, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 10_000_000:
        raise ValueError(f"{where}: {name} must be a whole number from {minimum} to 10,000,000 (got {value!r})")
    return value


def read_trace(path: Path, scenario_path: str = "") -> Trace:
    """Parse and check ``path``; any problem is one :class:`ScenarioError` naming the line."""
    where = scenario_path or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(where, "load.trace", f"cannot read {path}: {exc.strerror or exc}") from None
    arrivals: list[float] = []
    inputs: list[int] = []
    outputs: list[int] = []
    blocks: list[tuple[int, ...]] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError(where, "load.trace", f"{path}: not UTF-8 text") from None
    try:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            at = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{at}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{at}: expected an object with timestamp, input_length, output_length")
            missing = [k for k in ("timestamp", "input_length", "output_length") if k not in row]
            if missing:
                raise ValueError(f"{at}: missing {', '.join(missing)}")
            stamp = row["timestamp"]
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp) or stamp < 0:
                raise ValueError(f"{at}: timestamp must be milliseconds ≥ 0 (got {stamp!r})")
            if arrivals and stamp / 1000.0 < arrivals[-1]:
                raise ValueError(f"{at}: timestamp {stamp:g} is before the line above it; a trace is in arrival order")
            ids = row.get("hash_ids", [])
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise ValueError(f"{at}: hash_ids must be a list of whole numbers")
            arrivals.append(stamp / 1000.0)
            inputs.append(_count(row["input_length"], "input_length", at, minimum=1))
            outputs.append(_count(row["output_length"], "output_length", at, minimum=1))
            blocks.append(tuple(ids))
            if len(arrivals) > MAX_LINES:
                raise ValueError(f"{path}: more than {MAX_LINES:,} requests")
    except ValueError as exc:
        raise ScenarioError(where, "load.trace", str(exc)) from None
    if not arrivals:
        raise ScenarioError(where, "load.trace", f"{path}: no requests in the trace")
    first = arrivals[0]
    return Trace(
        tuple(a - first for a in arrivals), tuple(inputs), tuple(outputs), tuple(blocks), hashlib.sha256(raw).hexdigest()[:16]
    )


def cached_trace(path: Path) -> Trace:
    """:func:`read_trace`, read once per file version (a scenario is checked more than once)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ScenarioError(str(path), "load.trace", f"cannot read {path}: {exc.strerror or exc}") from None
    return _read_once(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_once(path: Path, mtime_ns: int, size: int) -> Trace:
    return read_trace(path)
