"""A full, read-only or forbidden disk anywhere a command writes: one line naming the path and
the problem, exit 2 (130 when interrupted), and nothing already written is lost.

The failure is injected where files are opened, created, renamed and written (``open``,
``os.mkdir``, ``os.replace``, ``os.rename`` and the writes of files already open), for the
paths a test chooses, with the errno a real disk gives. Where this process may mount a tiny
tmpfs (root), the same commands also meet a real full and a real read-only filesystem.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import load_results

ERRNOS = [errno.ENOSPC, errno.EACCES, errno.EROFS]

SCENARIO = """
[scenario]
name = "disk"
emulate = true

[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"
[target.emulator]
ttft_ms = 2
tokens_per_s = 20000
jitter = 0

[request]
max_tokens = 16

[load]
concurrency = [2]
requests = 8
seed = 3

[slo]
ttft_ms_p50 = 5000
"""

Match = Callable[[Path], bool]


class BrokenDisk:
    """Makes writes to chosen paths fail with one errno, from the moment (or the write) asked."""

    def __init__(self) -> None:
        self.match: Match | None = None
        self.errno = errno.ENOSPC
        self.after_writes: int | None = None  # fail once this many writes to matching files went through
        self.writes = 0

    def fail(self, match: Match | Path, err: int, *, after_writes: int | None = None) -> None:
        if isinstance(match, Path):
            root = match.resolve()
            self.match = lambda p: p == root or root in p.parents
        else:
            self.match = match
        self.errno, self.after_writes, self.writes = err, after_writes, 0

    def failing(self, path: Any) -> bool:
        if self.match is None or not isinstance(path, (str, os.PathLike)):
            return False
        if not self.match(Path(os.path.abspath(os.fspath(path)))):
            return False
        return self.after_writes is None or self.writes >= self.after_writes

    def error(self, path: Any) -> OSError:
        return OSError(self.errno, os.strerror(self.errno), os.fspath(path))


class _FailingFile:
    """A file opened for appending before the disk broke: its later writes fail."""

    def __init__(self, inner: Any, path: Any, disk: BrokenDisk) -> None:
        self._inner, self._path, self._disk = inner, path, disk

    def write(self, data: Any) -> int:
        if self._disk.failing(self._path):
            raise self._disk.error(self._path)
        if self._disk.match is not None and self._disk.match(Path(os.path.abspath(os.fspath(self._path)))):
            self._disk.writes += 1
        return int(self._inner.write(data))

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[BrokenDisk]:
    broken = BrokenDisk()
    real_open, real_mkdir, real_replace, real_rename = io.open, os.mkdir, os.replace, os.rename

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        writes = any(flag in mode for flag in "wax+")
        if writes and broken.failing(file):
            raise broken.error(file)
        handle = real_open(file, mode, *args, **kwargs)
        return _FailingFile(handle, file, broken) if "a" in mode and isinstance(file, (str, os.PathLike)) else handle

    def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if broken.failing(path):
            raise broken.error(path)
        real_mkdir(path, *args, **kwargs)

    def fake_move(real: Callable[..., None]) -> Callable[..., None]:
        def move(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if broken.failing(dst):
                raise broken.error(dst)
            real(src, dst, *args, **kwargs)

        return move

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "replace", fake_move(real_replace))
    monkeypatch.setattr(os, "rename", fake_move(real_rename))
    yield broken
    broken.match = None


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SCENARIO))
    return path


@pytest.fixture
def finished_run(cli, tmp_path: Path) -> Path:
    code, out, err = cli("run", str(_scenario(tmp_path)), "--out", str(tmp_path / "results"), "--quiet", "--no-report")
    assert code == 0, err
    return Path(out.split("results:")[1].split()[0])


# ------------------------------------------------------------------------------- the errors


def test_write_errors_name_the_path_and_the_system_s_words() -> None:
    from bench.errors import WriteError, cannot_write, is_write_error

    arrow = OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert is_write_error(arrow)
    assert str(cannot_write(arrow, "out/x.parquet")) == "out/x.parquet: cannot write (No space left on device)"
    assert str(cannot_write(PermissionError(13, "Permission denied", "a/b"))) == "a/b: cannot write (Permission denied)"
    assert not is_write_error(OSError(errno.ECONNREFUSED, "refused"))
    assert isinstance(cannot_write(arrow), WriteError)


# ---------------------------------------------------------------------------------- bench run


@pytest.mark.parametrize("err", ERRNOS)
def test_run_into_an_unwritable_out_is_one_line(cli, disk: BrokenDisk, tmp_path: Path, err: int) -> None:
    out = tmp_path / "results"
    disk.fail(out, err)
    code, _, stderr = cli("run", str(_scenario(tmp_path)), "--out", str(out), "--quiet")
    assert code == 2
    assert _one_line(stderr) == f"bench: error: --out {out}: cannot write results there ({os.strerror(err)})"


@pytest.mark.parametrize("err", ERRNOS)
def test_results_file_failing_mid_run_stops_the_run_and_finalises_run_json(
    cli, disk: BrokenDisk, tmp_path: Path, err: int
) -> None:
    out = tmp_path / "results"
    disk.fail(lambda p: p.name == "requests.jsonl", err, after_writes=3)
    code, stdout, stderr = cli("run", str(_scenario(tmp_path)), "--out", str(out), "--quiet")
    assert code == 2, stderr
    (run_dir,) = list(out.iterdir())
    line = _one_line(stderr)
    assert line.startswith(f"bench: error: {run_dir / 'requests.jsonl'}: cannot write ({os.strerror(err)})"), line
    assert f"the run stopped: 3 requests kept in {run_dir}" in line
    disk.match = None
    assert len(load_results(run_dir)) == 3  # what was written is kept
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["finished"] is False and meta["ended_at"] and meta["interrupted"] is False
    assert meta["error"] == f"{run_dir / 'requests.jsonl'}: cannot write ({os.strerror(err)})"
    assert not (run_dir / "requests.parquet").exists() and not list(run_dir.glob(".*tmp"))
    assert cli("report", str(run_dir), "--format", "md")[0] == 0  # the report says why the run is short
    assert f"stopped early ({meta['error']})" in (run_dir / "report" / "README.md").read_text()


def test_a_disk_that_fills_mid_run_keeps_the_results_and_says_run_json_is_stale(cli, disk: BrokenDisk, tmp_path: Path) -> None:
    out = tmp_path / "results"
    disk.fail(lambda p: out.resolve() in p.parents and p.name != "s.toml", errno.ENOSPC, after_writes=2)
    code, _, stderr = cli("run", str(_scenario(tmp_path)), "--out", str(out), "--quiet")
    assert code == 2
    line = _one_line(stderr)
    assert "requests.jsonl: cannot write (No space left on device); the run stopped: 2 requests kept" in line
    assert line.endswith("; run.json could not be finalised either")
    disk.match = None
    (run_dir,) = list(out.iterdir())
    assert len(load_results(run_dir)) == 2
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["finished"] is False and meta["ended_at"] is None  # the start's run.json, intact


@pytest.mark.parametrize("executor", [["--workers", "2"]])
def test_results_file_failing_with_workers_is_the_same_line(cli, disk: BrokenDisk, tmp_path: Path, executor: list[str]) -> None:
    out = tmp_path / "results"
    disk.fail(lambda p: p.name == "requests.jsonl", errno.ENOSPC, after_writes=3)
    code, _, stderr = cli("run", str(_scenario(tmp_path)), "--out", str(out), "--quiet", *executor)
    assert code == 2
    assert "requests.jsonl: cannot write (No space left on device); the run stopped: 3 requests kept" in _one_line(stderr)


@pytest.mark.parametrize("executor", [[], ["--workers", "2"]], ids=["local", "workers"])
def test_results_file_failing_while_targets_run_side_by_side_is_the_same_line(
    cli, disk: BrokenDisk, tmp_path: Path, executor: list[str]
) -> None:
    """Interleaved, two targets' records arrive mixed; the first write that fails stops both."""
    path = _scenario(tmp_path)
    text = path.read_text()
    second = text[text.index("[[target]]") : text.index("[request]")].replace('model = "openai/gpt-oss-20b"', 'model = "gpt-4.1"')
    path.write_text(text.replace("[request]", second.replace('provider = "groq"', 'provider = "openai"') + "[request]"))
    out = tmp_path / "results"
    disk.fail(lambda p: p.name == "requests.jsonl", errno.ENOSPC, after_writes=3)
    code, _, stderr = cli("run", str(path), "--out", str(out), "--quiet", *executor)
    assert code == 2
    assert "requests.jsonl: cannot write (No space left on device); the run stopped: 3 requests kept" in _one_line(stderr)
    disk.match = None
    (run_dir,) = list(out.iterdir())
    assert len(load_results(run_dir)) == 3
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["order"] == "interleaved" and meta["finished"] is False


@pytest.mark.parametrize("err", ERRNOS)
def test_report_of_a_run_that_cannot_be_written_keeps_the_results(cli, disk: BrokenDisk, tmp_path: Path, err: int) -> None:
    out = tmp_path / "results"
    disk.fail(lambda p: p.parent.name == "report" or p.name == "report", err)
    code, stdout, stderr = cli("run", str(_scenario(tmp_path)), "--out", str(out), "--quiet")
    assert code == 2
    (run_dir,) = list(out.iterdir())
    line = _one_line(stderr)
    assert line.startswith(f"bench: error: report: {run_dir / 'report'}") and os.strerror(err) in line, line
    assert "TTFT p50" in stdout and f"results: {run_dir}" in stdout
    disk.match = None
    assert len(load_results(run_dir)) == 8
    assert json.loads((run_dir / "run.json").read_text())["finished"] is True


# ------------------------------------------------------------- commands that write elsewhere


@pytest.mark.parametrize("err", ERRNOS)
def test_report_command(cli, disk: BrokenDisk, finished_run: Path, tmp_path: Path, err: int) -> None:
    target = tmp_path / "rep"
    target.mkdir()
    disk.fail(target, err)
    code, _, stderr = cli("report", str(finished_run), "--out", str(target))
    assert code == 2
    line = _one_line(stderr)
    assert line.startswith(f"bench: error: {target}") and f"cannot write ({os.strerror(err)})" in line, line


@pytest.mark.parametrize("err", ERRNOS)
def test_baseline_save_leaves_no_half_baseline(cli, disk: BrokenDisk, finished_run: Path, tmp_path: Path, err: int) -> None:
    root = tmp_path / "baselines"
    disk.fail(root, err)
    code, _, stderr = cli("baseline", "save", "main", str(finished_run), "--baselines", str(root))
    assert code == 2
    assert _one_line(stderr).startswith(f"bench: error: {root}")
    assert f"cannot write ({os.strerror(err)})" in stderr
    disk.match = None
    assert not root.exists() or not list(root.iterdir())


def test_baseline_save_force_keeps_the_old_one_when_the_new_cannot_be_written(
    cli, disk: BrokenDisk, finished_run: Path, tmp_path: Path
) -> None:
    root = tmp_path / "baselines"
    assert cli("baseline", "save", "main", str(finished_run), "--baselines", str(root))[0] == 0
    before = {p.name: p.read_bytes() for p in (root / "main").iterdir()}
    disk.fail(lambda p: p.name == "samples.csv", errno.ENOSPC)
    code, _, stderr = cli("baseline", "save", "main", str(finished_run), "--baselines", str(root), "--force")
    assert code == 2 and "samples.csv: cannot write (No space left on device)" in _one_line(stderr)
    disk.match = None
    assert {p.name: p.read_bytes() for p in (root / "main").iterdir()} == before
    assert [p.name for p in root.iterdir()] == ["main"]
    code, out, _ = cli("baseline", "list", "--baselines", str(root))
    assert code == 0 and "main" in out


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json", "pytest-benchmark", "vllm"])
@pytest.mark.parametrize("err", ERRNOS)
def test_export(cli, disk: BrokenDisk, finished_run: Path, tmp_path: Path, err: int, fmt: str) -> None:
    target = tmp_path / "exp"
    target.mkdir()
    disk.fail(lambda p: target.resolve() in p.parents, err)
    code, _, stderr = cli("export", str(finished_run), "--format", fmt, "--out", str(target))
    assert code == 2
    line = _one_line(stderr)
    assert line.startswith(f"bench: error: {target}") and f"cannot write ({os.strerror(err)})" in line, line


@pytest.mark.parametrize("err", ERRNOS)
def test_compare_and_check_output(cli, disk: BrokenDisk, finished_run: Path, tmp_path: Path, err: int) -> None:
    target = tmp_path / "gate" / "out.md"
    disk.fail(target.parent, err)
    for args in (["compare", str(finished_run), str(finished_run)], ["check", str(finished_run)]):
        code, _, stderr = cli(*args, "--format", "md", "-o", str(target))
        assert code == 2, (args, stderr)
        assert _one_line(stderr).startswith(f"bench: error: {target}") and os.strerror(err) in stderr, stderr


@pytest.mark.parametrize("err", ERRNOS)
def test_sweep_outputs(cli, disk: BrokenDisk, tmp_path: Path, err: int) -> None:
    out = tmp_path / "sweeps"
    disk.fail(lambda p: p.name in ("sweep.json", "sweep.md", "sweep.png"), err)
    code, _, stderr = cli("sweep", str(_scenario(tmp_path)), "--out", str(out), "--max-concurrency", "2", "-n", "4")
    assert code == 2
    line = _one_line(stderr)
    assert "sweep.json: cannot write" in line and os.strerror(err) in line, line


def test_sweep_probe_that_cannot_write_keeps_the_sweep_record(cli, disk: BrokenDisk, tmp_path: Path) -> None:
    out = tmp_path / "sweeps"
    disk.fail(lambda p: p.name == "requests.jsonl" and p.parent.parent.name == "runs", errno.ENOSPC, after_writes=6)
    code, stdout, stderr = cli("sweep", str(_scenario(tmp_path)), "--out", str(out), "--max-concurrency", "4", "-n", "4")
    assert code == 2
    assert "requests.jsonl: cannot write (No space left on device); the run stopped" in _one_line(stderr)
    disk.match = None
    (sweep_dir,) = list(out.iterdir())
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["targets"][0]["probes"], record  # the probe that finished before the disk filled


@pytest.mark.parametrize("err", ERRNOS)
def test_calibrate_save(cli, disk: BrokenDisk, tmp_path: Path, err: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.campaigns import calibrate as cal
    from bench.report import calibration as printing
    from bench.results.calibration import CalibrationResult

    canned = CalibrationResult.from_dict({"date": "2026-01-01", "host": {}, "grid": {}, "cells": [], "verdicts": {}})
    monkeypatch.setattr(cal, "calibrate", lambda grid, **kwargs: canned)
    monkeypatch.setattr(canned, "cells", [object()])
    monkeypatch.setattr(printing, "verdict_lines", lambda result: [])
    target = tmp_path / "cal" / "calibration.json"
    disk.fail(target.parent, err)
    code, _, stderr = cli("calibrate", "--quick", "--save", str(target))
    assert code == 2
    assert _one_line(stderr) == f"bench: error: --save {target}: cannot write there ({os.strerror(err)})"


# ------------------------------------------------------------------------------ a real tmpfs


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only): fills after a few dozen requests."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_real_full_disk_and_a_real_read_only_one(tiny_tmpfs: Path, tmp_path: Path, finished_run: Path) -> None:
    path = tmp_path / "long.toml"
    path.write_text(textwrap.dedent(SCENARIO).replace("requests = 8", "requests = 2000"))

    def bench(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)

    run = bench("run", str(path), "--out", str(tiny_tmpfs / "results"), "--quiet")
    assert run.returncode == 2, run.stderr[-2000:]
    line = _one_line(run.stderr)
    assert "cannot write (No space left on device)" in line and "the run stopped:" in line, line
    (run_dir,) = list((tiny_tmpfs / "results").iterdir())
    kept = int(line.split("the run stopped: ")[1].split()[0])
    # Counted means on disk and flushed; the batch whose flush failed may still have left whole
    # lines behind, which load too: the count never overstates what is kept.
    loaded = len(load_results(run_dir))
    assert kept > 0 and kept <= loaded <= kept + 64
    for args in (
        ["report", str(finished_run), "--out", str(tiny_tmpfs / "report")],
        ["baseline", "save", "b", str(finished_run), "--baselines", str(tiny_tmpfs / "baselines")],
    ):
        result = bench(*args)
        assert result.returncode == 2 and "No space left on device" in _one_line(result.stderr), (args, result.stderr)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    for args in (
        ["run", str(path), "--out", str(tiny_tmpfs / "results2"), "--quiet"],
        ["report", str(finished_run), "--out", str(tiny_tmpfs / "report2")],
        ["baseline", "save", "b", str(finished_run), "--baselines", str(tiny_tmpfs / "baselines2")],
        ["export", str(finished_run), "--out", str(tiny_tmpfs / "export")],
        ["check", str(finished_run), "-o", str(tiny_tmpfs / "check.md")],
    ):
        result = bench(*args)
        assert result.returncode == 2 and "Read-only file system" in _one_line(result.stderr), (args, result.stderr)
    assert len(load_results(run_dir)) == loaded  # nothing already written was lost
