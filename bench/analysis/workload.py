"""What the workload's shape did to the figures: first-token time by conversation turn, how
much input the providers served from their prompt caches, and how many tokens each provider
counted for the prompt lengths asked.

Each table is per group (target, client path, load level) over successful measured requests,
and empty when the run has nothing to say (no turns, no cache counts, no asked lengths), so a
report shows a section only for what the scenario did. docs/metrics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from bench.analysis.metrics import measured, ok_mask


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


def _groups(rows: pd.DataFrame, extra: list[str], keys: list[str] = _KEYS) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """(key, rows) per group of ``keys + extra``, in order of first appearance (an unknown client is "")."""
    text = {k: rows[k].astype("object").fillna("") for k in ("target", "client", "load_mode")}
    return [(cast(tuple[Any, ...], key), group) for key, group in rows.assign(**text).groupby(keys + extra, sort=False)]


def by_turn(frame: pd.DataFrame) -> list[TurnRow]:
    """First-token time, prompt length and cache share per turn (empty without conversations)."""
    rows = _ok(frame)
    if "turn" not in rows or not rows["turn"].notna().any():
        return []
    rows = rows[rows["turn"].notna()]
    out = []
    for (target, client, mode, level, turn), group in _groups(rows, ["turn"]):
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
            )
        )
    return sorted(out, key=lambda r: (r.target, r.client, r.load_mode, r.load_level, r.turn))


def cache_use(frame: pd.DataFrame) -> list[CacheRow]:
    """Per group whose provider reported cached tokens: hits, share of input and first-token time."""
    rows = _ok(frame)
    if "cached_input_tokens" not in rows:
        return []
    out = []
    for (target, client, mode, level), group in _groups(rows, []):
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
            )
        )
    return out


def token_counts(frame: pd.DataFrame) -> list[TokenCountRow]:
    """Asked against counted prompt length per target and client (first turns: later ones
    carry history the asked length does not include)."""
    rows = _ok(frame)
    if "input_tokens_asked" not in rows or not rows["input_tokens_asked"].notna().any():
        return []
    out = []
    for (target, client), group in _groups(rows, [], ["target", "client"]):
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
            )
        )
    return out
