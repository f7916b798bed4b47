"""What a run cost, in US dollars, beside how fast it was: per request, per run, per 1k requests.

Prices are US dollars per million tokens (:class:`~bench.scenario.catalogue.Price`). A target's price
is resolved once, when the run starts, and recorded in run.json (``scenario.targets[].price``):

1. the scenario's ``[target.price]`` (origin ``scenario``), else
2. the model catalogue's price for that provider and model (origin ``catalogue``), else
3. none: every cost of that target is NaN and its summary says "no price" (never 0, which
   would read as "free").

A run recorded before prices existed has no ``price`` entry; its targets are priced from
today's catalogue (origin ``catalogue-today``), which says so.

Per request::

    cost_usd = (other input tokens × input rate
                + cached input tokens × cached-input rate (the input rate when none is known)
                + cache-write input tokens × cache-write rate (the input rate when none is known)
                + output tokens × output rate) / 1e6

Output tokens include reasoning tokens (usage counts them as completion tokens, and
providers bill them as output). Cached and cache-write tokens are parts of ``input_tokens``
(Anthropic's input is input + cache read + cache creation), read from the frame's
``cached_input_tokens`` and ``cache_write_input_tokens`` columns where the provider reported
them; a group where it reported none (runs from before they were recorded, providers that do
not say) prices every input token at the input rate, and the summary says so. A request
without a token count costs NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from bench.analysis.metrics import GROUP_KEYS, group_positions, measured, ok_mask
from bench.results.run_file import RunMeta
from bench.scenario.catalogue import Price, load_catalogue

__all__ = [
    "CACHED_INPUT_COLUMN",
    "CACHE_WRITE_COLUMN",
    "COST_COLUMN",
    "NO_PRICE",
    "SUMMARY_COLUMNS",
    "Price",
    "add_cost",
    "cost_summary",
    "price_for",
    "request_cost_usd",
]

#: Per-request cost column that :func:`add_cost` adds (US dollars).
COST_COLUMN: Final = "cost_usd"
#: Input tokens served from the provider's prompt cache, where a frame has them.
CACHED_INPUT_COLUMN: Final = "cached_input_tokens"
#: Input tokens written to the provider's prompt cache (Anthropic's cache creation), where a frame has them.
CACHE_WRITE_COLUMN: Final = "cache_write_input_tokens"
#: What a summary row says when its target has no price.
NO_PRICE: Final = "no price"
#: What a summary row says when cached input could not be told apart from the rest.
NO_CACHED_COUNTS: Final = "cached input tokens not recorded: all input priced at the input rate"
#: The same for tokens written to the prompt cache (a rate Anthropic bills apart).
NO_CACHE_WRITE_COUNTS: Final = "cache-write input tokens not recorded: priced at the input rate"
_PER_MTOK: Final = 1e6

#: Columns of :func:`cost_summary`, in order (after the group keys).
SUMMARY_COLUMNS: Final[tuple[str, ...]] = (
    "has_price",
    "price_input_per_mtok_usd",
    "price_output_per_mtok_usd",
    "price_cached_input_per_mtok_usd",
    "price_cache_write_per_mtok_usd",
    "price_as_of",
    "price_source",
    "price_origin",
    "priced_requests",
    "cost_per_run_usd",
    "cost_per_1k_requests_usd",
    "output_tokens_per_usd",
    "cost_note",
)


def _today(provider: str | None, model: str | None) -> Price | None:
    """Today's catalogue price for a run that recorded none (older runs), marked as such."""
    if not provider or not model:
        return None
    info = load_catalogue().get(provider, model)
    if info is None or info.price is None:
        return None
    return Price(**{**info.price.to_dict(), "origin": "catalogue-today"})


def price_for(meta: RunMeta, target: str, *, provider: str | None = None, model: str | None = None) -> Price | None:
    """The price of ``target`` (its label) in the run that ``meta`` (run.json) describes.

    US dollars per million tokens. Where it came from is in ``Price.origin`` and
    ``Price.source``: the price the run recorded when it started (the scenario's
    ``[target.price]``, else the model catalogue's); for a run that recorded no price entry
    (made before prices existed), today's catalogue price (origin ``catalogue-today``).
    None means no price is known: costs are NaN, never 0. ``provider`` and ``model`` are the
    fallback identity when run.json does not list the target.
    """
    targets = meta.scenario.get("targets")
    for entry in targets if isinstance(targets, list) else []:
        if not isinstance(entry, Mapping) or entry.get("label") != target:
            continue
        if "price" in entry:
            recorded = entry["price"]
            return Price.from_dict(recorded) if isinstance(recorded, Mapping) else None
        return _today(entry.get("provider"), entry.get("model"))
    return _today(provider, model)


def request_cost_usd(
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    price: Price | None,
    cached_input_tokens: np.ndarray | None = None,
    cache_write_input_tokens: np.ndarray | None = None,
) -> np.ndarray:
    """US dollars per request: input and output tokens at their rates (see the module text).

    ``cached_input_tokens`` and ``cache_write_input_tokens`` (parts of ``input_tokens``) are
    priced at the cached-input and cache-write rates, or at the input rate when the price has
    none; missing counts are read as 0, and together they never exceed the input tokens. NaN
    wherever there is no price or a token count is missing.
    """
    inputs = np.asarray(input_tokens, dtype="float64")
    outputs = np.asarray(output_tokens, dtype="float64")
    if price is None:
        return np.full(inputs.shape, np.nan)
    cost = inputs * price.input_per_mtok + outputs * price.output_per_mtok
    room = np.nan_to_num(inputs, nan=0.0)
    for part, rate in (
        (cached_input_tokens, price.cached_input_per_mtok),
        (cache_write_input_tokens, price.cache_write_per_mtok),
    ):
        if part is None:
            continue
        tokens = np.minimum(np.maximum(np.nan_to_num(np.asarray(part, dtype="float64"), nan=0.0), 0.0), room)
        room = room - tokens
        cost = cost + tokens * ((price.input_per_mtok if rate is None else rate) - price.input_per_mtok)
    return cost / _PER_MTOK


def _prices(frame: pd.DataFrame, meta: RunMeta) -> dict[str, Price | None]:
    """One price per target label in the frame."""
    if frame.empty:
        return {}
    ids = frame[["target", "provider", "model"]].astype("object").drop_duplicates("target")
    return {
        str(t): price_for(meta, str(t), provider=None if pd.isna(p) else str(p), model=None if pd.isna(m) else str(m))
        for t, p, m in ids.itertuples(index=False)
    }


def _column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    return frame[name].to_numpy(dtype="float64", na_value=np.nan) if name in frame else None


def add_cost(frame: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """A copy of the request frame with ``cost_usd`` (US dollars) added as the last column.

    ``meta`` is the run's run.json (:func:`bench.results.run_file.read_run_meta`): each target is
    priced by :func:`price_for`. Every row is priced whatever its status, where its token
    counts are known; the run totals (:func:`cost_summary`) count successful measured
    requests only. NaN for a target without a price, never 0.
    """
    out = frame.copy()
    cost = np.full(len(frame), np.nan)
    if len(frame):
        targets = frame["target"].astype("object").to_numpy()
        inputs = frame["input_tokens"].to_numpy(dtype="float64", na_value=np.nan)
        outputs = frame["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
        cached, written = _column(frame, CACHED_INPUT_COLUMN), _column(frame, CACHE_WRITE_COLUMN)
        for target, price in _prices(frame, meta).items():
            rows = targets == target
            cost[rows] = request_cost_usd(
                inputs[rows],
                outputs[rows],
                price,
                None if cached is None else cached[rows],
                None if written is None else written[rows],
            )
    out[COST_COLUMN] = cost
    return out


def _reported(rows: pd.DataFrame, name: str, columns: frozenset[str]) -> bool:
    """Whether any of these requests carries the count (a column of nothing but gaps is a run
    or a provider that did not say, not a count of 0)."""
    return name in columns and bool(rows[name].notna().any())


def _summary_row(rows: pd.DataFrame, price: Price | None, columns: frozenset[str]) -> dict[str, object]:
    """Cost figures of one (target, level): successful measured requests that have a cost."""
    row: dict[str, object] = {
        "has_price": price is not None,
        "price_input_per_mtok_usd": price.input_per_mtok if price else math.nan,
        "price_output_per_mtok_usd": price.output_per_mtok if price else math.nan,
        "price_cached_input_per_mtok_usd": (
            price.cached_input_per_mtok if price and price.cached_input_per_mtok is not None else math.nan
        ),
        "price_cache_write_per_mtok_usd": (
            price.cache_write_per_mtok if price and price.cache_write_per_mtok is not None else math.nan
        ),
        "price_as_of": price.as_of if price else None,
        "price_source": price.source if price else None,
        "price_origin": price.origin if price else None,
    }
    ok = rows.loc[ok_mask(rows)]
    cost = ok[COST_COLUMN].to_numpy(dtype="float64", na_value=np.nan)
    priced = ~np.isnan(cost)
    n_priced = int(priced.sum())
    total = float(cost[priced].sum()) if n_priced else math.nan
    tokens = float(np.nansum(ok["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)[priced]))
    row["priced_requests"] = n_priced
    row["cost_per_run_usd"] = total
    row["cost_per_1k_requests_usd"] = total / n_priced * 1000.0 if n_priced else math.nan
    row["output_tokens_per_usd"] = tokens / total if n_priced and total > 0 else math.nan
    notes: list[str] = []
    if price is None:
        notes.append(NO_PRICE)
    else:
        missing = len(ok) - n_priced
        if missing:
            notes.append(f"{missing} of {len(ok)} successful requests without token counts: left out")
        if not _reported(ok, CACHED_INPUT_COLUMN, columns) and price.cached_input_per_mtok is not None:
            notes.append(NO_CACHED_COUNTS)
        if not _reported(ok, CACHE_WRITE_COLUMN, columns) and price.cache_write_per_mtok is not None:
            notes.append(NO_CACHE_WRITE_COUNTS)
        if price.origin == "catalogue-today":
            notes.append("the run recorded no price: today's catalogue price")
        sources = ok["token_source"].astype("object").to_numpy()[priced]
        estimated = int((sources != "usage").sum())
        if estimated:
            notes.append(f"token counts of {estimated} requests not from usage (estimated)")
    row["cost_note"] = "; ".join(notes)
    return row


def cost_summary(frame: pd.DataFrame, meta: RunMeta) -> pd.DataFrame:
    """One row per (target, load_mode, load_level, client, shape) of measured requests: what it cost.

    Columns (after the group keys, see :data:`SUMMARY_COLUMNS`): the price used (US
    dollars per million tokens; ``price_as_of``, ``price_source`` and ``price_origin`` say
    when and where it was read), ``priced_requests`` (successful measured requests with a
    cost), ``cost_per_run_usd`` (their sum, US dollars), ``cost_per_1k_requests_usd``
    (their mean × 1000), ``output_tokens_per_usd`` (their output tokens ÷ their cost) and
    ``cost_note`` (``"no price"`` when the target has none, and anything else a reader must
    know). Costs of a target without a price are NaN, never 0. Warm-up and cancelled
    requests never count (as in every aggregate). ``frame`` may already carry ``cost_usd``.
    """
    m = measured(frame)
    if COST_COLUMN not in m.columns:
        m = add_cost(m, meta)
    prices = _prices(m, meta)
    columns = frozenset(m.columns)
    rows: list[dict[str, object]] = []
    for (target, mode, level, client, shape), idx in group_positions(m):
        row: dict[str, object] = {"target": target, "load_mode": mode, "load_level": level, "client": client, "shape": shape}
        row.update(_summary_row(m.iloc[idx], prices.get(target), columns))
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*GROUP_KEYS, *SUMMARY_COLUMNS])
    out["has_price"] = out["has_price"].astype("bool")
    out["priced_requests"] = out["priced_requests"].astype("int64")
    for col in SUMMARY_COLUMNS:
        if col.endswith("_usd") or col == "output_tokens_per_usd":
            out[col] = out[col].astype("float64")
    out["load_level"] = out["load_level"].astype("float64")
    return out
