"""Cold and warm prompt caches: a shared prefix, primed off the record when warm, read back as
cached input tokens from each provider's own usage, on both client paths, and priced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.analysis.cost import NO_CACHED_COUNTS, cost_summary
from bench.analysis.metrics import measured
from bench.errors import ScenarioError
from bench.providers.base import ProviderRequest
from bench.providers.chat_wire import FLAVOURS, params
from bench.providers.chat_wire import usage as chat_usage
from bench.providers.messages_wire import EventReader, whole_event
from bench.results.records import load_results
from bench.results.run_file import read_run_meta
from bench.run.preflight import model_warnings
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario
from bench.scenario.prompts import synthetic

PREFILL = 10_000.0
SPEEDUP = 4.0

SCENARIO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
[target.emulator]
prefill_tokens_per_s = {prefill}
cache_speedup = {speedup}
jitter = 0.0

[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
client = ["fast", "sdk"]
[target.emulator]
prefill_tokens_per_s = {prefill}
cache_speedup = {speedup}
jitter = 0.0

[[target]]
provider = "openai"
model = "gpt-4.1"
client = "sdk"
[target.emulator]
prefill_tokens_per_s = {prefill}
cache_speedup = {speedup}
jitter = 0.0

[request]
max_tokens = 8

[prompts]
input_tokens = 6200
shared_prefix_tokens = 6000
cache = "{cache}"

[load]
concurrency = [2]
requests = 8
"""


def _run(write_scenario, tmp_path: Path, cache: str) -> Path:
    path = write_scenario(SCENARIO.format(prefill=PREFILL, speedup=SPEEDUP, cache=cache), name=f"{cache}.toml")
    return Path(run_scenario(path, out=tmp_path / "results", emulate=True).run_dir)


def test_warm_requests_read_the_prefix_from_cache_and_cold_ones_never(write_scenario, tmp_path: Path) -> None:
    runs = {cache: _run(write_scenario, tmp_path, cache) for cache in ("cold", "warm")}
    frames = {cache: measured(load_results(run)) for cache, run in runs.items()}
    for frame in frames.values():
        assert frame["error_kind"].isna().all(), frame["error_message"].dropna().tolist()
        assert len(frame) == 8 * 4 and not (frame["request_index"] < 0).any()  # the primer is no record
    warm, cold = frames["warm"], frames["cold"]
    # Every warm request of every provider kind and client path read the shared prefix from cache.
    assert (warm["cached_input_tokens"] > 5000).all()
    assert (warm["cached_input_tokens"] < warm["input_tokens"]).all()
    # Cold: none cached; OpenAI and Anthropic say 0, Groq says nothing when nothing was cached.
    said = cold[cold["provider"] != "groq"]["cached_input_tokens"]
    assert (said == 0).all() and cold[cold["provider"] == "groq"]["cached_input_tokens"].isna().all()
    for (target, client), rows in warm.groupby(["target", "client"]):
        cold_rows = cold[(cold["target"] == target) & (cold["client"] == client)]
        saved_ms = float(cold_rows["ttft_ms"].median() - rows["ttft_ms"].median())
        cached = float(rows["cached_input_tokens"].median())
        # The emulator reads cached tokens SPEEDUP times faster: that much prefill is saved.
        expected_ms = cached / PREFILL * (1 - 1 / SPEEDUP) * 1000
        assert saved_ms == pytest.approx(expected_ms, rel=0.10), (target, client)
    # Cost: warm input is priced at the cached rate, so a warm request costs less.
    costs = {
        cache: cost_summary(load_results(run), read_run_meta(run)).set_index(["target", "client"]) for cache, run in runs.items()
    }
    for cache, summary in costs.items():
        groq = summary.loc[("groq/openai/gpt-oss-120b", "fast")]
        assert (NO_CACHED_COUNTS in groq["cost_note"]) == (cache == "cold")  # Groq said nothing when cold
    assert (costs["warm"]["cost_per_run_usd"] < costs["cold"]["cost_per_run_usd"]).all()


def test_warm_prompts_open_with_the_marked_prefix_and_cold_ones_with_the_marker() -> None:
    warm = synthetic(3000, seed=1, shared_prefix_tokens=2000, warm=True)
    cold = synthetic(3000, seed=1, shared_prefix_tokens=2000, warm=False)
    (w1,), (w2,) = warm.for_request("a"), warm.for_request("b")
    assert w1["content"][0] == w2["content"][0] and w1["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert w1["content"][1]["text"].startswith("[") and w1["content"][1] != w2["content"][1]
    assert len(w1["content"][0]["text"].split()) == 2000 == warm.prefix_tokens
    words = len(w1["content"][0]["text"].split()) + len(w1["content"][1]["text"].split())
    assert words == 3000 - 8 + 4  # the whole prompt is input_tokens long, as without a prefix
    (c1,) = cold.for_request("a")
    assert isinstance(c1["content"], str) and c1["content"].startswith("[") and w1["content"][0]["text"] in c1["content"]
    (primer,) = warm.primer()
    assert primer["content"][0] == w1["content"][0]


def test_the_chat_wire_sends_a_marked_prefix_as_one_string_and_anthropic_keeps_the_mark() -> None:
    (message,) = synthetic(3000, seed=1, shared_prefix_tokens=2000, warm=True).for_request("a")
    request = ProviderRequest(model="m", messages=[message], max_tokens=8)
    body, _ = params(FLAVOURS["openai"], request)
    (sent,) = body["messages"]
    assert sent["content"] == message["content"][0]["text"] + message["content"][1]["text"]
    image = {
        "role": "user",
        "content": [
            {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "u"}},
        ],
    }
    (kept,) = params(FLAVOURS["openai"], ProviderRequest(model="m", messages=[image], max_tokens=8))[0]["messages"]
    assert kept["content"] == [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "u"}}]


def test_cached_counts_are_read_from_each_wire_format() -> None:
    openai = chat_usage({"prompt_tokens": 1200, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1024}}, None)
    assert openai is not None and openai.cached_input_tokens == 1024 and openai.cache_write_input_tokens is None
    groq = chat_usage(
        {"prompt_tokens": 1200, "completion_tokens": 3}, {"prompt_tokens": 1200, "completion_tokens": 3, "completion_time": 0.1}
    )
    assert groq is not None and groq.cached_input_tokens is None
    reader = EventReader()
    start = reader.event(
        "message_start",
        {
            "message": {
                "id": "m",
                "usage": {
                    "input_tokens": 10,
                    "cache_read_input_tokens": 3000,
                    "cache_creation_input_tokens": 200,
                    "output_tokens": 1,
                },
            }
        },
    )
    assert start is not None and start.usage is not None
    assert (start.usage.input_tokens, start.usage.cached_input_tokens, start.usage.cache_write_input_tokens) == (3210, 3000, 200)
    whole = whole_event(
        {
            "content": [],
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 0, "output_tokens": 2},
        }
    )
    assert whole.usage is not None and (whole.usage.cached_input_tokens, whole.usage.cache_write_input_tokens) == (7, 0)


@pytest.mark.parametrize(
    ("prompts", "field", "problem"),
    [
        ('input_tokens = 2000\ncache = "warm"', "prompts.cache", "needs shared_prefix_tokens"),
        ('input_tokens = 2000\nshared_prefix_tokens = 1500\ncache = ["cold", "warm", "cold"]', "prompts.cache", "once each"),
        ("input_tokens = 1000\nshared_prefix_tokens = 1500", "prompts.shared_prefix_tokens", "at least 1516"),
        (
            'input_tokens = 2000\nshared_prefix_tokens = 600\ncache = "warm"',
            "prompts.shared_prefix_tokens",
            "caches prompts from 1,024 tokens",
        ),
    ],
)
def test_cache_settings_are_checked_with_the_minimum_named(write_scenario, prompts: str, field: str, problem: str) -> None:
    path = write_scenario(
        f'[[target]]\nprovider = "openai"\nmodel = "gpt-4.1"\n\n[prompts]\n{prompts}\n\n[load]\nconcurrency = [1]\nrequests = 1\n'
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field == field, str(info.value)
    assert problem in info.value.problem


def test_a_short_warm_prefix_is_fine_for_a_server_of_unknown_rules_and_warned_for_anthropic(write_scenario) -> None:
    body = (
        '[prompts]\ninput_tokens = 2000\nshared_prefix_tokens = {n}\ncache = "warm"\n\n[load]\nconcurrency = [1]\nrequests = 1\n'
    )
    vllm = '[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n\n'
    assert load_scenario(write_scenario(vllm + body.format(n=64), name="a.toml")).prompts.shared_prefix_tokens == 64
    claude = '[[target]]\nprovider = "anthropic"\nmodel = "claude-haiku-5-5"\n\n'
    warnings = model_warnings(load_scenario(write_scenario(claude + body.format(n=1500), name="b.toml")))
    assert any("1,024 to 4,096" in w and "1,500 shared tokens" in w for w in warnings)
    assert not model_warnings(load_scenario(write_scenario(claude + body.format(n=1500).replace("warm", "cold"), name="c.toml")))


def test_the_cache_state_is_part_of_the_fingerprint(write_scenario) -> None:
    base = '[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-120b"\n\n[prompts]\ninput_tokens = 2000\nshared_prefix_tokens = 1500\ncache = "{c}"\n\n[load]\nconcurrency = [1]\nrequests = 1\n'
    cold = load_scenario(write_scenario(base.format(c="cold"), name="a.toml")).fingerprint()
    warm = load_scenario(write_scenario(base.format(c="warm"), name="b.toml")).fingerprint()
    assert cold != warm
    assert np.all([cold.endswith("+fast"), warm.endswith("+fast")])


def test_both_cache_states_and_a_ladder_in_one_run_are_groups_of_their_own(write_scenario, tmp_path: Path) -> None:
    text = SCENARIO.format(prefill=PREFILL, speedup=SPEEDUP, cache="x").replace('cache = "x"', 'cache = ["cold", "warm"]')
    text = text.replace("input_tokens = 6200", "input_tokens = [6200, 9000]").replace("requests = 8", "requests = 6")
    run = Path(run_scenario(write_scenario(text, name="both.toml"), out=tmp_path / "results", emulate=True).run_dir)
    frame = measured(load_results(run))
    assert frame["error_kind"].isna().all(), frame["error_message"].dropna().tolist()
    shapes = ["input 6200, cold", "input 6200, warm", "input 9000, cold", "input 9000, warm"]
    # Every target and client path ran every shape, requests of each, asking for the rung's length.
    counts = frame.groupby(["target", "client", "shape"]).size()
    assert set(counts) == {6} and len(counts) == 4 * len(shapes)
    assert (frame["input_tokens_asked"] == frame["shape"].str.extract(r"input (\d+)")[0].astype(float)).all()
    warm, cold = frame[frame["shape"].str.endswith("warm")], frame[frame["shape"].str.endswith("cold")]
    assert (warm["cached_input_tokens"] > 5000).all()  # primed per rung: the 6,000-token prefix read from cache
    assert not (cold["cached_input_tokens"] > 0).any()
    for (target, client, rung), rows in warm.groupby(["target", "client", "input_tokens_asked"]):
        cold_rows = cold[(cold["target"] == target) & (cold["client"] == client) & (cold["input_tokens_asked"] == rung)]
        saved_ms = float(cold_rows["ttft_ms"].median() - rows["ttft_ms"].median())
        expected_ms = float(rows["cached_input_tokens"].median()) / PREFILL * (1 - 1 / SPEEDUP) * 1000
        assert saved_ms == pytest.approx(expected_ms, rel=0.10), (target, client, rung)
    # Each step's health sample says which shape it measured.
    health = read_run_meta(run).client_health
    assert health is not None and {level.shape for level in health.levels} == set(shapes)
