"""Request shapes: ladders, both cache states and bins make groups of their own; SLO classes
select among them. Every mistake is one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ScenarioError
from bench.scenario.model import load_scenario
from bench.scenario.shapes import Shape, bin_label, parse, span_label, split_rung
from bench.scenario.writer import scenario_to_toml

HEAD = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[load]
concurrency = [1]
requests = 2
"""


def _load(write_scenario, body: str) -> object:
    return load_scenario(write_scenario(HEAD + body))


def test_ladders_and_cache_states_multiply_into_shapes_in_order(write_scenario, tmp_path: Path) -> None:
    scenario = _load(
        write_scenario,
        """
[request]
max_tokens = [16, 64]
[prompts]
input_tokens = [2000, 8000]
shared_prefix_tokens = 1100
cache = ["cold", "warm"]
""",
    )
    labels = [shape.label for shape in scenario.shapes()]
    assert labels[:3] == ["input 2000, output 16, cold", "input 2000, output 16, warm", "input 2000, output 64, cold"]
    assert len(labels) == 8 and len(set(labels)) == 8
    at = scenario.at(Shape(8000, 64, "warm"))
    assert (at.prompts.input_tokens, at.request.max_tokens, at.prompts.cache) == (8000, 64, "warm")
    assert scenario.at(Shape()) is scenario
    # Written back and read again, it is the same scenario (a run directory's scenario.toml).
    again = tmp_path / "again.toml"
    again.write_text(scenario_to_toml(scenario), encoding="utf-8")
    assert [s.label for s in load_scenario(again).shapes()] == labels


def test_a_plain_scenario_has_one_unlabelled_shape_and_keeps_its_fingerprint(write_scenario) -> None:
    plain = _load(write_scenario, "[prompts]\ninput_tokens = 128\n")
    assert plain.shapes() == [Shape()] and plain.shapes()[0].label == ""
    one_rung = _load(write_scenario, "[prompts]\ninput_tokens = [128]\n")
    assert one_rung.fingerprint() == plain.fingerprint()
    ladder = _load(write_scenario, "[prompts]\ninput_tokens = [128, 256]\n")
    assert ladder.fingerprint() != plain.fingerprint()


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ('[prompts]\ncache = ["warm", "warm"]\nshared_prefix_tokens = 1100\ninput_tokens = 2000', "prompts.cache", "once each"),
        ("[prompts]\ninput_tokens = 500\nbins = [0, 1000]", "prompts.bins", "bins group drawn or replayed"),
        (
            "[prompts]\ninput_tokens = { mean = 500, stdev = 100, min = 10, max = 900 }\nbins = [100, 50]",
            "prompts.bins",
            "ascending",
        ),
        (
            "[request]\nmax_tokens = [16, 32]\n[target.request]\nmax_tokens = 8",
            "target[0].request.max_tokens",
            "[request] max_tokens is a ladder",
        ),
        (
            "[prompts]\ninput_tokens = [128, 2000]\n[slo.class.long]\ninput_tokens = 8000\nttft_p95_ms = 900",
            "slo.class.long",
            "covers none",
        ),
        ("[prompts]\ninput_tokens = [128, 2000]\n[slo.class.long]\nttft_p95_ms = 900", "slo.class.long", "say which requests"),
        ("[prompts]\ninput_tokens = [128, 2000]\n[slo.class.long]\ninput_tokens = 2000", "slo.class.long", "no SLO in the class"),
        (
            "[prompts]\ninput_tokens = [128, 2000]\n[slo.class.long]\ninput_tokens = 2000\nttft_p96_ms = 9",
            "slo.class.long.ttft_p96_ms",
            "unknown SLO key",
        ),
        (
            "[prompts]\ninput_tokens = [128, 2000]\n[slo.class.a]\ninput_tokens = 2000\nttft_p95_ms = 9\n"
            "[slo.class.b]\ninput_tokens = [128, 2000]\nttft_p95_ms = 9",
            "slo.class.b",
            "which class 'a' covers too",
        ),
        (
            '[prompts]\ninput_tokens = [128, 2000]\n[slo.class.x]\ninput_tokens = "long"\nttft_p95_ms = 9',
            "slo.class.x.input_tokens",
            "",
        ),
    ],
)
def test_shape_mistakes_are_one_line_naming_the_field(write_scenario, body: str, field: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(write_scenario, body)
    assert info.value.field == field, str(info.value)
    assert problem in info.value.problem
    assert "\n" not in str(info.value)


def test_a_trace_refuses_ladders_and_both_cache_states(write_scenario, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 600, "output_length": 8}\n', encoding="utf-8")
    base = HEAD.replace("concurrency = [1]\nrequests = 2", 'trace = "t.jsonl"')
    for body, field in (
        ("[prompts]\ninput_tokens = [128, 2000]\n", "prompts.input_tokens"),
        ("[request]\nmax_tokens = [8, 16]\n", "request.max_tokens"),
    ):
        with pytest.raises(ScenarioError) as info:
            load_scenario(write_scenario(base + body))
        assert info.value.field == field and "trace" in info.value.problem
    binned = load_scenario(write_scenario(base + "[prompts]\nbins = [0, 1000]\n"))
    assert binned.prompts.bins == [0, 1000]


def test_bin_labels_and_their_parse_round_trip() -> None:
    bins = [0, 1000, 8000]
    assert [bin_label(bins, n) for n in (0, 999, 1000, 7999, 8000, 10**6)] == [
        "input 0-999",
        "input 0-999",
        "input 1000-7999",
        "input 1000-7999",
        "input 8000+",
        "input 8000+",
    ]
    assert bin_label([100], 5) == "input <100"
    assert parse("input <100").input_range == (0.0, 99.0)
    assert parse("input 8000+, warm") == parse("input 8000+, warm")._replace(input_range=(8000.0, float("inf")))
    assert parse("input 8000+, warm").cache == "warm"
    assert parse("input 2000, output 64, cold") == ((2000.0, 2000.0), (64.0, 64.0), "cold")
    assert parse("input x, something new") == parse("")  # unknown parts are skipped
    assert Shape(2000, None, "warm").with_bin([0, 1000], 5) == "input 0-999, input 2000, warm"
    assert Shape().with_bin([0, 1000], 1500) == "input 1000+" and Shape().with_bin([], 5) == ""


def test_rungs_split_and_span_labels() -> None:
    assert split_rung("input 2000, warm") == (2000, "warm")
    assert split_rung("input 1000-7999") == (None, "input 1000-7999")
    assert split_rung("output 64") == (None, "output 64")
    assert span_label(128, 32000, "warm") == "input 128-32000, warm" and span_label(1, 2, "") == "input 1-2"


def test_slo_classes_apply_over_the_scenario_and_the_target(write_scenario) -> None:
    scenario = _load(
        write_scenario,
        "[prompts]\ninput_tokens = { mean = 3000, stdev = 2000, min = 100, max = 9000 }\nbins = [0, 1000, 8000]\n"
        "[slo]\nttft_p95_ms = 400\nerror_rate_max = 0.1\n[slo.class.long]\ninput_tokens = 8000\nttft_p95_ms = 2000\nerror_rate_max = 0.2\n",
    )
    spec = scenario.slo_spec
    name = scenario.target[0].name
    long = spec.for_group(name, "input 8000+")
    short = spec.for_group(name, "input 1000-7999")
    assert [(r.key, r.threshold) for r in long.aggregate] == [("ttft_p95_ms", 2000.0)] and long.error_rate_max == 0.2
    assert [(r.key, r.threshold) for r in short.aggregate] == [("ttft_p95_ms", 400.0)] and short.error_rate_max == 0.1
    # run.json keeps the classes, so a report judges the same way without the scenario file.
    assert scenario.resolved()["slo_classes"] == {"long": {"input_tokens": [8000], "ttft_p95_ms": 2000, "error_rate_max": 0.2}}
