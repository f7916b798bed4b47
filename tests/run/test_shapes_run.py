"""Request shapes on the emulator: bins label drawn lengths (a conversation keeps its first
turn's bin), an output ladder asks each rung's max_tokens, and shapes run level by level."""

from __future__ import annotations

from pathlib import Path

from bench.analysis.metrics import measured
from bench.results.records import load_results
from bench.run.order import steps
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario
from bench.scenario.shapes import bin_label

SCENARIO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"

[[target]]
provider = "openai"
model = "gpt-4.1"

[request]
max_tokens = {max_tokens}

[prompts]
input_tokens = {input_tokens}
{extra}

[load]
concurrency = [1, 2]
requests = 4
"""


def _frame(write_scenario, tmp_path: Path, **parts: str):
    path = write_scenario(SCENARIO.format(**parts))
    frame = measured(load_results(run_scenario(path, out=tmp_path / "r", emulate=True).run_dir))
    assert frame["error_kind"].isna().all(), frame["error_message"].dropna().tolist()
    return frame


def test_bins_label_each_drawn_length_and_a_conversation_keeps_its_first_bin(write_scenario, tmp_path: Path) -> None:
    frame = _frame(
        write_scenario,
        tmp_path,
        max_tokens="8",
        input_tokens="{ mean = 900, stdev = 700, min = 64, max = 3000 }",
        extra="bins = [0, 500, 1500]\nturns = 2",
    )
    first = frame[frame["turn"] == 1]
    assert (first["shape"] == [bin_label([0, 500, 1500], int(n)) for n in first["input_tokens_asked"]]).all()
    assert first["shape"].nunique() >= 2  # the draws spread over the bins
    by_conversation = frame.groupby(["target", "load_level", "conversation"])["shape"].nunique()
    assert (by_conversation == 1).all()


def test_an_output_ladder_asks_each_rung_and_shapes_run_within_each_level(write_scenario, tmp_path: Path) -> None:
    frame = _frame(write_scenario, tmp_path, max_tokens="[8, 24]", input_tokens="64", extra="")
    assert set(frame["shape"]) == {"output 8", "output 24"}
    assert (frame["max_tokens_asked"] == frame["shape"].str.removeprefix("output ").astype(float)).all()
    assert (frame["output_tokens"] <= frame["max_tokens_asked"]).all()
    assert frame.groupby(["target", "load_level", "shape"]).size().eq(4).all()
    order = [(s.level, s.shape.label) for s in steps(load_scenario(write_scenario(SCENARIO.format(
        max_tokens="[8, 24]", input_tokens="64", extra=""))))]  # fmt: skip
    assert order == [(1.0, "output 8"), (1.0, "output 24"), (2.0, "output 8"), (2.0, "output 24")]
