"""Open-loop arrival shapes: ``[load] burstiness`` (gamma gaps, vLLM's rule) and ``ramp_up_s``
(a linear ramp from 0 to the level's rate), from the schedule to a finished emulated run."""

from __future__ import annotations

import io
import math
import random
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from bench.analysis.metrics import arrival_rates, measured
from bench.errors import ScenarioError
from bench.report.export.vllm import vllm_results
from bench.report.summary import notes, print_summary
from bench.results.records import load_results
from bench.results.run_file import read_run_meta
from bench.run.level import request_seed
from bench.run.load import OpenLoop, profile_for, ramped
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario

OPEN_LOOP = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-20b"

[request]
max_tokens = 8

[load]
rate = [10]
requests = 20
{extra}
"""


def _gaps(times: list[float]) -> np.ndarray:
    return np.diff(np.asarray([0.0, *times]))


def test_burstiness_one_keeps_the_poisson_schedule_a_seed_always_gave() -> None:
    rng = random.Random(7)
    expected, t = [], 0.0
    for _ in range(50):
        t += rng.expovariate(4.0)
        expected.append(t)
    assert OpenLoop(4.0, 50, seed=7).arrivals_s() == expected
    assert OpenLoop(4.0, 50, seed=7, burstiness=1.0, ramp_up_s=0.0).arrivals_s() == expected


@pytest.mark.parametrize("burstiness", [0.25, 4.0])
def test_gamma_gaps_keep_the_mean_rate_and_set_the_spread(burstiness: float) -> None:
    gaps = _gaps(OpenLoop(10.0, 20_000, seed=3, burstiness=burstiness).arrivals_s())
    assert gaps.mean() == pytest.approx(0.1, rel=0.03)
    cv = gaps.std() / gaps.mean()
    assert cv == pytest.approx(1 / math.sqrt(burstiness), rel=0.05)


def test_a_burstier_schedule_clusters_more_than_poisson() -> None:
    def dispersion(k: float) -> float:  # variance / mean of arrivals per 1 s window
        times = np.asarray(OpenLoop(20.0, 20_000, seed=5, burstiness=k).arrivals_s())
        counts = np.bincount(times.astype(int))
        return float(counts.var() / counts.mean())

    assert dispersion(0.25) > 2.5 > dispersion(1.0) > 0.6 > dispersion(4.0)


def test_ramp_maps_steady_time_onto_a_linear_rise() -> None:
    assert ramped(0.0, 10.0) == 0.0
    assert ramped(5.0, 10.0) == pytest.approx(10.0)  # half the ramp's span fills the ramp
    assert ramped(6.0, 10.0) == pytest.approx(11.0)  # then shifted by half the ramp
    xs = np.linspace(0, 20, 401)
    ys = [ramped(x, 10.0) for x in xs]
    assert all(b > a for a, b in zip(ys, ys[1:], strict=False))


def test_ramped_arrivals_rise_linearly_then_hold_the_rate() -> None:
    rate, ramp = 200.0, 10.0
    times = np.asarray(OpenLoop(rate, 6_000, seed=11, ramp_up_s=ramp).arrivals_s())
    # Integrated rate of a linear ramp: rate·t²/(2·ramp) by t inside it, rate·ramp/2 at its end.
    for t in (2.5, 5.0, 7.5, 10.0):
        expected = rate * t * t / (2 * ramp)
        assert abs(int((times <= t).sum()) - expected) < 4 * math.sqrt(expected) + 2
    after = np.diff(times[times > ramp])
    assert after.mean() == pytest.approx(1 / rate, rel=0.05)
    first_second = int((times <= 1.0).sum())
    assert first_second < rate / 10  # ~10 where a steady level would start ~200


def test_duration_bounds_ramped_times() -> None:
    times = OpenLoop(50.0, None, duration_s=4.0, seed=1, ramp_up_s=2.0).arrivals_s()
    assert times and max(times) <= 4.0
    assert len(times) == pytest.approx(50.0 * 3.0, rel=0.2)  # 4 s minus half the ramp at full rate


def test_workers_share_one_shaped_schedule() -> None:
    single = profile_for("rate", 8.0, requests=40, warmup=2, duration_s=None, seed=9, burstiness=0.5, ramp_up_s=3.0)
    parts = [
        profile_for(
            "rate", 8.0, requests=40, warmup=2, duration_s=None, seed=9, worker=w, workers=3, burstiness=0.5, ramp_up_s=3.0
        )
        for w in range(3)
    ]
    assert isinstance(single, OpenLoop)
    assert all(isinstance(p, OpenLoop) and p.arrivals_s() == single.arrivals_s() for p in parts)
    assert single.burstiness == 0.5 and single.ramp_up_s == 3.0


@pytest.mark.parametrize(
    ("load", "field", "problem"),
    [
        ("concurrency = [2]\nrequests = 4\nburstiness = 0.5", "load.burstiness", "shapes open-loop arrivals only"),
        ("concurrency = [2]\nrequests = 4\nramp_up_s = 5", "load.ramp_up_s", "ramps an open-loop rate only"),
        ("rate = [2]\nrequests = 4\nburstiness = 0", "load.burstiness", "greater than 0"),
        ("rate = [2]\nrequests = 4\nramp_up_s = -1", "load.ramp_up_s", "greater than or equal to 0"),
        ("rate = [2]\nrequests = 4\nburstiness = nan", "load.burstiness", "finite"),
    ],
)
def test_bad_arrival_shapes_are_one_line_naming_the_field(write_scenario, load: str, field: str, problem: str) -> None:
    path = write_scenario(f'[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\n\n[load]\n{load}\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field == field, str(info.value)
    assert problem in info.value.problem
    assert "\n" not in str(info.value)


def test_the_arrival_shape_is_in_the_fingerprint_only_when_set(write_scenario) -> None:
    plain = load_scenario(write_scenario(OPEN_LOOP.format(extra=""), name="a.toml")).fingerprint()
    same = load_scenario(write_scenario(OPEN_LOOP.format(extra="burstiness = 1.0\nramp_up_s = 0"), name="b.toml"))
    bursty = load_scenario(write_scenario(OPEN_LOOP.format(extra="burstiness = 0.5"), name="c.toml")).fingerprint()
    ramped_fp = load_scenario(write_scenario(OPEN_LOOP.format(extra="ramp_up_s = 5"), name="d.toml")).fingerprint()
    assert same.fingerprint() == plain
    assert len({plain, bursty, ramped_fp}) == 3


def test_a_ramped_schedule_kept_on_time_is_not_called_short() -> None:
    """A ramp offers fewer arrivals over its span than the level's rate by design: the check
    compares what was sent with the schedule, so a client that kept up is not warned."""

    due = OpenLoop(10.0, 60, seed=2, ramp_up_s=6.0).arrivals_s()
    frame = pd.DataFrame(
        {
            "target": "t",
            "load_mode": "rate",
            "load_level": 10.0,
            "client": "fast",
            "warmup": False,
            "error_kind": None,
            "scheduled_ms": [d * 1000 for d in due],
            "start_lag_ms": 0.2,
            "started_at_ns": [int(d * 1e9) for d in due],
        }
    )
    (rate,) = arrival_rates(frame)
    assert rate.achieved < 10.0 * 0.8  # well below the level's rate over the span …
    assert not rate.short  # … yet on schedule
    assert rate.scheduled == pytest.approx(rate.achieved, rel=1e-3)
    late = frame.assign(start_lag_ms=[i * 150.0 for i in range(len(due))])
    (behind,) = arrival_rates(late)
    assert behind.short and behind.achieved < behind.floor


def test_an_emulated_bursty_ramped_run_end_to_end(write_scenario, tmp_path: Path) -> None:
    path = write_scenario(
        textwrap.dedent(
            """
            [[target]]
            provider = "groq"
            model = "openai/gpt-oss-20b"

            [request]
            max_tokens = 8

            [load]
            rate = [20]
            requests = 40
            warmup = 2
            burstiness = 0.5
            ramp_up_s = 1.0
            """
        )
    )
    result = run_scenario(path, out=tmp_path / "results", emulate=True)
    frame = load_results(result.run_dir)
    meta = read_run_meta(Path(result.run_dir))
    assert meta.scenario["load"]["burstiness"] == 0.5 and meta.scenario["load"]["ramp_up_s"] == 1.0
    rows = measured(frame)
    assert len(rows) == 40 and rows["error_kind"].isna().all()
    due = np.sort(rows["scheduled_ms"].to_numpy(dtype=float))
    # The level's schedule is the shaped one, seeded per target and level (warm-up first).
    shaped = OpenLoop(20.0, 40, warmup=2, seed=request_seed(0, 0, 20.0), burstiness=0.5, ramp_up_s=1.0).arrivals_s()
    assert due == pytest.approx([t * 1000 for t in shaped[2:]], abs=1e-3)
    (rate,) = arrival_rates(frame)
    assert not rate.short, rate
    out = io.StringIO()
    print_summary(frame, meta, Console(file=out, width=250))
    assert not any("achieved" in line for line in notes(frame, meta))
    (result_json,) = (r for _, r in vllm_results(frame, meta))
    assert result_json["burstiness"] == 0.5


@pytest.mark.parametrize("wait_s", [0.001, 0.3, 10.0])
def test_an_arrival_after_a_long_wait_leaves_on_time(monkeypatch: pytest.MonkeyPatch, wait_s: float) -> None:
    """An open-loop arrival due seconds away is not sent the kernel's timer slack late (an epoll
    wait of t seconds may end t/1000 late): the wait is asked to end early by that share, and
    the last stretch is yielded to the loop pass by pass."""
    import anyio

    from bench.run import load

    now = [10**12]
    asked: list[float] = []

    async def sleep(delay: float) -> None:
        asked.append(delay)
        now[0] += int(delay * 1.001 * 1e9) if delay else 10_000  # a loop pass: 10 µs

    monkeypatch.setattr(load, "now_ns", lambda: now[0])
    monkeypatch.setattr(load.anyio, "sleep", sleep)
    due = now[0] + int(wait_s * 1e9)
    anyio.run(load._until, due)
    assert 0 <= now[0] - due <= 10_000  # at most one loop pass late
    assert sum(1 for delay in asked if delay == 0) <= 200  # yielded for at most ~2 ms
