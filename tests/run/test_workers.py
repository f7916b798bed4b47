"""``--workers N``: worker processes share each level against the emulator, over real loopback HTTP.

One run directory, every request once, a ``worker`` column, one client-health sample per worker
and level in run.json, the same per-request answers as one process, and Ctrl-C that ends a
workers run cleanly (exit 130, in-flight requests recorded as cancelled, no processes left).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil

from bench import load_results
from bench.run.runner import run_scenario

# jitter 0 and a seed per request: the emulator answers each request index the same way in every
# run. max_tokens 300 against a natural length of ~400 (log-normal): a mix of lengths and stops.
TARGET = """
[[target]]
provider = "groq"
model = "llama-3.1-8b-instant"
[target.emulator]
ttft_ms = 5
tokens_per_s = 20000
jitter = 0
"""


def scenario(tmp_path: Path, load: str, name: str = "s.toml", max_tokens: int = 300) -> Path:
    path = tmp_path / name
    path.write_text(
        '[scenario]\nname = "workers"\nemulate = true\n'
        + TARGET
        + f"\n[request]\nmax_tokens = {max_tokens}\n"
        + "\n[load]\n"
        + textwrap.dedent(load)
        + "\ntimeout_s = 20\nseed = 11\n"
    )
    return path


def check_one_run(run_dir: Path, *, levels: list[float], requests: int, warmup: int, workers: int = 2) -> pd.DataFrame:
    """Everything a workers run must show: each request once, both workers, health per worker and level."""
    assert [p.name for p in run_dir.parent.iterdir()] == [run_dir.name]  # one run directory
    frame = load_results(run_dir)
    assert len(frame) == len(levels) * (requests + warmup)
    assert (frame["status"] == "ok").all(), frame[["worker", "error_kind", "error_message"]]
    assert set(frame["worker"]) == set(range(workers))
    assert not frame.duplicated(["target", "load_level", "request_index"]).any()
    for level in levels:
        at = frame[frame["load_level"] == level]
        assert sorted(at["request_index"]) == list(range(requests + warmup))
        assert sorted(at.loc[at["warmup"], "request_index"]) == list(range(warmup))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["workers"] == workers and meta["executor"] == "local"
    assert meta["finished"] is True and meta["interrupted"] is False
    assert meta["event_loop"] in ("uvloop", "asyncio")
    health = meta["client_health"]
    assert {"levels", "budget", "saturated", "findings"} <= set(health)
    entries = health["levels"]
    assert sorted((e["load_level"], e["worker"]) for e in entries) == sorted(
        (float(lv), w) for lv in levels for w in range(workers)
    )
    for entry in entries:
        assert entry["samples"] > 0 and entry["wall_s"] > 0, entry
        assert entry["target"] == "groq/llama-3.1-8b-instant"
    return frame


def tokens(frame: pd.DataFrame) -> dict[tuple[str, float, int], tuple[float, str]]:
    return {(r.target, r.load_level, r.request_index): (r.output_tokens, r.finish_reason) for r in frame.itertuples()}


def test_closed_loop_workers_from_the_cli_match_one_process(cli, tmp_path: Path) -> None:
    # Concurrency 3 over two workers: streams 2 + 1, requests 6 -> 4 + 2, warm-up 1 -> 1 + 0.
    # Concurrency 2: one stream each.
    path = scenario(tmp_path, "concurrency = [3, 2]\nrequests = 6\nwarmup = 1")
    code, out, err = cli("run", str(path), "--workers", "2", "--out", str(tmp_path / "two"), "--quiet", "--no-report")
    assert code == 0, err
    assert "TTFT p50" in out and "Traceback" not in err
    run_dir = Path(out.split("results:")[1].split()[0])
    frame = check_one_run(run_dir, levels=[3.0, 2.0], requests=6, warmup=1)
    at3 = frame[frame["load_level"] == 3.0]
    assert at3.groupby("worker").size().to_dict() == {0: 5, 1: 2}  # 4 + 1 warm-up, 2
    assert at3.loc[at3["warmup"], "worker"].tolist() == [0]
    meta = json.loads((run_dir / "run.json").read_text())
    streams = {(e["load_level"], e["worker"]): e["streams"] for e in meta["client_health"]["levels"]}
    assert streams == {(3.0, 0): 2, (3.0, 1): 1, (2.0, 0): 1, (2.0, 1): 1}
    kept = (run_dir / "scenario.toml").read_text()
    assert "workers = 2" in kept  # repeating the run repeats the workers

    # The same scenario in one process: the same answer for every request (seeded, jitter 0).
    one = run_scenario(path, out=tmp_path / "one", workers=1)
    single = one.frame
    assert (single["worker"] == 0).all() and one.meta.workers == 1
    assert len(one.meta.client_health.levels) == 2
    assert tokens(single) == tokens(frame)
    assert single["output_tokens"].nunique() > 1  # the comparison is not trivially all max_tokens


def test_open_loop_workers_from_the_scenario_file(tmp_path: Path) -> None:
    path = scenario(tmp_path, "rate = [40.0]\nrequests = 12\nwarmup = 2\nworkers = 2")
    result = run_scenario(path, out=tmp_path / "two")
    frame = check_one_run(result.run_dir, levels=[40.0], requests=12, warmup=2)
    # Arrival i went to worker i % 2, keeping its index and its place in the one seeded schedule.
    assert (frame["worker"] == frame["request_index"] % 2).all()
    assert frame["scheduled_ms"].notna().all() and frame["start_lag_ms"].ge(0).all()
    assert result.meta.client_health.levels[0].streams == 0  # open loop: no fixed streams

    one = run_scenario(path, out=tmp_path / "one", workers=1)
    single = one.frame
    assert (single["worker"] == 0).all()
    by_index = lambda f: dict(zip(f["request_index"], f["scheduled_ms"].round(3), strict=True))  # noqa: E731
    assert by_index(frame) == by_index(single)  # the same offered load, arrival for arrival
    assert tokens(single) == tokens(frame)


def test_more_workers_than_streams(tmp_path: Path) -> None:
    """Concurrency 1 over two workers: the second has nothing to send and the run still ends."""
    path = scenario(tmp_path, "concurrency = [1]\nrequests = 3\nwarmup = 0", max_tokens=8)
    result = run_scenario(path, out=tmp_path / "r", workers=2)
    frame = result.frame
    assert len(frame) == 3 and (frame["worker"] == 0).all() and (frame["status"] == "ok").all()
    assert sorted(frame["request_index"]) == [0, 1, 2]
    assert sorted(e.worker for e in result.meta.client_health.levels) == [0, 1]


# ------------------------------------------------------------------------------------ Ctrl-C


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_ctrl_c_stops_a_workers_run_cleanly(tmp_path: Path) -> None:
    path = scenario(tmp_path, "concurrency = [4]\nrequests = 400", max_tokens=20)
    path.write_text(path.read_text().replace("tokens_per_s = 20000", "tokens_per_s = 50").replace("ttft_ms = 5", "ttft_ms = 20"))
    out = tmp_path / "results"
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches every process in it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(path), "--workers", "2", "--out", str(out), "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        run_dir = None
        while time.monotonic() < deadline:
            files = list(out.rglob("requests.jsonl"))
            if files and files[0].read_text().count("\n") >= 6:
                run_dir = files[0].parent
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert run_dir is not None, "the run did not start"
        children = _descendants(proc.pid)
        workers = [p for p in children if "multiprocessing" in " ".join(p.cmdline()) or "spawn" in " ".join(p.cmdline())]
        assert len(workers) >= 2, [p.cmdline() for p in children]
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert "TTFT p50" in stdout  # the summary for what ran
    frame = load_results(run_dir)
    assert set(frame["worker"]) == {0, 1}
    cancelled = frame[frame["error_kind"] == "cancelled"]
    assert len(cancelled) >= 1, frame["error_kind"].value_counts(dropna=False)
    assert set(cancelled["worker"]) == {0, 1}  # both workers' in-flight requests handed in
    assert (frame["status"] == "ok").sum() >= 6
    assert set(frame["status"]) <= {"ok", "error"}
    assert set(frame.loc[frame["status"] == "error", "error_kind"]) == {"cancelled"}
    assert not frame.duplicated(["load_level", "request_index"]).any()
    lines = (run_dir / "requests.jsonl").read_text().splitlines()
    assert len(lines) == len(frame)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["finished"] is False and meta["workers"] == 2
    # Nothing left behind: the workers (and the emulator) went with the run.
    gone_by = time.monotonic() + 10
    while _still_running(children) and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert not _still_running(children), [(p.pid, p.cmdline()) for p in _still_running(children)]
