"""Trace replay: a Mooncake-format trace sent line by line at its own times ÷ speedup, each
request asking for its lengths, shared hash blocks sharing prompt text (and so the cache)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.analysis.metrics import arrival_rates, measured
from bench.campaigns.sweep import check_sweepable
from bench.errors import BenchError, ScenarioError
from bench.results.records import load_results
from bench.results.run_file import read_run_meta
from bench.run.runner import run_scenario
from bench.scenario import prompts as prompts_module
from bench.scenario.model import load_scenario
from bench.scenario.prompts import synthetic
from bench.scenario.trace import BLOCK_TOKENS, read_trace

REPO = Path(__file__).resolve().parents[2]

ROWS = [
    {"timestamp": 1000, "input_length": 1500, "output_length": 12, "hash_ids": [7, 8, 9]},
    {"timestamp": 1100, "input_length": 1400, "output_length": 20, "hash_ids": [7, 8, 10]},
    {"timestamp": 1400, "input_length": 300, "output_length": 8, "hash_ids": [11]},
    {"timestamp": 2000, "input_length": 2000, "output_length": 16, "hash_ids": [7, 8, 12, 13]},
    {"timestamp": 2600, "input_length": 600, "output_length": 10},
    {"timestamp": 3000, "input_length": 1500, "output_length": 12, "hash_ids": [7, 8, 14]},
]


def _trace(folder: Path, rows: list[dict] = ROWS, name: str = "trace.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _scenario(write_scenario, load: str, name: str = "scenario.toml") -> Path:
    return write_scenario(
        '[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-120b"\n[target.emulator]\nprefill_tokens_per_s = 40000\n\n'
        f"[load]\n{load}\n",
        name=name,
    )


def test_a_trace_is_replayed_at_its_own_times_and_lengths(write_scenario, tmp_path: Path) -> None:
    _trace(tmp_path)
    path = _scenario(write_scenario, 'trace = "trace.jsonl"\nspeedup = 2.0')
    result = run_scenario(path, out=tmp_path / "results", emulate=True)
    frame = measured(load_results(result.run_dir)).sort_values("request_index")
    assert frame["error_kind"].isna().all(), frame["error_message"].dropna().tolist()
    assert frame["request_index"].tolist() == list(range(6))
    due = frame["scheduled_ms"].to_numpy(dtype=float)
    assert due == pytest.approx([(r["timestamp"] - 1000) / 2.0 for r in ROWS], abs=0.01)  # from the first line, ÷ speedup
    assert frame["input_tokens_asked"].tolist() == [r["input_length"] for r in ROWS]
    assert frame["max_tokens_asked"].tolist() == [r["output_length"] for r in ROWS]
    assert (frame["output_tokens"].to_numpy() <= frame["max_tokens_asked"].to_numpy()).all()
    # Later requests naming blocks 7 and 8 first find them in the emulator's cache.
    cached = frame["cached_input_tokens"].fillna(0).to_numpy()
    assert cached[0] == 0 and (cached[[1, 3, 5]] >= BLOCK_TOKENS).all() and cached[2] == cached[4] == 0
    (rate,) = arrival_rates(frame)
    assert rate.offered == pytest.approx(float(f"{5 / 1.0:.3g}")) and not rate.short  # 5 gaps over 2 s at 2x
    meta = read_run_meta(Path(result.run_dir))
    assert meta.scenario["load"]["trace_sha256"] == read_trace(tmp_path / "trace.jsonl").digest
    assert meta.scenario["load"]["speedup"] == 2.0


def test_blocks_named_alike_are_the_same_text() -> None:
    prompts = synthetic(128, seed=4)
    (a,), (b,), (c,) = (
        prompts.for_trace(ids, n, key) for ids, n, key in [((1, 2, 3), 1500, "a"), ((1, 2, 4), 1500, "b"), ((5,), 1500, "c")]
    )
    words = [m["content"].split() for m in (a, b, c)]
    shared = 2 * BLOCK_TOKENS
    assert words[0][:shared] == words[1][:shared] and words[0][shared:] != words[1][shared:]
    assert words[0][:BLOCK_TOKENS] != words[2][:BLOCK_TOKENS]
    assert [len(w) for w in words] == [1500, 1500, 1500]  # length − 1 words and a unique marker
    assert a["content"] != prompts.for_trace((1, 2, 3), 1500, "z")[0]["content"]  # same blocks, own marker


@pytest.mark.parametrize("seed", [0, 4, 2**40 + 7])
def test_a_blocks_text_is_the_seeded_choice_of_words_it_always_was(seed: int) -> None:
    """A block is cached as its text alone; the text must be word for word the seeded
    ``Random(...).choices`` it always was (a trace replays the same prompts as before), and a
    partial block the first words of the whole one."""
    for block in (0, 1, 12345, 10**9):
        words = random.Random(f"{seed}:block:{block}").choices(prompts_module._WORDS, k=BLOCK_TOKENS)
        assert prompts_module._block_text(seed, block) == " ".join(words)
        for n in (1, 2, 300, BLOCK_TOKENS):
            assert prompts_module._block_head(seed, block, n) == " ".join(words[:n])


def test_a_prompt_cut_inside_a_block_or_past_its_blocks_has_the_length_asked() -> None:
    prompts = synthetic(128, seed=4)
    for ids, length in [((1,), 1), ((1,), 2), ((1, 2), 513), ((1, 2), 514), ((1,), 2000), ((), 40)]:
        (message,) = prompts.for_trace(ids, length, "k")
        words = message["content"].split()
        assert len(words) == max(2, length) and words[-1].startswith("[")
        if ids and length > 1:
            assert words[: min(length - 1, BLOCK_TOKENS)] == prompts_module._block_text(4, ids[0]).split()[: length - 1]


def test_the_fingerprint_holds_the_trace_content_not_its_path(write_scenario, tmp_path: Path) -> None:
    _trace(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(tmp_path / "trace.jsonl", tmp_path / "elsewhere" / "renamed.jsonl")
    _trace(tmp_path, [*ROWS[:-1], {**ROWS[-1], "output_length": 13}], name="edited.jsonl")
    one = load_scenario(_scenario(write_scenario, 'trace = "trace.jsonl"', name="a.toml")).fingerprint()
    moved = load_scenario(_scenario(write_scenario, 'trace = "elsewhere/renamed.jsonl"', name="b.toml")).fingerprint()
    edited = load_scenario(_scenario(write_scenario, 'trace = "edited.jsonl"', name="c.toml")).fingerprint()
    faster = load_scenario(_scenario(write_scenario, 'trace = "trace.jsonl"\nspeedup = 3', name="d.toml")).fingerprint()
    assert one == moved and len({one, edited, faster}) == 3


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "trace.jsonl:2: not valid JSON"),
        ('{"timestamp": 5, "input_length": 10}', "trace.jsonl:2: missing output_length"),
        ('{"timestamp": -1, "input_length": 10, "output_length": 3}', "timestamp must be milliseconds ≥ 0"),
        ('{"timestamp": 0, "input_length": 10, "output_length": 3}', "before the line above it"),
        ('{"timestamp": 50, "input_length": 0, "output_length": 3}', "input_length must be a whole number"),
        ('{"timestamp": 50, "input_length": 10, "output_length": true}', "output_length must be a whole number"),
        (
            '{"timestamp": 50, "input_length": 10, "output_length": 3, "hash_ids": ["a"]}',
            "hash_ids must be a list of whole numbers",
        ),
        ("[1, 2]", "expected an object"),
    ],
)
def test_a_bad_trace_line_is_named(write_scenario, tmp_path: Path, line: str, problem: str) -> None:
    (tmp_path / "trace.jsonl").write_text(
        '{"timestamp": 10, "input_length": 10, "output_length": 3}\n' + line + "\n", encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario(write_scenario, 'trace = "trace.jsonl"'))
    assert info.value.field == "load.trace" and problem in info.value.problem, str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("load", "field", "problem"),
    [
        ('trace = "missing.jsonl"', "load.trace", "cannot read"),
        ('trace = "trace.jsonl"\nrate = [2]', "load.trace", "leave out rate"),
        ('trace = "trace.jsonl"\nburstiness = 0.5', "load.trace", "leave out burstiness"),
        ('trace = "trace.jsonl"\nrequests = 6\nwarmup = 1', "load.requests", "the trace has 6 requests"),
        ('trace = "trace.jsonl"\nwarmup = 6', "load.warmup", "must leave some to measure"),
        ("rate = [2]\nrequests = 3\nspeedup = 2", "load.speedup", "replays a trace"),
        ('trace = "empty.jsonl"', "load.trace", "no requests in the trace"),
    ],
)
def test_bad_trace_settings(write_scenario, tmp_path: Path, load: str, field: str, problem: str) -> None:
    _trace(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario(write_scenario, load))
    assert info.value.field == field and problem in info.value.problem, str(info.value)


def test_a_trace_replays_single_requests_of_synthetic_prompts(write_scenario, tmp_path: Path) -> None:
    _trace(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario(write_scenario, 'trace = "trace.jsonl"\n\n[prompts]\nturns = 2'))
    assert info.value.field == "prompts.turns"


def test_the_shipped_trace_scenario_validates_and_its_trace_reads() -> None:
    scenario = load_scenario(REPO / "scenarios" / "trace-replay.toml")
    trace = scenario.load.replay
    assert trace is not None and len(trace) == 300 and scenario.load.per_level == 300
    assert np.all(np.diff(trace.arrivals_s) >= 0) and scenario.load.levels == [float(f"{trace.rate * 4:.3g}")]


def test_a_sweep_refuses_a_trace_replay(write_scenario, tmp_path: Path) -> None:
    _trace(tmp_path)
    scenario = load_scenario(_scenario(write_scenario, 'trace = "trace.jsonl"\n\n[slo]\nttft_p99_ms = 500'))
    with pytest.raises(BenchError, match="a trace replay sends at the trace's own times"):
        check_sweepable(scenario, None)
