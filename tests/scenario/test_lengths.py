"""Prompt and response lengths as one number or a seeded distribution drawn per request."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench.errors import ScenarioError
from bench.scenario.lengths import LengthDistribution, describe, length_for
from bench.scenario.model import load_scenario
from bench.scenario.prompts import prompt_set, synthetic
from bench.scenario.writer import scenario_to_toml

BASE = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[request]
max_tokens = {max_tokens}

[prompts]
input_tokens = {input_tokens}

[load]
concurrency = [1]
requests = 2
"""


def _scenario(write_scenario, *, input_tokens: str = "128", max_tokens: str = "16", name: str = "s.toml"):
    return load_scenario(write_scenario(BASE.format(input_tokens=input_tokens, max_tokens=max_tokens), name=name))


def test_a_distribution_is_read_and_written_back(write_scenario, tmp_path: Path) -> None:
    scenario = _scenario(
        write_scenario,
        input_tokens="{ mean = 600, stdev = 300, min = 16, max = 4000 }",
        max_tokens="{ mean = 64.5, stdev = 0, min = 8, max = 128 }",
    )
    assert scenario.prompts.input_tokens == LengthDistribution(mean=600.0, stdev=300.0, min=16, max=4000)
    assert isinstance(scenario.request.max_tokens, LengthDistribution) and scenario.request.max_tokens.mean == 64.5
    again = tmp_path / "again.toml"
    again.write_text(scenario_to_toml(scenario), encoding="utf-8")
    assert load_scenario(again).prompts == scenario.prompts and load_scenario(again).request == scenario.request
    assert describe(scenario.prompts.input_tokens) == "mean 600 ± 300 (16–4000)" and describe(128) == "128"


@pytest.mark.parametrize(
    ("input_tokens", "field", "problem"),
    [
        ("[128, 128]", "prompts.input_tokens", "a ladder's rungs must differ"),
        ("[128, 0]", "prompts.input_tokens", "rung 2 of the ladder: Input should be greater than or equal to 1"),
        ("[128, { mean = 1, stdev = 1, min = 1, max = 2 }]", "prompts.input_tokens", "rung 2 of the ladder: a number"),
        ("[]", "prompts.input_tokens", "a ladder needs at least one length"),
        ("{ mean = 600, stdev = 300, min = 900, max = 400 }", "prompts.input_tokens", "min (900) is above max (400)"),
        ("{ mean = 6000, stdev = 300, min = 16, max = 4000 }", "prompts.input_tokens", "mean (6000) must lie within"),
        ("{ mean = 600, stdev = -1, min = 16, max = 4000 }", "prompts.input_tokens.stdev", "greater than or equal to 0"),
        ("{ mean = 600, stdev = 1, min = 16 }", "prompts.input_tokens.max", "required field is missing"),
        ("{ mean = 600, stdev = 1, min = 16, max = 4000, shape = 2 }", "prompts.input_tokens.shape", ""),
        ('"long"', "prompts.input_tokens", ""),
    ],
)
def test_bad_lengths_are_one_line_naming_the_field(write_scenario, input_tokens: str, field: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _scenario(write_scenario, input_tokens=input_tokens)
    assert info.value.field == field, str(info.value)
    assert problem in info.value.problem
    assert "\n" not in str(info.value)


def test_a_max_tokens_ladder_is_a_shape_per_rung_and_one_rung_is_a_number(write_scenario) -> None:
    scenario = _scenario(write_scenario, max_tokens="[16, 64]")
    assert [shape.label for shape in scenario.shapes()] == ["output 16", "output 64"]
    assert [scenario.at(shape).request.max_tokens for shape in scenario.shapes()] == [16, 64]
    assert _scenario(write_scenario, max_tokens="[16]").request.max_tokens == 16


def test_draws_are_seeded_per_request_clipped_and_shaped() -> None:
    spec = LengthDistribution(mean=600.0, stdev=300.0, min=16, max=4000)
    draws = [length_for(spec, 42, f"run:0:4.0:{i}") for i in range(4000)]
    assert draws == [length_for(spec, 42, f"run:0:4.0:{i}") for i in range(4000)]  # same key, same length
    assert draws != [length_for(spec, 43, f"run:0:4.0:{i}") for i in range(4000)]  # the seed matters
    assert min(draws) >= 16 and max(draws) <= 4000
    assert statistics.fmean(draws) == pytest.approx(600, rel=0.03)
    assert statistics.stdev(draws) == pytest.approx(300, rel=0.05)
    narrow = LengthDistribution(mean=50.0, stdev=1000.0, min=40, max=60)
    assert {length_for(narrow, 0, str(i)) for i in range(200)} <= set(range(40, 61))
    assert length_for(256, 0, "any") == 256


def test_synthetic_prompts_follow_their_drawn_length() -> None:
    spec = LengthDistribution(mean=2000.0, stdev=1500.0, min=100, max=8000)
    prompts = synthetic(spec, seed=7)
    for i in range(20):
        key = f"r:0:1.0:{i}"
        (message,) = prompts.for_request(key)
        asked = prompts.asked(key)
        assert asked is not None and 100 <= asked <= 8000
        words = message["content"].split()
        assert len(words) == asked - 8 + 4  # the unique prefix and "Continue this text:" make 4
        assert prompts.for_request(key) == [message]
    assert prompts.for_request("r:0:1.0:1") != prompts.for_request("r:0:1.0:2")


def test_a_fixed_length_keeps_its_prompts_and_says_its_length(tmp_path: Path) -> None:
    prompts = synthetic(128, seed=42)
    assert prompts.asked("k") == 128 and len(prompts.bases) == 16
    (message,) = prompts.for_request("k")
    assert message["content"].startswith("[") and len(message["content"].split()) == 128 - 8 + 4
    path = tmp_path / "p.jsonl"
    path.write_text('[{"role": "user", "content": "hi"}]\n', encoding="utf-8")
    assert prompt_set("file", 128, 1, path).asked("k") is None


def test_lengths_are_part_of_the_fingerprint(write_scenario) -> None:
    fixed = _scenario(write_scenario, name="a.toml").fingerprint()
    drawn = _scenario(write_scenario, input_tokens="{ mean = 128, stdev = 50, min = 16, max = 400 }", name="b.toml").fingerprint()
    capped = _scenario(write_scenario, max_tokens="{ mean = 16, stdev = 4, min = 1, max = 32 }", name="c.toml").fingerprint()
    assert len({fixed, drawn, capped}) == 3


@pytest.mark.parametrize(
    ("value", "problem"),
    [("0", "greater than or equal to 1"), ("2000000", "less than or equal to 1,000,000"), ("true", "got bool")],
)
def test_a_bad_number_is_one_problem(write_scenario, value: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _scenario(write_scenario, max_tokens=value)
    assert info.value.field == "request.max_tokens" and problem in info.value.problem
    assert "more problem" not in str(info.value)
