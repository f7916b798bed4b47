"""However many signals arrive, an interrupted run ends with 130 and everything finalised."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.cli.test_cli_run import _start_long_run


@pytest.mark.parametrize("signum, again", [(signal.SIGINT, 3), (signal.SIGTERM, 1)])
def test_repeated_signals_still_end_with_a_final_run_json_and_summary(tmp_path: Path, signum: int, again: int) -> None:
    proc, run_dir = _start_long_run(tmp_path)
    proc.send_signal(signum)
    for _ in range(again):  # impatient users press Ctrl-C again while it stops
        time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "TTFT p50" in out
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["finished"] is False and meta["ended_at"]
    if signum == signal.SIGTERM:
        assert "Ctrl-C" not in err and "SIGTERM" in err
