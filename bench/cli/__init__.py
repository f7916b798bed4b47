"""The ``bench`` command line. Each command group lives in its own module and registers on ``app``."""

from __future__ import annotations

import sys

from bench.cli.app import app, run_app

# Importing a command module registers its commands on ``app``.
from bench.cli import run as _run  # noqa: F401,E402

for _optional in ("bench.cli.report", "bench.cli.gate"):
    try:
        __import__(_optional)
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a module is being written
        if exc.name != _optional:
            raise


def main() -> None:
    sys.exit(run_app(app))


__all__ = ["app", "main"]
