"""The report's "Prompt length, cache and turns" section, from real emulated runs."""

from __future__ import annotations

from pathlib import Path

from bench.report import render_report
from bench.run.runner import run_scenario

LENGTHS = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
[target.emulator]
prefill_tokens_per_s = 30000
jitter = 0.0

[[target]]
provider = "openai"
model = "gpt-4.1"
[target.request]
max_tokens = 16

[request]
max_tokens = 8

[prompts]
input_tokens = {input_tokens}
{extra}

[load]
concurrency = [2]
requests = 12
"""


def _readme(write_scenario, tmp_path: Path, input_tokens: str, extra: str = "") -> str:
    path = write_scenario(LENGTHS.format(input_tokens=input_tokens, extra=extra))
    run = run_scenario(path, out=tmp_path / "results", emulate=True).run_dir
    return render_report([Path(run)], tmp_path / "report").read_text(encoding="utf-8")


def test_drawn_lengths_get_a_prefill_fit_and_token_counts(write_scenario, tmp_path: Path) -> None:
    readme = _readme(write_scenario, tmp_path, "{ mean = 4000, stdev = 3000, min = 200, max = 10000 }")
    section = readme.split("## Prompt length, cache and turns")[1].split("\n## ")[0]
    groq = next(
        line for line in section.splitlines() if line.startswith("| groq/openai/gpt-oss-120b") and "concurrency 2" in line
    )
    speed = float(groq.split("|")[6].split("[")[0].replace(",", ""))
    assert abs(speed - 30000) / 30000 < 0.1, groq
    assert "counted ÷ asked p50" in section
    assert "![First-token time against prompt length](ttft_vs_input_tokens.png)" in section
    assert (tmp_path / "report" / "ttft_vs_input_tokens.png").stat().st_size > 10_000
    method = readme.split("## Method")[1]
    assert "mean 4000 ± 3000 (200–10000) input tokens" in method
    assert "per target: openai/gpt-4.1: max_tokens = 16" in method
    assert "targets interleaved" in method


def test_a_fixed_prompt_gets_no_fit_and_a_warm_cache_its_table(write_scenario, tmp_path: Path) -> None:
    readme = _readme(write_scenario, tmp_path, "2400", 'shared_prefix_tokens = 2000\ncache = "warm"')
    section = readme.split("## Prompt length, cache and turns")[1].split("\n## ")[0]
    assert "prefill tokens/s" not in section
    assert not (tmp_path / "report" / "ttft_vs_input_tokens.png").exists()
    assert "requests with cached input" in section and "12 of 12" in section
    assert "a shared 2,000-token prefix, warm cache" in readme
    assert "unique prompt per request" not in readme  # a warm prefix is shared on purpose, and the report says no otherwise
