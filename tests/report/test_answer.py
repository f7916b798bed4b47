"""The report opens with the answer: targets ranked on first token, output speed and cost per
million output tokens, worded only as firmly as the bootstrap CIs of the differences allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report.analyse import build_model
from bench.report.data import build
from bench.report.markdown import render_markdown
from tests.synthetic import write_synthetic_run

GROQ, OPENAI, ANTHROPIC = "groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo", "anthropic/claude-sonnet-5-5"


def _answer(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("**The answer first")]
    assert len(lines) == 1, text[:2000]
    return lines[0]


def test_clearly_different_targets_are_ranked_with_ci_backed_words(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, levels=(1, 4), n=60)
    text = render_markdown(build([run]), {})
    line = _answer(text)
    # The highest level every target ran, named.
    assert "(at concurrency 4, the highest load level every target ran)" in line
    assert f"{GROQ} is faster to the first token than {OPENAI} (95% CI excludes a tie)" in line
    assert f"{GROQ} streams faster than {OPENAI} (95% CI excludes a tie)" in line
    assert "no clear difference" not in line.split("Output tokens/s")[0].split(f"{GROQ} is faster")[0]
    assert "Cost per million output tokens:" in line and "is cheapest" in line
    # It opens the report: after the title and the emulator banner, before the run's line.
    lines = text.splitlines()
    assert lines.index(line) < next(i for i, x in enumerate(lines) if x.startswith("**Scenario:**"))
    assert lines.index(line) < 6


def test_tied_targets_read_no_clear_difference(tmp_path: Path) -> None:
    # Two targets drawn from one provider profile: the same distribution, so no winner.
    tied = ("openai-compatible/model-a", "openai-compatible/model-b")
    run = write_synthetic_run(tmp_path, targets=tied, n=40)
    model = build_model(build([run]))
    assert model.answer is not None
    ttft = next(r for r in model.answer.rankings if r.figure == "ttft")
    assert ttft.clear == (False,)
    line = _answer(render_markdown(build([run]), {}))
    assert "no clear difference (95% CI includes a tie)" in line
    assert "is faster to the first token than" not in line
    # Models the catalogue does not price are named, never ranked as free.
    assert "openai-compatible/model-a: no price" in line and "openai-compatible/model-b: no price" in line
    assert "cheapest" not in line


def test_the_ranking_follows_the_data_not_the_order_of_targets(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=(ANTHROPIC, GROQ), n=60)
    model = build_model(build([run]))
    assert model.answer is not None
    ttft = next(r for r in model.answer.rankings if r.figure == "ttft")
    tps = next(r for r in model.answer.rankings if r.figure == "output_tps")
    assert ttft.targets == (GROQ, ANTHROPIC) and ttft.clear == (True,)
    assert tps.targets == (GROQ, ANTHROPIC) and tps.values[0] > tps.values[1]
    cost = next(r for r in model.answer.rankings if r.figure == "cost")
    assert cost.values == tuple(sorted(cost.values))


def test_one_target_says_so_plainly(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=(GROQ,), n=20)
    line = _answer(render_markdown(build([run]), {}))
    assert f"one target was measured ({GROQ}, concurrency 1), so there is nothing to rank it against" in line
    assert "faster" not in line and "cheapest" not in line


def test_a_comparison_answers_for_the_latest_run(tmp_path: Path) -> None:
    one = write_synthetic_run(tmp_path, run_id="20260925-100000-synthetic-0001", n=30)
    two = write_synthetic_run(tmp_path, run_id="20260926-100000-synthetic-0002", n=30, seed=3)
    line = _answer(render_markdown(build([one, two]), {}))
    assert "in run 2, the latest run" in line
    assert f"{GROQ} is faster to the first token than" in line


@pytest.mark.parametrize("seed", [0, 1])
def test_the_answer_is_deterministic(tmp_path: Path, seed: int) -> None:
    run = write_synthetic_run(tmp_path, targets=("openai-compatible/model-a", "openai-compatible/model-b"), n=30, seed=seed)
    assert _answer(render_markdown(build([run]), {})) == _answer(render_markdown(build([run]), {}))
