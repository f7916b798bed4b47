"""``bench export --format pytest-benchmark``: JSON that pytest-benchmark itself reads back."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_benchmark.stats import Stats
from pytest_benchmark.storage.file import FileStorage

from bench.report.export.pytest_benchmark import benchmark_stats, write_pytest_benchmark
from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]


class _Logger:
    def warning(self, text: str, **_: object) -> None:
        raise AssertionError(text)

    def info(self, *_: object, **__: object) -> None:
        pass


@pytest.mark.parametrize("values", [[0.5], [0.1, 0.3], [3.0, 1.0, 2.0, 9.0, 4.0], [float(i % 7) + 0.1 for i in range(1, 42)]])
def test_stats_match_pytest_benchmarks_definitions(values: list[float]) -> None:
    ours = benchmark_stats(values)
    theirs = Stats()
    for v in values:
        theirs.update(v)
    expected = theirs.as_dict()
    for key, value in expected.items():
        assert ours[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert ours["data"] == values and ours["iterations"] == 1


def test_export_is_loaded_by_pytest_benchmark(cli: Cli, tmp_path: Path) -> None:
    run_dir = write_synthetic_run(
        tmp_path / "results", run_id="20260925-100000-synthetic-0000", levels=(1, 4), n=20, error_share=0.1
    )
    out = tmp_path / "pb"
    code, stdout, _ = cli("export", str(run_dir), "--format", "pytest-benchmark", "--out", str(out))
    assert code == 0 and "0001_20260925-100000-synthetic-0000.json" in stdout
    second = write_synthetic_run(tmp_path / "results", run_id="20260926-100000-synthetic-0000", seed=3, levels=(1, 4), n=20)
    path2 = write_pytest_benchmark(second, out)
    assert path2.name == "0002_20260926-100000-synthetic-0000.json"
    assert write_pytest_benchmark(run_dir, out).name.startswith("0001_")  # re-export rewrites, no new number

    storage = FileStorage(out, default_machine_id=None, logger=_Logger())
    loaded = list(storage.load_benchmarks())
    assert len(loaded) == 2 * 3 * 2 * 5  # runs × targets × levels × (ttft, ttfa, e2e, tpot, response_100)
    names = {b["name"] for b in loaded}
    assert "ttft[groq/llama-3.3-70b-versatile-concurrency=1]" in names and "e2e[openai/gpt-4-turbo-concurrency=4]" in names
    ttft = next(b for b in loaded if b["name"] == "ttft[groq/llama-3.3-70b-versatile-concurrency=1]")
    assert ttft["rounds"] == 18 and 0.03 < ttft["median"] < 0.2  # seconds, successful requests only
    assert ttft["extra_info"]["errors"] == 2 and ttft["extra_info"]["unit"] == "s"

    data = json.loads((out / "0001_20260925-100000-synthetic-0000.json").read_text(encoding="utf-8"))
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(data)


def test_pytest_benchmark_compare_command_reads_it(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "results", n=10)
    path = write_pytest_benchmark(run_dir, tmp_path / "pb")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_benchmark",
            "--storage",
            f"file://{tmp_path / 'pb'}",
            "compare",
            str(path),
            "--group-by",
            "group",
            "--columns",
            "min,median,max,rounds",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "benchmark 'synthetic: ttft'" in proc.stdout and "Failed to load" not in proc.stdout + proc.stderr
