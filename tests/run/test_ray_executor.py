"""``--executor ray``: the same levels driven by Ray actors, on a local Ray instance (two actors).

One Ray start for the whole file: ``bench run … --executor ray --workers 2`` runs once, in a
subprocess (Ray's signal handlers, threads and atexit hooks stay out of the test process), and
the tests read what it left. The address checks start no Ray at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")

from bench import load_results  # noqa: E402
from bench.run.runner import run_scenario  # noqa: E402

SCENARIO = """
[scenario]
name = "ray"
emulate = true

[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
[target.emulator]
ttft_ms = 5
tokens_per_s = 20000
jitter = 0

[request]
max_tokens = 300

[load]
concurrency = [3, 2]
requests = 6
warmup = 1
seed = 11
timeout_s = 20
"""


@dataclass
class RayRun:
    code: int
    stdout: str
    stderr: str
    run_dir: Path | None
    scenario: Path
    seconds: float


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory: pytest.TempPathFactory) -> RayRun:
    root = tmp_path_factory.mktemp("ray")
    path = root / "s.toml"
    path.write_text(textwrap.dedent(SCENARIO))
    out = root / "results"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            str(path),
            "--executor",
            "ray",
            "--workers",
            "2",
            "--out",
            str(out),
            "--no-report",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )
    runs = sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []
    return RayRun(
        proc.returncode, proc.stdout, proc.stderr, runs[0] if len(runs) == 1 else None, path, time.monotonic() - started
    )


@pytest.mark.slow
def test_two_ray_actors_write_one_run(ray_run: RayRun, tmp_path: Path) -> None:
    assert ray_run.code == 0, ray_run.stderr[-3000:]
    assert "TTFT p50" in ray_run.stdout and "groq/openai/gpt-oss-20b" in ray_run.stdout  # the summary
    assert "results:" in ray_run.stdout and "Traceback" not in ray_run.stderr
    run_dir = ray_run.run_dir
    assert run_dir is not None  # one run directory
    frame = load_results(run_dir)
    assert len(frame) == 2 * (6 + 1)
    assert (frame["status"] == "ok").all(), frame[["worker", "error_kind", "error_message"]]
    assert set(frame["worker"]) == {0, 1}
    assert not frame.duplicated(["target", "load_level", "request_index"]).any()
    for level in (3.0, 2.0):
        at = frame[frame["load_level"] == level]
        assert sorted(at["request_index"]) == list(range(7))
        assert sorted(at.loc[at["warmup"], "request_index"]) == [0]
    at3 = frame[frame["load_level"] == 3.0]
    assert at3.groupby("worker").size().to_dict() == {0: 5, 1: 2}  # streams 2 + 1, requests 4 + 2, warm-up 1 + 0
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["executor"] == "ray" and meta["workers"] == 2
    assert meta["finished"] is True and meta["interrupted"] is False
    entries = meta["client_health"]["levels"]
    assert sorted((e["load_level"], e["worker"]) for e in entries) == [(2.0, 0), (2.0, 1), (3.0, 0), (3.0, 1)]
    assert all(e["samples"] > 0 and e["wall_s"] > 0 for e in entries), entries
    # The actors got the same answers as one local process would (seeded emulator, jitter 0).
    single = run_scenario(ray_run.scenario, out=tmp_path / "one", workers=1).frame

    def answers(f: pd.DataFrame) -> dict:
        return {(r.load_level, r.request_index): (r.output_tokens, r.finish_reason) for r in f.itertuples()}

    assert answers(frame) == answers(single)


def test_address_needs_the_ray_executor(cli, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SCENARIO))
    code, out, err = cli("run", str(path), "--address", "127.0.0.1:1", "--out", str(tmp_path / "r"))
    assert code == 2
    assert err.strip() == "bench: error: --address: only with --executor ray"
    assert not (tmp_path / "r").exists()


def test_unreachable_address_is_one_line_in_seconds(cli, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SCENARIO))
    started = time.monotonic()
    code, out, err = cli(
        "run", str(path), "--executor", "ray", "--address", "127.0.0.1:1", "--out", str(tmp_path / "r"), "--quiet"
    )
    took = time.monotonic() - started
    assert took < 60  # Ray alone retries such an address for many minutes; bench checks it first
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: --address 127.0.0.1:1"), err
    assert "Traceback" not in err


@pytest.mark.slow
def test_ray_actors_run_interleaved_targets_side_by_side(tmp_path: Path) -> None:
    """Each actor gets its share of every target's level as one job: one health sample per
    actor and level, each target's indices and answers as one local process gives them."""
    text = textwrap.dedent(SCENARIO)
    second = text[text.index("[[target]]") : text.index("[request]")]
    second = second.replace('provider = "groq"', 'provider = "anthropic"').replace("openai/gpt-oss-20b", "claude-haiku-5-5")
    path = tmp_path / "two.toml"
    path.write_text(text.replace("[request]", second + "[request]"))
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(path), "--executor", "ray", "--workers", "2", "--out", str(out),
         "--no-report", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    frame = load_results(run_dir)
    assert len(frame) == 2 * 2 * 7 and (frame["status"] == "ok").all()
    for (_target, _level), group in frame.groupby(["target", "load_level"]):
        assert sorted(group["request_index"]) == list(range(7))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["order"] == "interleaved" and meta["executor"] == "ray"
    names = ["groq/openai/gpt-oss-20b", "anthropic/claude-haiku-5-5"]
    assert sorted((e["load_level"], e["worker"], tuple(e["targets"])) for e in meta["client_health"]["levels"]) == [
        (level, worker, tuple(names)) for level in (2.0, 3.0) for worker in (0, 1)
    ]
    single = run_scenario(path, out=tmp_path / "one", workers=1).frame

    def answers(f: pd.DataFrame) -> dict:
        return {(r.target, r.load_level, r.request_index): (r.output_tokens, r.finish_reason) for r in f.itertuples()}

    assert answers(frame) == answers(single)
