"""Server-wide emulator settings: ``--set`` on the emulator, ``bench run --emulate
--emulator-set KEY=VALUE`` and ``--emulator-seed N`` on a run — checked up front, applied over
every target's [target.emulator], recorded in run.json, and outside the scenario fingerprint.
Timing is only checked as a lower bound (a request cannot be answered before its TTFT).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from bench.emulator import EmulatorHandle, start_emulator
from bench.emulator.faults import FAULT_KINDS
from bench.emulator.profiles import (
    SETTING_KEYS,
    Override,
    OverrideError,
    format_setting,
    parse_settings,
    with_settings,
)
from bench.results.run_file import read_run_meta
from bench.run.runner import run_scenario
from bench.scenario.model import EmulatorProfile, load_scenario
from tests.emulator_clients import MESSAGES, clients, fast, log_entries, run

SCENARIO = """
[scenario]
name = "knobs"

[[target]]
provider = "openai"
model = "gpt-4.1"

[target.emulator]
ttft_ms = 5
tokens_per_s = 4000

[request]
max_tokens = 8

[load]
concurrency = [1]
requests = 3
warmup = 0
"""


# ------------------------------------------------------------------------------ parsing


def test_settings_are_read_like_scenario_values() -> None:
    settings = parse_settings(
        ["ttft_ms=400", "jitter = 0", "omit_usage=true", "faults={rate_limited = 0.1}", "capacity=4"], FAULT_KINDS
    )
    assert settings == {"ttft_ms": 400, "jitter": 0, "omit_usage": True, "faults": {"rate_limited": 0.1}, "capacity": 4}
    for key, value in settings.items():
        assert parse_settings([format_setting(key, value)], FAULT_KINDS) == {key: value}
    assert "seed" not in SETTING_KEYS and "provider" not in SETTING_KEYS and "prefill_tokens_per_s" in SETTING_KEYS


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("speed=3", "unknown key 'speed'"),
        ("seed=3", "unknown key 'seed'"),
        ("ttft_ms", "expected KEY=VALUE"),
        ("ttft_ms=abc", "is not a value"),
        ("ttft_ms=-1", "ttft_ms must be in [0, 600000]"),
        ("ttft_ms=nan", "finite"),
        ("ttft_ms=inf", "finite"),
        ("jitter=true", "wrong type"),
        ("faults={meteor = 0.5}", "unknown fault kind 'meteor'"),
        ("cache_hit_rate=1.5", "cache_hit_rate must be in [0, 1]"),
    ],
)
def test_bad_settings_name_the_setting(item: str, needle: str) -> None:
    with pytest.raises(OverrideError) as info:
        parse_settings([item], FAULT_KINDS)
    assert needle in str(info.value) and repr(item) in str(info.value) and "\n" not in str(info.value)


def test_settings_beat_the_targets_own_profile() -> None:
    own = Override(ttft_ms=5, tokens_per_s=4000, faults={"auth": 0.5}, seed=9, provider="groq")
    layered = with_settings(own, {"ttft_ms": 400, "faults": {"rate_limited": 1}})
    assert (layered.ttft_ms, layered.tokens_per_s, layered.seed, layered.provider) == (400, 4000, 9, "groq")
    assert layered.faults == {"rate_limited": 1.0}
    assert with_settings(own, {}) is own


def test_scenario_accepts_the_new_profile_keys() -> None:
    profile = EmulatorProfile(prefill_tokens_per_s=20_000, cache_hit_rate=0.5, cache_speedup=4, cache_min_tokens=1024,
                              tool_call_share=0.25)  # fmt: skip
    payload = profile.header_payload()
    assert payload["prefill_tokens_per_s"] == 20_000 and payload["tool_call_share"] == 0.25
    assert Override(**{k: v for k, v in payload.items() if k != "faults"}).gives_profile
    for bad in ({"prefill_tokens_per_s": 0}, {"cache_hit_rate": 2}, {"cache_speedup": 0.5}, {"tool_call_share": -1}):
        with pytest.raises(ValueError):
            EmulatorProfile(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the emulator


def test_server_settings_apply_to_every_request(tmp_path: Path) -> None:
    log = tmp_path / "chunks.jsonl"

    async def faulted(emu: EmulatorHandle) -> None:
        async with clients(emu) as c:
            # The request's own faults say 401; the server's setting replaces them with 429.
            with pytest.raises(openai.RateLimitError):
                await c.openai.chat.completions.create(
                    model="gpt-4.1", messages=MESSAGES, max_completion_tokens=2, extra_headers=fast(faults={"auth": 1.0})
                )

    async def slowed(emu: EmulatorHandle) -> str:
        async with clients(emu) as c:
            # The request asks for a 5 ms first token; the server's setting says 300.
            reply = await c.openai.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, max_completion_tokens=2, extra_headers=fast()
            )
            return reply.id

    with start_emulator(settings={"faults": {"rate_limited": 1.0}}) as emu:
        run(faulted(emu))
    with start_emulator(settings={"ttft_ms": 300, "jitter": 0}, chunk_log=log) as emu:
        request_id = run(slowed(emu))
    entry = log_entries(log, {request_id})[request_id]
    assert entry["headers_sent_ns"] - entry["received_ns"] >= 300e6  # the setting, not the request's 5 ms


def test_seed_salt_changes_every_draw_reproducibly(tmp_path: Path) -> None:
    body = {"model": "gpt-4.1", "messages": MESSAGES, "max_completion_tokens": 200}

    async def texts(emu: EmulatorHandle) -> list[str]:
        async with clients(emu) as c:
            out = []
            for seed in (1, 2, 3):
                reply = await c.openai.chat.completions.create(**body, extra_headers=fast(seed=seed, jitter=0.3))  # type: ignore[call-overload]
                out.append(reply.choices[0].message.content)
            return out

    results = {}
    for salt in (None, 7, 7, 8):
        with start_emulator(seed_salt=salt) as emu:
            results.setdefault(salt, []).append(run(texts(emu)))
    assert results[7][0] == results[7][1]  # reproducible
    assert len({tuple(results[None][0]), tuple(results[7][0]), tuple(results[8][0])}) == 3  # fresh draws per salt


# ------------------------------------------------------------------------------ bench run


def test_run_with_emulator_set_and_seed_keeps_the_fingerprint(
    write_scenario: Callable[..., Path], tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    path = write_scenario(SCENARIO)
    plain = run_scenario(path, out=tmp_path / "a", emulate=True, emulator_chunk_log=tmp_path / "a.jsonl", warn=lambda m: None)
    slowed = run_scenario(
        path, out=tmp_path / "b", emulate=True, emulator_chunk_log=tmp_path / "b.jsonl", warn=lambda m: None,
        emulator_set={"ttft_ms": 250, "jitter": 0}, emulator_seed=3,
    )  # fmt: skip
    assert plain.meta.fingerprint == slowed.meta.fingerprint == load_scenario(path).fingerprint()
    meta: Any = read_run_meta(slowed.run_dir)
    assert meta.model_extra["emulator_set"] == {"ttft_ms": 250, "jitter": 0} and meta.model_extra["emulator_seed"] == 3
    assert "emulator_set" not in (read_run_meta(plain.run_dir).model_extra or {})
    # The setting beat the target's own ttft_ms = 5: no request's first token came near it (the
    # emulator's timers have about a millisecond's grain, so 250 may read as 249.8).
    measured = slowed.frame
    assert (measured["status"] == "ok").all() and (measured["ttft_ms"] >= 240).all()
    assert (plain.frame["ttft_ms"] < 250).all()
    # The salt reached the emulator: its seeds are not the run's own per-request seeds.
    seeds = [json.loads(line)["seed"] for name in ("a", "b") for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert len(set(seeds)) == len(seeds)

    code, out, err = cli("run", str(path), "--emulate", "--emulator-set", "ttft_ms=20", "--emulator-seed", "4",
                         "--out", str(tmp_path / "c"), "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    run_dir = next((tmp_path / "c").iterdir())
    meta = read_run_meta(run_dir)
    assert meta.fingerprint == plain.meta.fingerprint and meta.model_extra["emulator_set"] == {"ttft_ms": 20}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--emulate", "--emulator-set", "bogus=1"], "--emulator-set 'bogus=1': unknown key 'bogus'"),
        (["--emulate", "--emulator-set", "ttft_ms=fast"], "--emulator-set 'ttft_ms=fast'"),
        (["--emulate", "--emulator-set", "tokens_per_s=0"], "tokens_per_s must be in"),
        (["--emulator-set", "ttft_ms=400"], "only for emulated runs"),
        (["--emulator-seed", "2"], "only for emulated runs"),
    ],
)
def test_bad_emulator_options_exit_2_in_one_line(
    write_scenario: Callable[..., Path], tmp_path: Path, cli: Callable[..., tuple[int, str, str]], args: list[str], needle: str
) -> None:
    path = write_scenario(SCENARIO)
    code, _, err = cli("run", str(path), *args, "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # refused before anything ran


def test_bench_emulate_refuses_bad_settings_and_timeouts(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = cli("emulate", "--port", "0", "--set", "nope=1")
    assert code == 2 and "--set 'nope=1': unknown key" in err
    code, _, err = cli("emulate", "--port", "0", "--idle-timeout", "nan")
    assert code == 2 and "--idle-timeout" in err
