"""Targets interleaved or in sequence: which targets run together, and that each target's
requests are the same either way (docs/scenarios.md, "Order").

The plan is checked as data (``bench.run.order.steps``); the runs go through the emulator over
real loopback HTTP, seeded and without jitter, so every request index gets the same answer
whichever order it ran in.
"""

from __future__ import annotations

import json
import textwrap
import tomllib
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest

from bench.run.order import Step, steps, targets_at_once
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario, parse_scenario

PROFILE = "[target.emulator]\nttft_ms = 10\ntokens_per_s = 5000\njitter = 0\n"
THREE = f"""
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
{PROFILE}
[[target]]
provider = "openai"
model = "gpt-4.1"
{PROFILE}
[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
{PROFILE}
"""
NAMES = ["groq/openai/gpt-oss-20b", "openai/gpt-4.1", "anthropic/claude-haiku-5-5"]


def scenario(tmp_path: Path, load: str, targets: str = THREE, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(
        '[scenario]\nname = "order"\nemulate = true\n'
        + textwrap.dedent(targets)
        + "\n[request]\nmax_tokens = 300\n\n[load]\n"
        + textwrap.dedent(load)
        + "\ntimeout_s = 20\nseed = 5\n"
    )
    return path


def _plan(text: str) -> list[tuple[float, str, tuple[int, ...]]]:
    return [(s.level, s.client, s.t_indices) for s in steps(parse_scenario(tomllib.loads(text), "s.toml"))]


# ------------------------------------------------------------------------------------- the plan

TWO_LEVELS = "[[target]]\nprovider = 'groq'\nmodel = 'a'\n{a}\n[[target]]\nprovider = 'openai'\nmodel = 'b'\n{b}\n[load]\nconcurrency = [1, 4]\nrequests = 2\n{order}"


def test_interleaved_runs_every_target_at_each_level() -> None:
    assert _plan(TWO_LEVELS.format(a="", b="", order="")) == [(1.0, "fast", (0, 1)), (4.0, "fast", (0, 1))]


def test_sequential_runs_every_level_of_one_target_then_the_next() -> None:
    plan = _plan(TWO_LEVELS.format(a="", b="", order="order = 'sequential'"))
    assert plan == [(1.0, "fast", (0,)), (4.0, "fast", (0,)), (1.0, "fast", (1,)), (4.0, "fast", (1,))]


def test_clients_stay_one_after_the_other_within_a_level() -> None:
    both, sdk = "client = ['fast', 'sdk']", "client = 'sdk'"
    assert _plan(TWO_LEVELS.format(a=both, b=sdk, order="")) == [
        (1.0, "fast", (0,)),
        (1.0, "sdk", (0, 1)),
        (4.0, "fast", (0,)),
        (4.0, "sdk", (0, 1)),
    ]
    assert _plan(TWO_LEVELS.format(a=both, b=sdk, order="order = 'sequential'")) == [
        (1.0, "fast", (0,)),
        (1.0, "sdk", (0,)),
        (4.0, "fast", (0,)),
        (4.0, "sdk", (0,)),
        (1.0, "sdk", (1,)),
        (4.0, "sdk", (1,)),
    ]
    # The clients in the order the targets first name them.
    assert [c for _, c, _ in _plan(TWO_LEVELS.format(a=sdk, b=both, order=""))] == ["sdk", "fast", "sdk", "fast"]


def test_one_target_is_sequential_whatever_the_file_says() -> None:
    text = "[[target]]\nprovider = 'groq'\nmodel = 'a'\n[load]\nconcurrency = [1, 2]\nrequests = 2\norder = 'interleaved'\n"
    scenario = parse_scenario(tomllib.loads(text), "s.toml")
    assert steps(scenario) == [Step(1.0, "fast", (0,)), Step(2.0, "fast", (0,))]
    assert targets_at_once(scenario) == 1


# --------------------------------------------------------------------------------------- runs


def answers(frame: pd.DataFrame) -> dict[tuple[str, str, float, int], tuple[float, str, bool]]:
    return {
        (r.target, r.client, r.load_level, r.request_index): (r.output_tokens, r.finish_reason, r.warmup)
        for r in frame.itertuples()
    }


def spans(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Per target: when its first request started and its last one ended (wall clock, ns)."""
    end = frame["started_at_ns"] + (frame["e2e_ms"] * 1e6).astype("int64")
    return {
        str(target): (int(group["started_at_ns"].min()), int(end[group.index].max())) for target, group in frame.groupby("target")
    }


def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_interleaved_and_sequential_send_each_target_the_same_requests(tmp_path: Path) -> None:
    path = scenario(tmp_path, "concurrency = [2, 3]\nrequests = 6\nwarmup = 1")
    side = run_scenario(path, out=tmp_path / "interleaved")
    turns = run_scenario(path, out=tmp_path / "sequential", order="sequential")
    assert side.meta.order == "interleaved" and turns.meta.order == "sequential"
    for result in (side, turns):
        frame = result.frame
        assert (frame["status"] == "ok").all(), frame[["target", "error_kind", "error_message"]]
        assert len(frame) == 3 * 2 * 7
        for (_target, _level), group in frame.groupby(["target", "load_level"]):
            assert sorted(group["request_index"]) == list(range(7))  # each target's own indices
            assert group.loc[group["warmup"], "request_index"].tolist() == [0]  # and its own warm-up
    assert answers(side.frame) == answers(turns.frame)  # same seeds, same answers, whatever the order
    assert side.frame["output_tokens"].nunique() > 1  # not trivially all max_tokens

    for level, at in side.frame.groupby("load_level"):  # side by side: every pair overlaps in time
        by_target = spans(at)
        assert sorted(by_target) == sorted(NAMES)
        for a, b in combinations(NAMES, 2):
            assert overlap(by_target[a], by_target[b]), (level, a, b)
    by_target = spans(turns.frame)  # one after another, in the order written
    for a, b in zip(NAMES, NAMES[1:], strict=False):
        assert by_target[a][1] <= by_target[b][0], (a, b)

    # Interleaved: one health sample per level, covering all three targets and all their streams.
    levels = side.meta.client_health.levels
    assert [(h.load_level, h.targets, h.streams) for h in levels] == [(2.0, tuple(NAMES), 6), (3.0, tuple(NAMES), 9)]
    assert all(h.target == " + ".join(NAMES) and h.samples > 0 for h in levels)
    assert [(h.target, h.load_level, h.targets) for h in turns.meta.client_health.levels] == [
        (name, level, ()) for name in NAMES for level in (2.0, 3.0)
    ]
    meta = json.loads((side.run_dir / "run.json").read_text())
    assert meta["order"] == "interleaved" and meta["client_health"]["levels"][0]["targets"] == NAMES


def test_interleaved_with_two_clients_keeps_the_clients_apart(tmp_path: Path) -> None:
    targets = THREE.replace('model = "gpt-4.1"', 'model = "gpt-4.1"\nclient = ["fast", "sdk"]').replace(
        'model = "openai/gpt-oss-20b"', 'model = "openai/gpt-oss-20b"\nclient = ["fast", "sdk"]'
    )
    path = scenario(tmp_path, "concurrency = [2]\nrequests = 4", targets=targets)
    result = run_scenario(path, out=tmp_path / "r")
    frame = result.frame
    assert (frame["status"] == "ok").all()
    assert frame.groupby(["target", "client"]).size().to_dict() == {
        ("anthropic/claude-haiku-5-5", "fast"): 4,
        ("groq/openai/gpt-oss-20b", "fast"): 4,
        ("groq/openai/gpt-oss-20b", "sdk"): 4,
        ("openai/gpt-4.1", "fast"): 4,
        ("openai/gpt-4.1", "sdk"): 4,
    }
    fast, sdk = frame[frame["client"] == "fast"], frame[frame["client"] == "sdk"]
    fast_end = (fast["started_at_ns"] + (fast["e2e_ms"] * 1e6).astype("int64")).max()
    assert fast_end <= sdk["started_at_ns"].min()  # the SDK's turn starts when the lean client's has ended
    assert overlap(*spans(sdk).values())  # and its two targets run side by side
    health = [(h.client, h.targets) for h in result.meta.client_health.levels]
    assert health == [("fast", tuple(NAMES)), ("sdk", ("groq/openai/gpt-oss-20b", "openai/gpt-4.1"))]


def test_interleaved_open_loop_over_workers_offers_each_target_its_own_rate(tmp_path: Path) -> None:
    targets = "[[target]]".join(THREE.split("[[target]]")[:3])  # groq and openai
    path = scenario(tmp_path, "rate = [30.0]\nrequests = 10\nwarmup = 2", targets=targets)
    two = run_scenario(path, out=tmp_path / "two", workers=2)
    one = run_scenario(path, out=tmp_path / "one", order="sequential")
    assert two.meta.order == "interleaved" and two.meta.workers == 2
    frame = two.frame
    assert (frame["status"] == "ok").all() and len(frame) == 2 * 12
    assert set(frame["worker"]) == {0, 1}
    assert (frame["worker"] == frame["request_index"] % 2).all()  # each target's arrivals dealt out alike

    def schedule(f: pd.DataFrame) -> dict[tuple[str, int], float]:
        return {(r.target, r.request_index): round(r.scheduled_ms, 3) for r in f.itertuples()}

    assert schedule(frame) == schedule(one.frame)  # each target's own seeded arrivals, as alone
    assert answers(frame) == answers(one.frame)
    assert sorted((h.worker, h.targets) for h in two.meta.client_health.levels) == [
        (0, tuple(NAMES[:2])),
        (1, tuple(NAMES[:2])),
    ]


def test_interleaved_closed_loop_over_workers_splits_every_target(tmp_path: Path) -> None:
    path = scenario(tmp_path, "concurrency = [3]\nrequests = 6\nwarmup = 1")
    two = run_scenario(path, out=tmp_path / "two", workers=2)
    frame = two.frame
    assert (frame["status"] == "ok").all() and len(frame) == 3 * 7
    for _target, group in frame.groupby("target"):  # streams 2 + 1, requests 4 + 2, warm-up 1 + 0 per target
        assert group.groupby("worker").size().to_dict() == {0: 5, 1: 2}
        assert sorted(group["request_index"]) == list(range(7))
    streams = {h.worker: (h.streams, h.targets) for h in two.meta.client_health.levels}
    assert streams == {0: (6, tuple(NAMES)), 1: (3, tuple(NAMES))}
    assert answers(frame) == answers(run_scenario(path, out=tmp_path / "one").frame)


def test_an_old_run_json_without_an_order_ran_sequentially(tmp_path: Path) -> None:
    from bench.results.run_file import RunMeta, read_run_meta, write_run_meta

    write_run_meta(tmp_path, {"run_id": "old", "finished": True})
    meta = read_run_meta(tmp_path)
    assert meta.order == "sequential"
    assert "order" not in meta.to_json()  # read back, not written in
    with pytest.raises(Exception, match="order"):
        RunMeta.from_json({"order": "sideways"})


def test_a_one_target_run_records_sequential(tmp_path: Path) -> None:
    one = "[[target]]".join(THREE.split("[[target]]")[:2])
    path = scenario(tmp_path, "concurrency = [1]\nrequests = 2\norder = 'interleaved'", targets=one)
    result = run_scenario(load_scenario(path), out=tmp_path / "r")
    assert result.meta.order == "sequential"
    assert [h.targets for h in result.meta.client_health.levels] == [()]
