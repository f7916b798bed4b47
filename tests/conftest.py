"""Shared fixtures: scenario files written on the fly, and a CLI runner with bench's exit codes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.cli import app
from bench.cli.app import run_app
from bench.emulator import EmulatorHandle

MINIMAL = """
[scenario]
name = "t"

[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[request]
max_tokens = 16

[load]
concurrency = [1]
requests = 2
"""


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str = MINIMAL, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``bench ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        code = run_app(app, list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


# One emulator per session for the emulator tests (tests/emulator/).


@pytest.fixture(scope="session")
def chunk_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator") / "chunks.jsonl"


@pytest.fixture(scope="session")
def emu(chunk_log: Path) -> Iterator[EmulatorHandle]:
    from bench.emulator import start_emulator

    with start_emulator(seed=11, chunk_log=chunk_log) as handle:
        yield handle
