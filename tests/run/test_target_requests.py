"""Per-target request settings and tool calls: ``[target.request]`` over ``[request]``, tools
passed through in each target's own wire format, and a streamed tool call timed as content on
both client paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.metrics import measured
from bench.errors import ScenarioError
from bench.providers.chat_wire import chunk_event
from bench.providers.messages_wire import EventReader
from bench.results.records import load_results
from bench.results.run_file import read_run_meta
from bench.run.runner import run_scenario
from bench.scenario.lengths import LengthDistribution
from bench.scenario.model import load_scenario

OPENAI_TOOL = '{ type = "function", function = { name = "get_weather", parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] } } }'
ANTHROPIC_TOOL = '{ name = "get_weather", input_schema = { type = "object", properties = { city = { type = "string" } }, required = ["city"] } }'

TOOLS = f"""
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
client = ["fast", "sdk"]
[target.request]
tools = [{OPENAI_TOOL}]
tool_choice = "required"

[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
client = ["fast", "sdk"]
[target.request]
tools = [{ANTHROPIC_TOOL}]
tool_choice = {{ type = "any" }}
max_tokens = 48

[[target]]
provider = "openai"
model = "gpt-4.1"

[request]
max_tokens = 32

[load]
concurrency = [2]
requests = 4
"""


def test_a_streamed_tool_call_is_the_answer_on_both_client_paths(write_scenario, tmp_path: Path) -> None:
    result = run_scenario(write_scenario(TOOLS), out=tmp_path / "results", emulate=True)
    frame = measured(load_results(result.run_dir))
    assert frame["error_kind"].isna().all(), frame["error_message"].dropna().tolist()
    tooled = frame[frame["provider"] != "openai"]
    assert sorted(tooled.groupby(["provider", "client"]).size().index.tolist()) == [
        ("anthropic", "fast"),
        ("anthropic", "sdk"),
        ("groq", "fast"),
        ("groq", "sdk"),
    ]
    # Every request called the tool: its name and argument fragments are the content, so it
    # has a first token and a first answer like a text reply.
    assert (tooled["tool_call_chunks"] >= 2).all() and (tooled["content_chunks"] >= tooled["tool_call_chunks"]).all()
    assert tooled["ttft_ms"].notna().all() and tooled["ttfa_ms"].notna().all()
    assert not set(tooled["finish_reason"]) & {"stop", "end_turn"}  # a call (or its arguments cut at max_tokens)
    # The same chunk counts on both client paths, request for request.
    for _, rows in tooled.groupby("provider"):
        by = {c: r.sort_values("request_index")["tool_call_chunks"].tolist() for c, r in rows.groupby("client")}
        assert by["fast"] == by["sdk"]
    # The target without [target.request] kept the scenario's settings: no tools, a text answer.
    plain = frame[frame["provider"] == "openai"]
    assert (plain["tool_call_chunks"] == 0).all() and (plain["max_tokens_asked"] == 32).all()
    assert (frame[frame["provider"] == "anthropic"]["max_tokens_asked"] == 48).all()
    targets = read_run_meta(Path(result.run_dir)).scenario["targets"]
    assert targets[1]["request"]["tool_choice"] == {"type": "any"} and targets[2]["request"] == {}


def test_tool_call_text_is_read_from_each_wire_format() -> None:
    chunk = {
        "id": "c",
        "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"ci'}}]}}],
    }
    assert chunk_event(chunk).tool_call == 'f{"ci'
    assert chunk_event({"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]}).tool_call is None
    reader = EventReader()
    start = reader.event("content_block_start", {"index": 1, "content_block": {"type": "tool_use", "name": "get_weather"}})
    assert start is not None and start.tool_call == "get_weather"
    delta = reader.event("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city"'}})
    assert delta is not None and delta.tool_call == '{"city"'
    # A server tool's input (web search) is the server's business, not the answer.
    assert (
        reader.event("content_block_start", {"index": 2, "content_block": {"type": "server_tool_use", "name": "web_search"}})
        is None
    )
    assert reader.event("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}) is None


def test_target_request_overrides_and_merges(write_scenario) -> None:
    scenario = load_scenario(
        write_scenario(
            """
            [[target]]
            provider = "openai"
            model = "gpt-4.1"
            [target.request]
            extra_body = { reasoning_effort = "low" }
            max_tokens = { mean = 100, stdev = 10, min = 50, max = 150 }
            temperature = 0.7

            [[target]]
            provider = "anthropic"
            model = "claude-haiku-5-5"

            [request]
            max_tokens = 64
            extra_body = { seed = 1 }

            [load]
            concurrency = [1]
            requests = 1
            """
        )
    )
    first, second = (scenario.request_for(t) for t in scenario.target)
    assert first.extra_body == {"seed": 1, "reasoning_effort": "low"} and first.temperature == 0.7
    assert first.max_tokens == LengthDistribution(mean=100.0, stdev=10.0, min=50, max=150)
    assert second == scenario.request and second.max_tokens == 64


def test_per_target_settings_are_in_the_fingerprint_only_when_set(write_scenario) -> None:
    base = '[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-120b"\n{extra}\n[load]\nconcurrency = [1]\nrequests = 1\n'
    plain = load_scenario(write_scenario(base.format(extra=""), name="a.toml")).fingerprint()
    empty = load_scenario(write_scenario(base.format(extra="[target.request]\n"), name="b.toml")).fingerprint()
    set_ = load_scenario(write_scenario(base.format(extra="[target.request]\ntemperature = 1.0\n"), name="c.toml")).fingerprint()
    assert plain == empty != set_


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        (
            '[[target]]\nprovider = "anthropic"\nmodel = "claude-haiku-5-5"\n[target.request]\nresponse_format = { type = "json_object" }\n',
            "target[0].request.response_format",
            "Anthropic's Messages API has no response_format",
        ),
        (
            '[[target]]\nprovider = "anthropic"\nmodel = "claude-haiku-5-5"\n[request]\nresponse_format = { type = "json_object" }\n',
            "request.response_format",
            "Anthropic's Messages API has no response_format",
        ),
        (
            '[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-120b"\n[target.request]\nmax_token = 5\n',
            "target[0].request.max_token",
            "unknown key",
        ),
        (
            '[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-120b"\n[target.request]\nmax_tokens = 0\n',
            "target[0].request.max_tokens",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_target_requests_are_one_line(write_scenario, text: str, field: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_scenario(text + "\n[load]\nconcurrency = [1]\nrequests = 1\n"))
    assert info.value.field == field, str(info.value)
    assert problem in info.value.problem
