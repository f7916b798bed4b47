"""What the workload's shape did to the figures: first-token time by conversation turn, how
much input the providers served from their prompt caches, and how many tokens each provider
counted for the prompt lengths asked.

Each table is per group (target, client path, load level) over successful measured requests,
and empty when the run has nothing to say (no turns, no cache counts, no asked lengths), so a
report shows a section only for what the scenario did. docs/metrics.md.

With request shapes (docs/scenarios.md, "Request shapes") turns are told apart per shape, cache
use per cache state, and a run that ran both cache states gets :func:`cold_warm`: each input
rung's cold and warm first-token time side by side — the cache's effect at each length, which
a figure pooled over the ladder would hide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from bench.analysis.metrics import measured, ok_mask
from bench.scenario.shapes import parse


def shape_order(label: str) -> tuple[float, float, int]:
    """Sort key of a request shape: input length (a rung, or a bin's lower edge), then output
    length, then cold before warm. Labels that say nothing sort first and tie (a stable sort
    keeps their order of appearance)."""
    parts = parse(label)
    return (
        parts.input_range[0] if parts.input_range else -1.0,
        parts.output_range[0] if parts.output_range else -1.0,
        1 if parts.cache == "warm" else 0,
    )


def without_cache(label: str) -> str:
    """A shape's label less its cache state: ``input 2000, warm`` -> ``input 2000``."""
    return ", ".join(p for p in (q.strip() for q in label.split(",")) if p and p not in ("cold", "warm"))


@dataclass(frozen=True, slots=True)
class TurnRow:
    """One turn of a group's conversations: later turns carry the history, so they show what a
    growing prompt (and the provider's cache of it) does to first-token time."""

    target: str
    client: str
    load_mode: str
    load_level: float
    turn: int
    n: int
    ttft_ms_p50: float
    input_tokens_p50: float
    #: Share of the turn's input tokens the provider served from its cache (NaN: not said).
    cached_share: float
    #: The request shape ("" for a plain scenario).
    shape: str = ""


@dataclass(frozen=True, slots=True)
class CacheRow:
    """A group's use of the provider's prompt cache, as its usage reported it."""

    target: str
    client: str
    load_mode: str
    load_level: float
    n: int
    #: Requests that read any input from the cache.
    hits: int
    cached_share: float
    ttft_ms_p50: float
    #: The cache state the group's shape asked for ("cold", "warm"), "" when it asked none.
    cache: str = ""


@dataclass(frozen=True, slots=True)
class ColdWarmRow:
    """One input rung of a target, cold against warm: what the cache saved at that length.

    ``rung`` is the shape less its cache state (``input 2000``); shares are of the input tokens
    of the cold and of the warm requests the provider served from its cache (NaN: not said)."""

    target: str
    client: str
    load_mode: str
    load_level: float
    rung: str
    n_cold: int
    n_warm: int
    cold_ttft_ms_p50: float
    warm_ttft_ms_p50: float
    cold_cached_share: float
    warm_cached_share: float

    @property
    def ratio(self) -> float:
        """Warm ÷ cold first-token p50 (below 1: the cache made the first token sooner)."""
        if not (self.cold_ttft_ms_p50 > 0 and math.isfinite(self.warm_ttft_ms_p50)):
            return math.nan
        return self.warm_ttft_ms_p50 / self.cold_ttft_ms_p50


@dataclass(frozen=True, slots=True)
class TokenCountRow:
    """The prompt lengths a target's requests asked for against the provider's own count of
    the same text: tokenizers differ, so "4,000 tokens" is not the same prompt everywhere."""

    target: str
    client: str
    n: int
    asked_p50: float
    counted_p50: float
    #: Median of counted ÷ asked, request by request.
    ratio_p50: float
    #: The request shape less its cache state (a ladder's rung, a bin), "" for a plain scenario.
    rung: str = ""


_KEYS = ["target", "client", "load_mode", "load_level"]


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    rows = measured(frame)
    return rows.loc[ok_mask(rows)]


def _floats(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else math.nan


def _share(cached: np.ndarray, inputs: np.ndarray) -> float:
    said = np.isfinite(cached) & np.isfinite(inputs)
    total = float(inputs[said].sum())
    return float(cached[said].sum()) / total if said.any() and total > 0 else math.nan


def _shapes(rows: pd.DataFrame) -> pd.Series:
    """Each row's request shape, "" where it has none (old results, NA)."""
    if "shape" not in rows:
        return pd.Series("", index=rows.index, dtype="object")
    return rows["shape"].astype("object").where(rows["shape"].notna(), "")


def _groups(rows: pd.DataFrame, extra: list[str], keys: list[str] = _KEYS) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """(key, rows) per group of ``keys + extra``, in order of first appearance (an unknown client
    or shape is "")."""
    text = {k: rows[k].astype("object").fillna("") for k in ("target", "client", "load_mode")}
    text["shape"] = _shapes(rows)
    return [(cast(tuple[Any, ...], key), group) for key, group in rows.assign(**text).groupby(keys + extra, sort=False)]


def by_turn(frame: pd.DataFrame) -> list[TurnRow]:
    """First-token time, prompt length and cache share per turn (empty without conversations)."""
    rows = _ok(frame)
    if "turn" not in rows or not rows["turn"].notna().any():
        return []
    rows = rows[rows["turn"].notna()]
    out = []
    for (target, client, mode, level, shape, turn), group in _groups(rows, ["shape", "turn"]):
        inputs = _floats(group, "input_tokens")
        out.append(
            TurnRow(
                str(target),
                str(client),
                str(mode),
                float(level),
                int(turn),
                len(group),
                _median(_floats(group, "ttft_ms")),
                _median(inputs),
                _share(_floats(group, "cached_input_tokens"), inputs),
                str(shape),
            )
        )
    return sorted(out, key=lambda r: (r.target, r.client, r.load_mode, r.load_level, shape_order(r.shape), r.turn))


def cache_use(frame: pd.DataFrame) -> list[CacheRow]:
    """Per group whose provider reported cached tokens: hits, share of input and first-token time."""
    rows = _ok(frame)
    if "cached_input_tokens" not in rows:
        return []
    out = []
    states = _shapes(rows).map(lambda label: parse(label).cache or "")
    for (target, client, mode, level, cache), group in _groups(rows.assign(cache_state=states), ["cache_state"]):
        cached = _floats(group, "cached_input_tokens")
        if not np.isfinite(cached).any():
            continue  # the provider said nothing: no figure, rather than a share of 0
        out.append(
            CacheRow(
                str(target),
                str(client),
                str(mode),
                float(level),
                len(group),
                int((np.nan_to_num(cached) > 0).sum()),
                _share(cached, _floats(group, "input_tokens")),
                _median(_floats(group, "ttft_ms")),
                str(cache),
            )
        )
    return out


def cold_warm(frame: pd.DataFrame) -> list[ColdWarmRow]:
    """Per target, client, level and input rung (each shape less its cache state): cold against
    warm first-token p50 and the share of input served from cache; empty unless both cache
    states ran. Every successful measured request of the shape counts (every turn), as the
    shape's headline figures do."""
    rows = _ok(frame)
    shapes = _shapes(rows)
    states = shapes.map(lambda label: parse(label).cache or "")
    if not {"cold", "warm"} <= set(states.tolist()):
        return []
    rows = rows.assign(cache_state=states, rung=shapes.map(without_cache))
    out = []
    for (target, client, mode, level, rung), group in _groups(rows, ["rung"]):
        cold = group.loc[(group["cache_state"] == "cold").to_numpy(dtype=bool)]
        warm = group.loc[(group["cache_state"] == "warm").to_numpy(dtype=bool)]
        if cold.empty or warm.empty:
            continue
        out.append(
            ColdWarmRow(
                str(target),
                str(client),
                str(mode),
                float(level),
                str(rung),
                len(cold),
                len(warm),
                _median(_floats(cold, "ttft_ms")),
                _median(_floats(warm, "ttft_ms")),
                _share(_floats(cold, "cached_input_tokens"), _floats(cold, "input_tokens")),
                _share(_floats(warm, "cached_input_tokens"), _floats(warm, "input_tokens")),
            )
        )
    return sorted(out, key=lambda r: (r.target, r.client, r.load_mode, r.load_level, shape_order(r.rung)))


def token_counts(frame: pd.DataFrame) -> list[TokenCountRow]:
    """Asked against counted prompt length per target, client and rung (a ladder's lengths are
    not pooled into one median); first turns (later ones carry history the asked length does
    not include)."""
    rows = _ok(frame)
    if "input_tokens_asked" not in rows or not rows["input_tokens_asked"].notna().any():
        return []
    out = []
    rows = rows.assign(rung=_shapes(rows).map(without_cache))
    for (target, client, rung), group in _groups(rows, [], ["target", "client", "rung"]):
        asked, counted = _floats(group, "input_tokens_asked"), _floats(group, "input_tokens")
        both = np.isfinite(asked) & np.isfinite(counted) & (asked > 0)
        if not both.any():
            continue
        out.append(
            TokenCountRow(
                str(target),
                str(client),
                int(both.sum()),
                _median(asked[both]),
                _median(counted[both]),
                _median(counted[both] / asked[both]),
                str(rung),
            )
        )
    return sorted(out, key=lambda r: (r.target, r.client, shape_order(r.rung))) if any(r.rung for r in out) else out
