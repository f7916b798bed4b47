"""The console summary's notes: an overloaded open-loop client and SLO verdicts are said plainly."""

from __future__ import annotations

import io

from rich.console import Console

from bench.report.summary import notes, print_summary
from bench.results.records import frame_from_records
from bench.results.run_file import RunMeta


def _rows(lag_ms: float, ttft_ms: float, n: int = 20) -> list[dict]:
    return [
        {
            "run_id": "r",
            "target": "t",
            "provider": "groq",
            "model": "m",
            "load_mode": "rate",
            "load_level": 8.0,
            "request_index": i,
            "warmup": False,
            "stream": True,
            "status": "ok",
            "ttft_ms": ttft_ms,
            "ttfa_ms": ttft_ms,
            "e2e_ms": ttft_ms + 100,
            "start_lag_ms": lag_ms,
            "started_at_ns": i * 10**8,
            "output_tokens": 10,
        }
        for i in range(n)
    ]


def test_overloaded_open_loop_and_slo_lines() -> None:
    frame = frame_from_records(_rows(lag_ms=120.0, ttft_ms=150.0))
    meta = RunMeta(scenario={"slo": {"ttft_p50_ms": 100, "error_rate_max": 0.01}}, interrupted=True)
    lines = notes(frame, meta)
    assert lines[0].startswith("interrupted")
    assert "120 ms late" in lines[1] and "could not keep up" in lines[1]
    # The same sentence bench check prints (one code path decides SLO verdicts everywhere).
    assert lines[2].startswith("SLO FAILED: 1 of 2 checks failed, 1 passed; failing: t @ 8 req/s ttft_p50_ms")
    out = io.StringIO()
    print_summary(frame, meta, Console(file=out, width=200))
    assert "could not keep up" in out.getvalue() and "TTFT p50" in out.getvalue()


def test_quiet_when_all_is_well() -> None:
    frame = frame_from_records(_rows(lag_ms=1.0, ttft_ms=50.0))
    assert notes(frame, RunMeta(scenario={"slo": {"ttft_p50_ms": 100}})) == ["SLOs met: 1 of 1 checks passed"]
    assert notes(frame.iloc[0:0], RunMeta(interrupted=False)) == []
