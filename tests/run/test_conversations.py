"""Conversations: ``[prompts] turns`` sends each turn with the history so far (the real reply
included), records every turn as a request of its own, and waits ``think_time_s`` between."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.metrics import arrival_rates, measured
from bench.analysis.prefill import prefill_fits
from bench.errors import ScenarioError
from bench.results.records import load_results
from bench.run import level as level_module
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario
from bench.scenario.prompts import synthetic

SCENARIO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
{emulator}

[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
client = ["fast", "sdk"]
{emulator}

[request]
max_tokens = 24

[prompts]
input_tokens = 400
turns = 3
think_time_s = {think}

[load]
{load}
warmup = 1
"""


def _frame(
    write_scenario, tmp_path: Path, *, think: float = 0.0, load: str = "concurrency = [2]\nrequests = 3", emulator: str = ""
) -> object:
    path = write_scenario(SCENARIO.format(think=think, load=load, emulator=emulator))
    return load_results(run_scenario(path, out=tmp_path / "results", emulate=True).run_dir)


def test_every_turn_is_a_request_carrying_the_history(write_scenario, tmp_path: Path) -> None:
    frame = _frame(write_scenario, tmp_path, think=0.15)
    assert frame["error_kind"].isna().all(), frame["error_message"].dropna().tolist()
    # (3 conversations + 1 warm-up) × 3 turns, per target and client path.
    for _, rows in frame.groupby(["target", "client"]):
        assert len(rows) == 4 * 3 and rows["request_index"].is_unique
        assert sorted(measured(rows)["turn"].astype(int).tolist()) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
        for _, conv in rows.groupby("conversation"):
            conv = conv.sort_values("turn")
            assert conv["turn"].astype(int).tolist() == [1, 2, 3]
            tokens = conv["input_tokens"].to_numpy(dtype=float)
            replies = conv["output_tokens"].to_numpy(dtype=float)
            # Each turn's prompt holds the last one, its reply and a new user message.
            assert (np.diff(tokens) > replies[:-1] * 0.5).all(), (tokens, replies)
            assert conv["input_tokens_asked"].notna().tolist() == [True, False, False]
            # The next turn waits for the reply's end and the think time.
            starts = conv["started_at_ns"].to_numpy(dtype=float)
            ends = starts + conv["e2e_ms"].to_numpy(dtype=float) * 1e6
            assert (starts[1:] - ends[:-1] >= 0.15e9 * 0.95).all()


def test_only_the_last_turn_hands_its_messages_over(write_scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider may let go of a handed-over request's messages once encoded (docs/scale.md,
    "Memory of a long prompt"): only a conversation's last turn, whose history nobody reads
    again, is handed over; a single-turn request always is."""
    seen: list[tuple[int | None, bool]] = []
    real = level_module.measure_request

    async def spy(provider, request, record, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((record.turn, request.hand_over))
        return await real(provider, request, record, **kwargs)

    monkeypatch.setattr(level_module, "measure_request", spy)
    _frame(write_scenario, tmp_path, load="concurrency = [1]\nrequests = 1")
    assert seen and {turn: over for turn, over in seen} == {1: False, 2: False, 3: True}
    seen.clear()
    path = write_scenario(
        SCENARIO.format(think=0.0, load="concurrency = [1]\nrequests = 2", emulator="").replace("turns = 3", "turns = 1")
    )
    run_scenario(path, out=tmp_path / "single", emulate=True)
    assert seen and all(turn is None and over for turn, over in seen)


def test_a_failed_turn_ends_its_conversation(write_scenario, tmp_path: Path) -> None:
    frame = _frame(write_scenario, tmp_path, emulator="[target.emulator]\nfaults = { server_error = 1.0 }")
    assert (frame["error_kind"] == "server_error").all()
    assert set(frame["turn"].astype(int)) == {1}  # no later turn was sent
    assert len(frame) == 3 * 4


def test_open_loop_conversations_arrive_at_the_rate(write_scenario, tmp_path: Path) -> None:
    frame = _frame(write_scenario, tmp_path, load="rate = [8]\nrequests = 12")
    rates = arrival_rates(frame)
    assert rates and all(r.n == 12 and not r.short for r in rates)  # first turns only
    later = frame[frame["turn"] > 1]
    assert later["scheduled_ms"].isna().all() and len(later) == 2 * 13 * 3


def test_later_turns_are_left_out_of_the_prefill_fit() -> None:
    rows = pd.DataFrame(
        {
            "target": "t",
            "load_mode": "concurrency",
            "load_level": 1.0,
            "status": "ok",
            "warmup": False,
            "input_tokens": [100.0, 2000.0, 4000.0] * 4,
            "ttft_ms": [60.0, 155.0, 255.0] * 4,
            "turn": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0] * 2,
            "cached_input_tokens": np.nan,
        }
    )
    (fit,) = prefill_fits(rows)
    assert fit.n == 6  # the six first turns


def test_follow_ups_are_seeded_and_distinct() -> None:
    prompts = synthetic(64, seed=3)
    assert prompts.follow_up("a:1") == prompts.follow_up("a:1") != prompts.follow_up("a:2")
    assert prompts.follow_up("a:1")["role"] == "user"


@pytest.mark.parametrize(
    ("prompts", "field", "problem"),
    [
        ("think_time_s = 2", "prompts.think_time_s", "only between the turns"),
        ("turns = 0", "prompts.turns", "greater than or equal to 1"),
        ("turns = 101", "prompts.turns", "less than or equal to 100"),
        ("turns = 2\nthink_time_s = -1", "prompts.think_time_s", "greater than or equal to 0"),
    ],
)
def test_bad_conversation_settings(write_scenario, prompts: str, field: str, problem: str) -> None:
    path = write_scenario(
        f'[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-120b"\n\n[prompts]\n{prompts}\n\n[load]\nconcurrency = [1]\nrequests = 1\n'
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field == field, str(info.value)
    assert problem in info.value.problem
