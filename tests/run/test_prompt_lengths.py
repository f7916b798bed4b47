"""Drawn prompt and response lengths through a real emulated run, on both client paths: every
request asks for its own lengths, records them beside the provider's counts, and the
first-token-time fit recovers the emulator's prefill speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.analysis.metrics import measured
from bench.analysis.prefill import prefill_fits
from bench.results.records import load_results
from bench.run.runner import run_scenario

PREFILL = 20_000.0


@pytest.mark.parametrize(("provider", "model"), [("groq", "openai/gpt-oss-20b"), ("anthropic", "claude-haiku-5-5")])
def test_drawn_lengths_run_record_and_fit_on_both_clients(write_scenario, tmp_path: Path, provider: str, model: str) -> None:
    path = write_scenario(
        f"""
        [[target]]
        provider = "{provider}"
        model = "{model}"
        client = ["fast", "sdk"]
        [target.emulator]
        prefill_tokens_per_s = {PREFILL}
        jitter = 0.0

        [request]
        max_tokens = {{ mean = 24, stdev = 12, min = 4, max = 48 }}

        [prompts]
        input_tokens = {{ mean = 6000, stdev = 5000, min = 128, max = 16000 }}

        [load]
        concurrency = [4]
        requests = 40
        """
    )
    result = run_scenario(path, out=tmp_path / "results", emulate=True)
    frame = measured(load_results(result.run_dir))
    assert sorted(frame["client"].unique()) == ["fast", "sdk"]
    assert frame["error_kind"].isna().all()
    for _, rows in frame.groupby("client"):
        asked = rows["input_tokens_asked"].to_numpy(dtype=float)
        counted = rows["input_tokens"].to_numpy(dtype=float)
        assert len(np.unique(asked)) > 30 and asked.min() >= 128 and asked.max() <= 16000
        # The provider's own count follows the asked length (the emulator's tokenizer is not bench's words).
        assert np.corrcoef(asked, counted)[0, 1] > 0.99
        caps = rows["max_tokens_asked"].to_numpy(dtype=float)
        assert caps.min() >= 4 and caps.max() <= 48 and len(np.unique(caps)) > 5
        assert (rows["output_tokens"].to_numpy(dtype=float) <= caps).all()
    # The same request index asks for the same lengths on both clients (seeded per request).
    by_client = {c: rows.sort_values("request_index") for c, rows in frame.groupby("client")}
    for column in ("max_tokens_asked", "input_tokens_asked"):
        assert (by_client["fast"][column].to_numpy() == by_client["sdk"][column].to_numpy()).all()
    fits = prefill_fits(frame)
    assert sorted(f.client for f in fits) == ["fast", "sdk"]  # one fit per client path
    for fit in fits:
        assert fit.fitted, fit.reason
        assert fit.prefill_tokens_per_s == pytest.approx(PREFILL, rel=0.05)
        # The interval is narrow (about ±1% here); a loaded machine's late stamps can shift it
        # by a little more, so it must reach within 2% of the truth rather than cover it exactly.
        low, high = fit.prefill_tokens_per_s_ci
        assert low <= PREFILL * 1.02 and high >= PREFILL * 0.98, (low, high)
        assert high - low < 0.1 * PREFILL  # and it says something
