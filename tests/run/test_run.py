"""End to end: scenario → a real client path → emulator over loopback HTTP → results on disk → frame.

No mocks: every request goes through a real socket, by the default lean client or, where a test
names it, the unmodified official SDK.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from bench import load_results
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario
from bench.schema import COLUMNS, ERROR_KINDS


def scenario(
    tmp_path: Path,
    targets: str,
    *,
    stream: bool = True,
    load: str = "concurrency = [2]\nrequests = 4\nwarmup = 1",
    extra: str = "",
    max_tokens: int = 12,
    name: str = "s.toml",
) -> Path:
    path = tmp_path / name
    path.write_text(
        textwrap.dedent(
            """
            [scenario]
            name = "e2e"
            emulate = true
            """
        )
        + textwrap.dedent(targets)
        + f"\n[request]\nstream = {'true' if stream else 'false'}\nmax_tokens = {max_tokens}\n"
        + f"\n[load]\n{load}\ntimeout_s = 10\n"
        + extra
    )
    return path


FAST = "[target.emulator]\nttft_ms = 15\ntokens_per_s = 2000\njitter = 0.05\n"

ALL_KINDS = f"""
[[target]]
provider = "groq"
model = "llama-3.1-8b-instant"
{FAST}
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
label = "groq-reasoning"
{FAST}
[[target]]
provider = "openai"
model = "gpt-4.1"
{FAST}
[[target]]
provider = "anthropic"
model = "claude-haiku-5-5"
{FAST}
[[target]]
provider = "openai-compatible"
model = "local-model"
base_url = "http://127.0.0.1:9/v1"
{FAST}
"""


@pytest.mark.parametrize("client", ["fast", "sdk"])
@pytest.mark.parametrize("stream", [True, False])
def test_all_provider_kinds(tmp_path: Path, stream: bool, client: str) -> None:
    result = run_scenario(scenario(tmp_path, ALL_KINDS, stream=stream), out=tmp_path / "results", client=client)
    frame = result.frame
    assert list(frame.columns) == list(COLUMNS)
    for name, dtype in COLUMNS.items():
        if dtype != "object":
            assert str(frame[name].dtype) in (dtype, "string[python]", "str"), name
    assert len(frame) == 5 * (4 + 1)
    assert frame["warmup"].sum() == 5 and frame["warmup"].dtype == bool
    assert (frame["status"] == "ok").all(), frame[["target", "error_kind", "error_message"]]
    assert set(frame["target"]) == {
        "groq/llama-3.1-8b-instant",
        "groq-reasoning",
        "openai/gpt-4.1",
        "anthropic/claude-haiku-5-5",
        "openai-compatible/local-model",
    }
    assert (frame["output_tokens"] > 0).all()
    assert (frame["token_source"] == "usage").all()
    assert (frame["e2e_ms"] > 10).all()
    assert (frame["sdk_prep_ms"] >= 0).all() and (frame["ttfb_ms"] > 0).all()
    assert frame["request_id"].notna().all()
    assert (frame["client"] == client).all()
    groq = frame[frame["provider"] == "groq"]
    assert groq["queue_ms"].notna().all() and groq["completion_ms"].notna().all()
    assert groq["server_output_tps"].gt(0).all()
    if stream:
        assert frame["ttft_ms"].between(5, 2000).all()
        assert (frame["ttft_ms"] <= frame["e2e_ms"]).all()
        assert (frame["content_chunks"] > 1).all()
        assert frame["output_tps"].gt(0).all()
        assert (frame["tpot_ms"] - 1000 / frame["output_tps"]).abs().max() < 1e-6
        assert ((frame["response_100_ms"] - (frame["ttfa_ms"] + 100 * frame["tpot_ms"])).abs() < 1e-6).all()
        assert frame["itl_ms"].map(len).eq(frame["content_chunks"] - 1).all()
        reasoning = frame[frame["target"] == "groq-reasoning"]
        assert (reasoning["ttfa_ms"] > reasoning["ttft_ms"]).all()
        plain = frame[frame["target"] == "openai/gpt-4.1"]
        assert (plain["ttfa_ms"] == plain["ttft_ms"]).all()
    else:
        assert frame["ttft_ms"].isna().all() and frame["output_tps"].isna().all()
        assert not frame["stream"].any()
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["emulated"] is True and meta["finished"] is True and meta["prompts_unique"] is True
    assert meta["versions"]["openai"] and meta["fingerprint"]
    assert len(meta["scenario"]["targets"]) == 5


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [
        ("rate_limited", "rate_limited", 429),
        ("auth", "auth", 401),
        ("permission", "permission", 403),
        ("quota", "quota", None),
        ("model_not_found", "model_not_found", 404),
        ("model_decommissioned", "model_decommissioned", 400),
        ("bad_request", "bad_request", 400),
        ("server_error", "server_error", 500),
        ("overloaded", "overloaded", None),
        ("stream_interrupted", "stream_interrupted", None),
        ("protocol", "protocol", None),
        ("midstream_error", None, None),
        ("timeout", "timeout", None),
    ],
)
def test_every_fault_is_one_error_row_and_the_run_goes_on(
    tmp_path: Path, fault: str, kind: str | None, status: int | None
) -> None:
    targets = ""
    for provider, model in (("groq", "llama-3.1-8b-instant"), ("openai", "gpt-4.1"), ("anthropic", "claude-haiku-5-5")):
        targets += f'[[target]]\nprovider = "{provider}"\nmodel = "{model}"\n'
        targets += f"[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\nfaults = {{ {fault} = 1.0 }}\n"
    load = "concurrency = [2]\nrequests = 2\nwarmup = 0"
    path = scenario(tmp_path, targets, load=load)
    if fault == "timeout":
        path.write_text(path.read_text().replace("timeout_s = 10", "timeout_s = 0.5"))
    result = run_scenario(path, out=tmp_path / "results")
    frame = result.frame
    assert len(frame) == 6
    assert (frame["status"] == "error").all()
    assert frame["error_kind"].isin(ERROR_KINDS).all()
    if kind is not None:
        assert (frame["error_kind"] == kind).all(), frame[["provider", "error_kind", "error_message"]].to_string()
    else:
        assert frame["error_kind"].isin(["overloaded", "server_error"]).all()
    if status is not None:
        assert (frame["http_status"] == status).all()
    assert (frame["retries"] == 0).all()
    assert frame["error_message"].str.len().gt(0).all()


def test_retries_are_counted_and_t0_stays_at_first_attempt(tmp_path: Path) -> None:
    # The SDK path retries (with the SDK's own semantics); the lean client does not yet.
    targets = '[[target]]\nprovider = "openai"\nmodel = "gpt-4.1"\nclient = "sdk"\n'
    targets += "[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\nfaults = { rate_limited = 1.0 }\nretry_after_s = 0\n"
    path = scenario(tmp_path, targets, load="concurrency = [1]\nrequests = 1")
    path.write_text(path.read_text().replace("max_tokens = 12", "max_tokens = 12\nmax_retries = 2"))
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert frame["retries"].tolist() == [2]
    assert frame["error_kind"].tolist() == ["rate_limited"]


def test_server_quirks_still_count_tokens(tmp_path: Path) -> None:
    targets = (
        '[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\nlabel = "no-usage"\n'
        "[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\nomit_usage = true\nomit_done = true\nempty_chunk_share = 0.2\n"
        '[[target]]\nprovider = "groq"\nmodel = "llama-3.1-8b-instant"\nlabel = "empties"\n'
        "[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\nempty_chunk_share = 0.2\n"
    )
    path = scenario(tmp_path, targets, max_tokens=40, load="concurrency = [1]\nrequests = 3")
    path.write_text(path.read_text().replace("max_tokens = 40", "max_tokens = 40\nextra_body = { ignore_eos = true }"))
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert (frame["status"] == "ok").all(), frame["error_message"].tolist()
    no_usage = frame[frame["target"] == "no-usage"]
    assert (no_usage["token_source"] == "chunks").all()
    assert (no_usage["output_tokens"] == 40).all()
    # Empty-string chunks are tokens but not content events.
    assert (no_usage["content_chunks"] < 40).all()
    empties = frame[frame["target"] == "empties"]
    assert (empties["token_source"] == "usage").all() and (empties["output_tokens"] == 40).all()


def test_open_loop_records_schedule_and_lag(tmp_path: Path) -> None:
    targets = f'[[target]]\nprovider = "groq"\nmodel = "llama-3.1-8b-instant"\n{FAST}'
    path = scenario(tmp_path, targets, load="rate = [20.0]\nrequests = 10\nwarmup = 2\nseed = 3")
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert len(frame) == 12 and (frame["load_mode"] == "rate").all() and (frame["load_level"] == 20.0).all()
    assert (
        frame["scheduled_ms"].is_monotonic_increasing
        or frame.sort_values("request_index")["scheduled_ms"].is_monotonic_increasing
    )
    assert frame["start_lag_ms"].ge(0).all() and frame["start_lag_ms"].lt(500).all()
    assert frame.loc[frame["request_index"] < 2, "warmup"].all()
    again = run_scenario(path, out=tmp_path / "r2").frame
    assert sorted(again["scheduled_ms"].round(6)) == sorted(frame["scheduled_ms"].round(6))


def test_overrides_pick_targets_and_load(tmp_path: Path) -> None:
    path = scenario(tmp_path, ALL_KINDS)
    result = run_scenario(path, out=tmp_path / "r", targets=["openai/gpt-4.1"], requests=3, concurrency=[1, 3])
    frame = result.frame
    assert set(frame["target"]) == {"openai/gpt-4.1"}
    assert sorted(frame.groupby("load_level").size().to_dict().items()) == [(1.0, 4), (3.0, 4)]


def test_load_results_root_picks_newest_and_reads_jsonl_without_parquet(tmp_path: Path) -> None:
    targets = f'[[target]]\nprovider = "groq"\nmodel = "llama-3.1-8b-instant"\n{FAST}'
    path = scenario(tmp_path, targets, load="concurrency = [1]\nrequests = 2")
    first = run_scenario(path, out=tmp_path / "root")
    second = run_scenario(path, out=tmp_path / "root")
    assert second.run_id > first.run_id
    newest = load_results(tmp_path / "root")
    assert set(newest["run_id"]) == {second.run_id}
    (second.run_dir / "requests.parquet").unlink()
    from_jsonl = load_results(second.run_dir)
    pd.testing.assert_frame_equal(from_jsonl, newest)
    assert from_jsonl["itl_ms"].map(lambda v: isinstance(v, list)).all()


def test_duration_bounded_level(tmp_path: Path) -> None:
    targets = f'[[target]]\nprovider = "groq"\nmodel = "llama-3.1-8b-instant"\n{FAST}'
    path = scenario(tmp_path, targets, load="concurrency = [2]\nduration_s = 0.5")
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert len(frame) >= 2 and (frame["status"] == "ok").all()
    span_ms = (frame["started_at_ns"].max() - frame["started_at_ns"].min()) / 1e6
    assert span_ms < 1500


def test_reasoning_hidden_by_openai_is_not_in_speed(tmp_path: Path) -> None:
    targets = '[[target]]\nprovider = "openai"\nmodel = "gpt-5-mini"\n[target.emulator]\nttft_ms = 10\ntokens_per_s = 1000\njitter = 0\n'
    path = scenario(tmp_path, targets, max_tokens=300, load="concurrency = [1]\nrequests = 2")
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert (frame["status"] == "ok").all()
    assert frame["reasoning_tokens"].gt(0).all()
    # Speed is over streamed tokens only: close to the emulated 1000 tokens/s, not inflated.
    assert frame["output_tps"].between(500, 1500).all(), frame["output_tps"].tolist()


def test_ttft_close_to_the_emulators_chunk_log(tmp_path: Path) -> None:
    """A gross-error check only (bounds loose enough for a busy machine); benchmarks/timing_accuracy.py prints the precise error."""
    targets = (
        '[[target]]\nprovider = "openai"\nmodel = "gpt-4.1"\n[target.emulator]\nttft_ms = 40\ntokens_per_s = 200\njitter = 0\n'
    )
    path = scenario(tmp_path, targets, max_tokens=20, load="concurrency = [1]\nrequests = 5")
    log = tmp_path / "chunks.jsonl"
    frame = run_scenario(load_scenario(path), out=tmp_path / "r", emulate=True, emulator_chunk_log=log).frame
    truth = {e["request_id"]: e for e in map(json.loads, log.read_text().splitlines())}
    errors = []
    for row in frame.itertuples():
        entry = truth[row.request_id]
        errors.append(row.ttft_ms - (entry["first_content_ns"] - entry["received_ns"]) / 1e6)
        gap = (entry["last_content_ns"] - entry["first_content_ns"]) / 1e6 / (entry["n_content_chunks"] - 1)
        assert math.isclose(row.tpot_ms, gap, rel_tol=0.25)
    assert -1 < sorted(errors)[len(errors) // 2] < 25


def test_run_ids_sort_by_start_even_within_one_second(tmp_path: Path) -> None:
    from bench.results.provenance import new_run_id
    from bench.results.records import claim_run_dir
    from bench.run.runner import Runner, RunOptions

    ids = [new_run_id("s") for _ in range(200)]
    assert ids == sorted(ids)
    loaded = load_scenario(scenario(tmp_path, f'[[target]]\nprovider = "groq"\nmodel = "m"\n{FAST}'))
    runners = [Runner(loaded, RunOptions(out=tmp_path / "root", emulate=True)) for _ in range(3)]
    for runner in runners:
        runner.run_id = runners[0].run_id  # as if started in the same instant
        runner.run_dir = tmp_path / "root" / runner.run_id
        runner.run_id, runner.run_dir = claim_run_dir(tmp_path / "root", "s", runner.run_id)
    assert len({r.run_dir for r in runners}) == 3 and all(r.run_dir.is_dir() for r in runners)
