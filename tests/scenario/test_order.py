"""``[load] order``: how several targets take their turns, as a scenario says it (docs/scenarios.md, "Order")."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bench.errors import ScenarioError
from bench.scenario.model import load_scenario, parse_scenario
from bench.scenario.writer import scenario_to_toml

TWO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[[target]]
provider = "openai"
model = "gpt-4.1"

[load]
concurrency = [1, 4]
requests = 5
"""

ONE = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[load]
concurrency = [1]
requests = 5
"""


def _with_order(text: str, order: str | None) -> str:
    return text + (f"order = {order}\n" if order is not None else "")


@pytest.mark.parametrize(
    ("text", "order", "runs"),
    [
        (TWO, None, "interleaved"),  # the default with several targets
        (TWO, '"interleaved"', "interleaved"),
        (TWO, '"sequential"', "sequential"),
        (ONE, None, "sequential"),  # one target runs alone either way
        (ONE, '"interleaved"', "sequential"),
    ],
)
def test_the_order_that_runs(write_scenario, text: str, order: str | None, runs: str) -> None:
    scenario = load_scenario(write_scenario(_with_order(text, order)))
    assert scenario.order == runs
    assert scenario.load.order == (None if order is None else order.strip('"'))


@pytest.mark.parametrize(
    ("order", "problem"),
    [
        (
            '"interleave"',
            "load.order: unknown order 'interleave' (did you mean 'interleaved'?); expected interleaved or sequential",
        ),
        ('"parallel"', "load.order: unknown order 'parallel'; expected interleaved or sequential"),
        ("1", "load.order: expected 'interleaved' or 'sequential' (got int 1)"),
    ],
)
def test_a_bad_order_is_one_line(write_scenario, order: str, problem: str) -> None:
    path = write_scenario(_with_order(TWO, order))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: {problem}"


@pytest.mark.parametrize("order", [None, "interleaved", "sequential"])
def test_the_scenario_copy_keeps_the_order(order: str | None) -> None:
    raw = tomllib.loads(TWO)
    if order is not None:
        raw["load"]["order"] = order
    scenario = parse_scenario(raw, "s.toml")
    text = scenario_to_toml(scenario)
    assert (f'order = "{order}"' in text) == (order is not None)  # unset stays unset: the default applies again
    again = parse_scenario(tomllib.loads(text), "again.toml")
    assert again.load.order == scenario.load.order and again.order == scenario.order


def test_order_is_not_part_of_the_fingerprint() -> None:
    """Both orders measure the same thing; a baseline saved sequentially still compares."""
    raw = tomllib.loads(TWO)
    sequential = parse_scenario({**raw, "load": {**raw["load"], "order": "sequential"}}, "a.toml")
    interleaved = parse_scenario(raw, "b.toml")
    assert sequential.fingerprint() == interleaved.fingerprint()


def test_the_shipped_quickstart_interleaves(tmp_path: Path) -> None:
    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.toml")
    assert len(scenario.target) > 1 and scenario.order == "interleaved"
