"""The lean client through the runner, on the emulator: every fault, quirks, the client column, retries."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bench.emulator.faults import expected_error_kind
from bench.run.runner import run_scenario

# ---------------------------------------------------------------------------- through the runner, on the emulator


def emulated(tmp_path: Path, targets: str, *, load: str, request: str = "max_tokens = 12") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        '[scenario]\nname = "fast"\nemulate = true\n'
        + textwrap.dedent(targets)
        + f"\n[request]\n{request}\n\n[load]\n{load}\ntimeout_s = 10\nseed = 5\n"
    )
    return path


@pytest.mark.parametrize(
    "fault",
    [
        "rate_limited",
        "auth",
        "permission",
        "quota",
        "model_not_found",
        "model_decommissioned",
        "bad_request",
        "server_error",
        "overloaded",
        "stream_interrupted",
        "protocol",
        "midstream_error",
        "timeout",
    ],
)
def test_every_emulator_fault_with_client_fast_in_the_scenario(tmp_path: Path, fault: str) -> None:
    targets = ""
    for provider, model in (("groq", "llama-3.1-8b-instant"), ("openai", "gpt-4.1"), ("anthropic", "claude-haiku-5-5")):
        targets += f'[[target]]\nprovider = "{provider}"\nmodel = "{model}"\nclient = "fast"\n'
        targets += f"[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\nfaults = {{ {fault} = 1.0 }}\n"
    path = emulated(tmp_path, targets, load="concurrency = [2]\nrequests = 2")
    if fault == "timeout":
        path.write_text(path.read_text().replace("timeout_s = 10", "timeout_s = 0.5"))
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert len(frame) == 6 and (frame["client"] == "fast").all()
    assert (frame["status"] == "error").all() and (frame["retries"] == 0).all()
    for row in frame.itertuples():
        dialect = row.provider
        assert row.error_kind == expected_error_kind(fault, dialect), (row.provider, row.error_kind, row.error_message)
    if fault == "midstream_error":
        statuses = dict(zip(frame["provider"], frame["http_status"], strict=True))
        assert statuses == {"groq": 200, "openai": 200, "anthropic": 529}, statuses  # as the SDK path records
    if fault == "timeout":
        assert frame["e2e_ms"].between(450, 1500).all(), frame["e2e_ms"].tolist()
        assert frame["error_message"].str.contains("timeout_s = 0.5").all()


def test_client_column_and_emulator_quirks_with_client_fast(tmp_path: Path) -> None:
    quirks = "[target.emulator]\nttft_ms = 10\ntokens_per_s = 2000\njitter = 0\n"
    targets = (
        f'[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
        f'label = "no-usage"\n{quirks}omit_usage = true\nomit_done = true\nempty_chunk_share = 0.2\n'
        f'[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\nlabel = "reasoning"\nclient = "sdk"\n{quirks}'
    )  # the first target on the default (lean) client, the second on the SDK path it names
    path = emulated(
        tmp_path, targets, load="concurrency = [1]\nrequests = 3", request="max_tokens = 40\nextra_body = { ignore_eos = true }"
    )
    frame = run_scenario(path, out=tmp_path / "r").frame
    assert (frame["status"] == "ok").all(), frame["error_message"].tolist()
    assert dict(zip(frame["target"], frame["client"], strict=True)) == {"no-usage": "fast", "reasoning": "sdk"}
    no_usage = frame[frame["target"] == "no-usage"]
    assert (no_usage["token_source"] == "chunks").all() and (no_usage["output_tokens"] == 40).all()
    assert (no_usage["content_chunks"] < 40).all()
    again = run_scenario(path, out=tmp_path / "r2", client="fast").frame
    assert (again["client"] == "fast").all()
    reasoning = again[again["target"] == "reasoning"]
    assert (reasoning["ttfa_ms"] > reasoning["ttft_ms"]).all() and (reasoning["token_source"] == "usage").all()


@pytest.mark.parametrize("how", ["--client fast", 'client = "fast" in the file'])
def test_max_retries_with_the_fast_client_retries_like_the_sdk(tmp_path: Path, cli, how: str) -> None:
    """Every answer a 429 with a short retry-after: both paths try max_retries more times and say so."""
    client = 'client = "fast"\n' if how.startswith("client") else ""
    emulator = "[target.emulator]\nttft_ms = 5\njitter = 0\nretry_after_s = 0.01\nfaults = { rate_limited = 1.0 }\n"
    targets = f'[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\n{client}{emulator}'
    targets += f'[[target]]\nprovider = "anthropic"\nmodel = "claude-haiku-5-5"\n{client}{emulator}'
    path = emulated(tmp_path, targets, load="concurrency = [1]\nrequests = 2", request="max_tokens = 8\nmax_retries = 2")
    args = ["run", str(path), "--out", str(tmp_path / "r")] + (["--client", "fast"] if not client else [])
    code, out, err = cli(*args)
    assert code == 1 and err.strip() == "bench: no measured request succeeded", (out, err)  # every answer a 429
    fast = run_scenario(path, out=tmp_path / "f", client="fast").frame
    sdk = run_scenario(path, out=tmp_path / "s", client="sdk").frame
    for frame, name in ((fast, "fast"), (sdk, "sdk")):
        assert (frame["client"] == name).all()
        assert len(frame) == 4 and (frame["error_kind"] == "rate_limited").all(), frame["error_message"].tolist()
        assert (frame["retries"] == 2).all() and (frame["http_status"] == 429).all()
