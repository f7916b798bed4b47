"""The ``bench`` console script: quiet on Ctrl-C from the very first moment.

Importing the CLI (typer, pydantic, the SDKs) takes most of a second; a Ctrl-C then would
otherwise print a KeyboardInterrupt traceback from deep inside an import.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    sys.stderr.write("bench: interrupted\n")
    os._exit(130)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted)
    from bench.cli import app, run_app

    signal.signal(signal.SIGINT, previous)
    code = run_app(app)
    # The command is done; the exit status is decided. Interpreter shutdown resets Python-level
    # handlers to the default, so one more Ctrl-C in those last milliseconds would end the
    # process by the signal instead of with this status — unless the signal is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)
