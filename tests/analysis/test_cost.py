"""Cost: catalogue prices from their source, the arithmetic, NaN without a price, overrides, cached input."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.analysis.cost import (
    CACHE_WRITE_COLUMN,
    CACHED_INPUT_COLUMN,
    COST_COLUMN,
    NO_CACHE_WRITE_COUNTS,
    NO_CACHED_COUNTS,
    NO_PRICE,
    SUMMARY_COLUMNS,
    add_cost,
    cost_summary,
    price_for,
    request_cost_usd,
)
from bench.errors import ScenarioError
from bench.report.export import export_run
from bench.results.records import frame_from_records, load_results
from bench.results.run_file import RunMeta, read_run_meta, write_run_meta
from bench.scenario.catalogue import CatalogueError, Price, load_catalogue, parse_catalogue
from bench.scenario.model import load_scenario
from bench.scenario.writer import scenario_to_toml
from tests.synthetic import write_synthetic_run

GROQ_120B = "groq/openai/gpt-oss-120b"
OPENAI = "openai/gpt-4-turbo"
#: A model the catalogue does not know: no price from any source.
UNKNOWN = "openai-compatible/my-model"

#: LiteLLM's price table (model_prices_and_context_window.json), US dollars per token as it
#: lists them: input, output, cache read, cache write (None: not listed). Release 1.110.2
#: (2026-11-20) where it lists the model, else the file at commit 00035b69 (retired models).
LITELLM_PER_TOKEN: dict[tuple[str, str], tuple[str, str, str | None, str | None]] = {
    ("groq", "openai/gpt-oss-120b"): ("1.5e-07", "6e-07", "7.5e-08", None),
    ("groq", "openai/gpt-oss-20b"): ("7.5e-08", "3e-07", "3.75e-08", None),
    ("groq", "openai/gpt-oss-safeguard-20b"): ("7.5e-08", "3e-07", "3.7e-08", None),
    ("groq", "qwen/qwen3.8-27b"): ("8e-07", "4e-06", None, None),
    ("groq", "llama-3.3-70b-versatile"): ("5.9e-07", "7.9e-07", None, None),
    ("groq", "llama-3.1-8b-instant"): ("5e-08", "8e-08", None, None),
    ("openai", "gpt-4-turbo"): ("1e-05", "3e-05", None, None),
    ("openai", "gpt-4.1"): ("2e-06", "8e-06", "5e-07", None),
    ("openai", "gpt-5.1"): ("1.25e-06", "1e-05", "1.25e-07", None),
    ("openai", "gpt-5-mini"): ("2.5e-07", "2e-06", "2.5e-08", None),
    ("anthropic", "claude-opus-5-5"): ("4e-06", "2e-05", "2e-07", "5e-06"),
    ("anthropic", "claude-sonnet-5-5"): ("2e-06", "1e-05", "1e-07", "2.5e-06"),
    ("anthropic", "claude-haiku-5-5"): ("1e-07", "5e-07", "1e-08", "1.25e-07"),
    ("anthropic", "claude-3-opus-20240229"): ("1.5e-05", "7.5e-05", "1.5e-06", "1.875e-05"),
}
#: Catalogue models the table has no entry for (Groq's long-retired models, Claude 3.5 Sonnet).
UNPRICED = {
    ("groq", "minimaxai/minimax-m2.7"),
    ("groq", "llama-3.1-70b-versatile"),
    ("groq", "llama3-70b-8192"),
    ("groq", "llama3-8b-8192"),
    ("groq", "mixtral-8x7b-32768"),
    ("anthropic", "claude-3-5-sonnet-20240620"),
}
RELEASE = "LiteLLM model_prices_and_context_window.json, litellm 1.110.2 (2026-11-20)"
COMMIT = "LiteLLM model_prices_and_context_window.json, BerriAI/litellm commit 00035b69 (2026-04-23 or later)"


# --------------------------------------------------------------------------- catalogue


def _per_mtok(per_token: str | None) -> float | None:
    return None if per_token is None else float(per_token) * 1e6


def test_catalogue_prices_are_litellms_per_token_figures_per_million() -> None:
    catalogue = load_catalogue()
    for (provider, model), (inp, out, cached, written) in LITELLM_PER_TOKEN.items():
        info = catalogue.get(provider, model)
        assert info is not None and info.price is not None, model
        price = info.price
        assert price.input_per_mtok == pytest.approx(_per_mtok(inp), rel=1e-12), model
        assert price.output_per_mtok == pytest.approx(_per_mtok(out), rel=1e-12), model
        assert price.cached_input_per_mtok == (None if cached is None else pytest.approx(_per_mtok(cached), rel=1e-12))
        assert price.cache_write_per_mtok == (None if written is None else pytest.approx(_per_mtok(written), rel=1e-12))
        # Cited as a reader would cite it: the table, its version and date, and the day it was read.
        retired = model in ("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "claude-3-opus-20240229")
        assert (price.origin, price.as_of, price.source) == ("catalogue", "2026-12-04", COMMIT if retired else RELEASE)


def test_every_catalogue_model_with_a_published_price_has_it_and_no_price_is_invented() -> None:
    catalogue = load_catalogue()
    priced = {(m.provider, m.id) for m in catalogue.models() if m.price is not None}
    assert priced == set(LITELLM_PER_TOKEN)
    assert {(m.provider, m.id) for m in catalogue.models()} == priced | UNPRICED


@pytest.mark.parametrize("name", ["quickstart", "groq-vs-peers"])
def test_every_quickstart_and_groq_vs_peers_target_is_priced(name: str) -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / f"{name}.toml")
    for target in scenario.resolved()["targets"]:
        price = target["price"]
        assert price is not None and price["input_per_mtok"] > 0 and price["output_per_mtok"] > 0, target["label"]
        assert price["source"] and "/work" not in price["source"] and price["as_of"], target["label"]


@pytest.mark.parametrize(
    ("price", "problem"),
    [
        ({"input_per_mtok": 1.0, "as_of": "2026-11-01", "source": "x"}, "input_per_mtok and output_per_mtok are required"),
        ({"input_per_mtok": 1.0, "output_per_mtok": 2.0}, "as_of and source are required"),
        ({"input_per_mtok": -1.0, "output_per_mtok": 2.0, "as_of": "d", "source": "s"}, "US dollars >= 0"),
        ({"input_per_mtok": 1.0, "output_per_mtok": 2.0, "as_of": "d", "source": "s", "per_image": 1}, "unknown key"),
    ],
)
def test_a_malformed_catalogue_price_is_refused_by_name(price: dict[str, Any], problem: str) -> None:
    data = {
        "openai": {
            "defaults": {"ttft_ms": 1.0, "tokens_per_s": 1.0},
            "models": [{"id": "m", "status": "production", "price": price}],
        }
    }
    with pytest.raises(CatalogueError, match=rf"\[\[openai.models\]\] m: price: .*{problem}"):
        parse_catalogue(data)


# --------------------------------------------------------------------------- arithmetic


def test_request_cost_is_tokens_times_rates_per_million() -> None:
    price = Price(input_per_mtok=0.15, output_per_mtok=0.60)
    cost = request_cost_usd(np.array([1000.0, 0.0, np.nan]), np.array([500.0, 2_000_000.0, 10.0]), price)
    assert cost[0] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)  # 0.00045 USD
    assert cost[1] == pytest.approx(1.20)
    assert math.isnan(cost[2])  # an unknown token count costs NaN, not 0


def test_without_a_price_every_cost_is_nan_never_zero() -> None:
    cost = request_cost_usd(np.array([100.0]), np.array([100.0]), None)
    assert math.isnan(cost[0])


def test_cached_input_at_the_cached_rate_when_usage_reports_it() -> None:
    price = Price(input_per_mtok=1.0, output_per_mtok=4.0, cached_input_per_mtok=0.25)
    cost = request_cost_usd(np.array([1000.0, 1000.0]), np.array([0.0, 0.0]), price, np.array([400.0, np.nan]))
    assert cost[0] == pytest.approx((600 * 1.0 + 400 * 0.25) / 1e6)
    assert cost[1] == pytest.approx(1000 * 1.0 / 1e6)  # no count: all input at the input rate
    # A price without a cached rate prices cached tokens at the input rate.
    plain = Price(input_per_mtok=1.0, output_per_mtok=4.0)
    assert request_cost_usd(np.array([1000.0]), np.array([0.0]), plain, np.array([400.0]))[0] == pytest.approx(1e-3)


# --------------------------------------------------------------------------- frames


def _run(tmp_path: Path, **kwargs: Any) -> Path:
    return write_synthetic_run(tmp_path / "runs", targets=(GROQ_120B, OPENAI, UNKNOWN), n=8, warmup=2, error_share=0.25, **kwargs)


def _set_price(run: Path, label: str, price: dict[str, Any] | None) -> None:
    meta = read_run_meta(run)
    for target in meta.scenario["targets"]:
        if target["label"] == label:
            target["price"] = price
    write_run_meta(run, meta)


def test_add_cost_prices_each_target_and_nan_for_the_unpriced(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _set_price(run, GROQ_120B, Price(0.15, 0.60, 0.075, "2026-11-01", "test sheet").to_dict())
    _set_price(run, OPENAI, None)
    frame = load_results(run)
    priced = add_cost(frame, read_run_meta(run))
    assert list(priced.columns) == [*frame.columns, COST_COLUMN] and COST_COLUMN not in frame  # a copy
    groq = priced[(priced["target"] == GROQ_120B) & priced["output_tokens"].notna()]
    expected = (groq["input_tokens"] * 0.15 + groq["output_tokens"] * 0.60) / 1e6
    np.testing.assert_allclose(groq[COST_COLUMN], expected)
    assert priced.loc[priced["target"] == OPENAI, COST_COLUMN].isna().all()


def test_cost_summary_per_target_and_level(tmp_path: Path) -> None:
    run = _run(tmp_path, levels=(1, 4))
    _set_price(run, GROQ_120B, Price(0.15, 0.60, 0.075, "2026-11-01", "test sheet", origin="scenario").to_dict())
    _set_price(run, OPENAI, None)
    frame = load_results(run)
    summary = cost_summary(frame, read_run_meta(run))
    assert list(summary.columns) == ["target", "load_mode", "load_level", "client", "shape", *SUMMARY_COLUMNS]
    assert len(summary) == 6
    for _, row in summary.iterrows():
        rows = frame[(frame["target"] == row["target"]) & (frame["load_level"] == row["load_level"])]
        ok = rows[~rows["warmup"] & (rows["status"] == "ok")]  # warm-up and failed requests never count
        if row["target"] in (OPENAI, UNKNOWN):
            assert not row["has_price"] and row["cost_note"] == NO_PRICE
            assert math.isnan(row["cost_per_run_usd"]) and math.isnan(row["cost_per_1k_requests_usd"])
            assert math.isnan(row["output_tokens_per_usd"])
            continue
        cost = float(((ok["input_tokens"] * 0.15 + ok["output_tokens"] * 0.60) / 1e6).sum())
        assert row["has_price"] and row["priced_requests"] == len(ok)
        assert row["cost_per_run_usd"] == pytest.approx(cost)
        assert row["cost_per_1k_requests_usd"] == pytest.approx(cost / len(ok) * 1000)
        assert row["output_tokens_per_usd"] == pytest.approx(ok["output_tokens"].sum() / cost)
        assert (row["price_source"], row["price_as_of"], row["price_origin"]) == ("test sheet", "2026-11-01", "scenario")
        # The frame has no cached-token column: the note says all input was priced at the input rate.
        assert NO_CACHED_COUNTS in row["cost_note"]


def test_cost_summary_uses_a_cached_token_column_when_there_is_one(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _set_price(run, GROQ_120B, Price(1.0, 4.0, 0.25, "2026-11-01", "sheet").to_dict())
    frame = load_results(run)
    frame[CACHED_INPUT_COLUMN] = np.where(frame["target"] == GROQ_120B, 100.0, np.nan)
    summary = cost_summary(frame, read_run_meta(run)).set_index("target")
    ok = frame[(frame["target"] == GROQ_120B) & ~frame["warmup"] & (frame["status"] == "ok")]
    expected = float((((ok["input_tokens"] - 100) * 1.0 + 100 * 0.25 + ok["output_tokens"] * 4.0) / 1e6).sum())
    assert summary.loc[GROQ_120B, "cost_per_run_usd"] == pytest.approx(expected)
    assert NO_CACHED_COUNTS not in summary.loc[GROQ_120B, "cost_note"]


def test_cache_writes_are_priced_at_the_cache_write_rate() -> None:
    # Anthropic: 1000 input tokens of which 300 read from the cache and 500 written to it.
    price = Price(input_per_mtok=2.0, output_per_mtok=10.0, cached_input_per_mtok=0.1, cache_write_per_mtok=2.5)
    cost = request_cost_usd(np.array([1000.0]), np.array([100.0]), price, np.array([300.0]), np.array([500.0]))
    assert cost[0] == pytest.approx((200 * 2.0 + 300 * 0.1 + 500 * 2.5 + 100 * 10.0) / 1e6)
    # Without a cache-write rate they cost the input rate; the parts never exceed the input.
    plain = Price(input_per_mtok=2.0, output_per_mtok=10.0)
    cost = request_cost_usd(np.array([1000.0]), np.array([0.0]), plain, np.array([300.0]), np.array([500.0]))
    assert cost[0] == pytest.approx(1000 * 2.0 / 1e6)
    capped = request_cost_usd(np.array([100.0]), np.array([0.0]), price, np.array([80.0]), np.array([500.0]))
    assert capped[0] == pytest.approx((80 * 0.1 + 20 * 2.5) / 1e6)


def test_cost_summary_uses_a_cache_write_column_and_says_when_there_is_none(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _set_price(run, GROQ_120B, Price(1.0, 4.0, 0.25, "2026-11-01", "sheet", cache_write_per_mtok=1.25).to_dict())
    frame = load_results(run)
    meta = read_run_meta(run)
    without = cost_summary(frame, meta).set_index("target")
    assert NO_CACHE_WRITE_COUNTS in without.loc[GROQ_120B, "cost_note"]
    assert without.loc[GROQ_120B, "price_cache_write_per_mtok_usd"] == 1.25
    frame[CACHE_WRITE_COLUMN] = np.where(frame["target"] == GROQ_120B, 50.0, np.nan)
    summary = cost_summary(frame, meta).set_index("target")
    ok = frame[(frame["target"] == GROQ_120B) & ~frame["warmup"] & (frame["status"] == "ok")]
    expected = float((((ok["input_tokens"] - 50) * 1.0 + 50 * 1.25 + ok["output_tokens"] * 4.0) / 1e6).sum())
    assert summary.loc[GROQ_120B, "cost_per_run_usd"] == pytest.approx(expected)
    assert NO_CACHE_WRITE_COUNTS not in summary.loc[GROQ_120B, "cost_note"]


def test_a_run_without_recorded_prices_is_priced_from_todays_catalogue(tmp_path: Path) -> None:
    run = _run(tmp_path)  # synthetic run.json, like runs made before prices: no "price" entries
    meta = read_run_meta(run)
    price = price_for(meta, GROQ_120B)
    assert price is not None and price.origin == "catalogue-today" and price.input_per_mtok == pytest.approx(0.15)
    assert price_for(meta, OPENAI) is not None and price_for(meta, UNKNOWN) is None
    summary = cost_summary(load_results(run), meta).set_index("target")
    assert "today's catalogue price" in summary.loc[GROQ_120B, "cost_note"]
    # A run that recorded "no price" keeps it, even where today's catalogue has one.
    _set_price(run, GROQ_120B, None)
    assert price_for(read_run_meta(run), GROQ_120B) is None
    # An unknown label falls back on the provider and model given.
    assert price_for(RunMeta(), "x", provider="groq", model="openai/gpt-oss-20b") is not None


def test_requests_without_token_counts_are_left_out_and_said(tmp_path: Path) -> None:
    run = _run(tmp_path)
    frame = load_results(run)
    target_ok = (frame["target"] == GROQ_120B) & (frame["status"] == "ok") & ~frame["warmup"]
    frame.loc[frame.index[target_ok][0], "output_tokens"] = np.nan
    row = cost_summary(frame, read_run_meta(run)).set_index("target").loc[GROQ_120B]
    assert row["priced_requests"] == int(target_ok.sum()) - 1
    assert f"1 of {int(target_ok.sum())} successful requests without token counts" in row["cost_note"]


def test_empty_frame() -> None:
    summary = cost_summary(frame_from_records([]), RunMeta())
    assert summary.empty and list(summary.columns) == ["target", "load_mode", "load_level", "client", "shape", *SUMMARY_COLUMNS]


# --------------------------------------------------------------------------- scenario


SCENARIO = """
[scenario]
name = "priced"

[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
{price}
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[[target]]
provider = "anthropic"
model = "claude-3-5-sonnet-20240620"

[load]
concurrency = [1]
requests = 2
"""


def _scenario(tmp_path: Path, price: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SCENARIO.format(price=price)), encoding="utf-8")
    return path


def test_target_price_beats_the_catalogue_and_is_recorded(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        '[target.price]\ninput_per_mtok = 0.1\noutput_per_mtok = 0.5\nas_of = 2026-11-01\nsource = "contract 42"\n',
    )
    scenario = load_scenario(path)
    prices = [t["price"] for t in scenario.resolved()["targets"]]
    assert prices[0] == {
        "input_per_mtok": 0.1, "output_per_mtok": 0.5, "cached_input_per_mtok": None,
        "as_of": "2026-11-01", "source": "contract 42", "origin": "scenario", "cache_write_per_mtok": None,
    }  # fmt: skip
    assert prices[1]["origin"] == "catalogue" and prices[1]["input_per_mtok"] == pytest.approx(0.075)
    assert prices[2] is None  # the price table has no entry for it: recorded as no price
    json.dumps(scenario.resolved())  # run.json can hold it
    # scenario.toml in the run directory repeats the run with the same price.
    again = tmp_path / "again.toml"
    again.write_text(scenario_to_toml(scenario), encoding="utf-8")
    assert load_scenario(again).target[0].price == scenario.target[0].price
    meta = RunMeta(scenario=scenario.resolved())
    price = price_for(meta, "groq/openai/gpt-oss-120b")
    assert price is not None and (price.input_per_mtok, price.origin) == (0.1, "scenario")


@pytest.mark.parametrize(
    ("table", "field", "problem"),
    [
        ("input_per_mtok = 0.1\n", "target[0].price.output_per_mtok", "required field is missing"),
        ("input_per_mtok = -0.1\noutput_per_mtok = 1\n", "target[0].price.input_per_mtok", "greater than or equal to 0"),
        ("input_per_mtok = 0.1\noutput_per_mtok = 1\nper_request = 1\n", "target[0].price.per_request", "unknown key"),
        ('input_per_mtok = "0.1"\noutput_per_mtok = 1\n', "target[0].price.input_per_mtok", "valid number"),
    ],
)
def test_a_bad_target_price_is_one_scenario_error(tmp_path: Path, table: str, field: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario(tmp_path, "[target.price]\n" + table))
    assert field in str(info.value) and problem in str(info.value)


def test_export_writes_cost_columns(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _set_price(run, OPENAI, None)
    export_run(run, "csv", tmp_path / "out")
    requests = pd.read_csv(tmp_path / "out" / "requests.csv")
    aggregates = pd.read_csv(tmp_path / "out" / "aggregates.csv").set_index("target")
    assert COST_COLUMN in requests and requests.loc[requests["target"] == OPENAI, COST_COLUMN].isna().all()
    assert aggregates.loc[OPENAI, "cost_note"] == NO_PRICE and math.isnan(aggregates.loc[OPENAI, "cost_per_run_usd"])
    assert aggregates.loc[GROQ_120B, "cost_per_run_usd"] > 0
