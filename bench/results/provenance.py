"""What run.json says about where and how a run was made, so two runs can be judged comparable."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import bench

_PACKAGES = ("openai", "anthropic", "groq", "httpx", "httpx2", "anyio", "pandas")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"bench": bench.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def host() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python_implementation": platform.python_implementation(),
    }


def git_revision(start: Path | None = None) -> str | None:
    """The revision of the checkout the command runs in (the scenario's, else the cwd's)."""
    cwd = start if start and start.is_dir() else Path.cwd()
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id(scenario_name: str) -> str:
    """Sorts by time: ``YYYYMMDD-HHMMSS-<scenario>-<4 hex>`` (README.md, "Results").

    The four hex digits are the fraction of the second (1/65536 s steps), not random: two runs
    started within the same second must still sort in the order they started, or "the newest
    run" under a results root would be a coin toss.
    """
    now = datetime.now(UTC)
    fraction = int(now.microsecond / 1_000_000 * 0x10000)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{scenario_name}-{fraction:04x}"
