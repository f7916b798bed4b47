"""How a level's load is shared between workers: pure scheduling, no providers, no sockets.

``shares`` splits whole numbers in proportion; ``profile_for(..., worker, workers)`` gives each
worker its part of a closed-loop level (streams, requests, warm-up) or its arrivals of the one
seeded open-loop process. Together the workers must send exactly what one process would.
"""

from __future__ import annotations

import math

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.run.load import ClosedLoop, OpenLoop, Slot, profile_for, shares, streams_of, wait_due
from bench.timing import now_ns

# ----------------------------------------------------------------------------------- shares


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (16, [1, 1, 1], [6, 5, 5]),  # the docstring's example: earlier workers take the remainder
        (10, [1, 1, 1], [4, 3, 3]),
        (9, [1, 1, 1], [3, 3, 3]),
        (7, [5, 3, 2], [4, 2, 1]),  # exact 3.5, 2.1, 1.4: the one left over goes to the largest remainder
        (10, [1, 2, 3, 4], [1, 2, 3, 4]),
        (5, [2, 1], [3, 2]),  # exact 3.33, 1.67: the second has the larger remainder
        (4, [2, 1], [3, 1]),  # exact 2.67, 1.33
        (1, [2, 1], [1, 0]),
        (0, [1, 2], [0, 0]),
        (5, [0, 0], [0, 0]),  # nothing to weigh by: nobody gets anything
        (3, [0, 1, 0], [0, 3, 0]),
        (5, [0, 1, 1], [0, 3, 2]),
        (3, [], []),
    ],
)
def test_shares_examples(total: int, weights: list[int], expected: list[int]) -> None:
    assert shares(total, weights) == expected


@given(st.integers(0, 10_000), st.lists(st.integers(0, 1_000), min_size=1, max_size=40))
def test_shares_sum_to_total_in_proportion(total: int, weights: list[int]) -> None:
    out = shares(total, weights)
    assert len(out) == len(weights)
    assert all(isinstance(n, int) and n >= 0 for n in out)
    weight = sum(weights)
    if weight == 0:
        assert out == [0] * len(weights)
        return
    assert sum(out) == total
    for n, w in zip(out, weights, strict=True):
        exact = total * w / weight
        assert abs(n - exact) < 1, (n, exact)  # each within one of its exact share
        if w == 0:
            assert n == 0  # a zero weight never takes a remainder


@given(st.integers(0, 10_000), st.lists(st.integers(0, 1_000), min_size=1, max_size=40))
def test_shares_largest_remainder(total: int, weights: list[int]) -> None:
    weight = sum(weights)
    if weight == 0:
        return
    out = shares(total, weights)
    exact = [total * w / weight for w in weights]
    topped = [i for i in range(len(weights)) if out[i] > math.floor(exact[i])]
    left = [i for i in range(len(weights)) if out[i] == math.floor(exact[i])]
    assert len(topped) == total - sum(math.floor(x) for x in exact)
    # Every share that got one more had at least as large a remainder as every one that did not.
    if topped and left:
        assert min(exact[i] - math.floor(exact[i]) for i in topped) >= max(exact[i] - math.floor(exact[i]) for i in left) - 1e-9
    # A larger weight never gets fewer.
    for i in range(len(weights)):
        for j in range(len(weights)):
            if weights[i] > weights[j]:
                assert out[i] >= out[j]


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_even_split_differs_by_at_most_one_earlier_first(total: int, n: int) -> None:
    out = shares(total, [1] * n)
    assert sum(out) == total and max(out) - min(out) <= 1
    assert out == sorted(out, reverse=True)


# ------------------------------------------------------------------------------ closed loop


def drive_all(profiles: list, send_delay_s: float = 0.0) -> list[list[Slot]]:
    """Drive every worker's profile concurrently (one event loop); each worker's slots in order."""
    got: list[list[Slot]] = [[] for _ in profiles]

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i, profile in enumerate(profiles):

                async def send(slot: Slot, i: int = i) -> None:
                    got[i].append(slot)
                    await anyio.sleep(send_delay_s)

                tg.start_soon(profile.drive, send)

    anyio.run(main)
    return got


def closed(
    level: int, requests: int | None, warmup: int, workers: int, duration_s: float | None = None, start_ns: int | None = None
) -> list:
    return [
        profile_for(
            "concurrency",
            level,
            requests=requests,
            warmup=warmup,
            duration_s=duration_s,
            seed=0,
            worker=w,
            workers=workers,
            start_ns=start_ns,
        )
        for w in range(workers)
    ]


@pytest.mark.parametrize(
    ("level", "requests", "warmup", "workers"),
    [(3, 4, 1, 2), (3, 12, 3, 2), (16, 40, 5, 3), (4, 10, 2, 4), (2, 5, 1, 3), (1, 3, 1, 2), (5, 7, 0, 2), (8, 8, 8, 1)],
)
def test_closed_loop_split_across_workers(level: int, requests: int, warmup: int, workers: int) -> None:
    profiles = closed(level, requests, warmup, workers)
    assert all(isinstance(p, ClosedLoop) for p in profiles)
    assert [p.worker for p in profiles] == list(range(workers)) and all(p.workers == workers for p in profiles)
    # Streams: split evenly; requests and warm-up in proportion to each worker's streams.
    assert sum(p.concurrency for p in profiles) == level
    assert max(p.concurrency for p in profiles) - min(p.concurrency for p in profiles) <= 1
    assert [p.concurrency for p in profiles] == [streams_of("concurrency", level, w, workers) for w in range(workers)]
    assert sum(p.requests for p in profiles) == requests
    assert sum(p.warmup for p in profiles) == warmup
    for p in profiles:
        if p.concurrency == 0:
            assert p.requests == 0 and p.warmup == 0
        assert abs(p.requests - requests * p.concurrency / level) < 1

    slots = drive_all(profiles)
    for p, mine in zip(profiles, slots, strict=True):
        assert len(mine) == p.requests + p.warmup
        assert sum(s.warmup for s in mine) == p.warmup
        # A closed loop has no schedule.
        assert all(s.due_ns is None and s.level_start_ns is None for s in mine)
        # Each worker's warm-up phase runs before its measured requests.
        flags = [s.warmup for s in mine]
        assert flags == sorted(flags, reverse=True)
    every = [s for mine in slots for s in mine]
    indices = [s.index for s in every]
    assert len(indices) == len(set(indices)) == requests + warmup  # unique across workers
    assert sorted(indices) == list(range(requests + warmup))  # exactly the level's slots, no gaps
    # As in one process (and the docs: "warm-up first"): the first ``warmup`` indices are the warm-up.
    assert {s.index for s in every if s.warmup} == set(range(warmup))


@pytest.mark.parametrize(("level", "requests", "warmup"), [(3, 4, 1), (16, 40, 5), (1, 3, 0)])
def test_one_worker_is_the_single_process_loop(level: int, requests: int, warmup: int) -> None:
    (alone,) = closed(level, requests, warmup, 1)
    assert (alone.concurrency, alone.requests, alone.warmup, alone.worker, alone.workers) == (level, requests, warmup, 0, 1)
    (slots,) = drive_all([alone])
    assert sorted(s.index for s in slots) == list(range(requests + warmup))
    assert [s.index for s in slots if s.warmup] == list(range(warmup))


def test_closed_loop_streams_run_concurrently_within_a_worker() -> None:
    """A worker with two streams has two requests in flight at once, never more."""
    in_flight, peak = [0, 0], [0, 0]
    profiles = closed(3, 9, 0, 2)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i, profile in enumerate(profiles):

                async def send(slot: Slot, i: int = i) -> None:
                    in_flight[i] += 1
                    peak[i] = max(peak[i], in_flight[i])
                    await anyio.sleep(0.002)
                    in_flight[i] -= 1

                tg.start_soon(profile.drive, send)

    anyio.run(main)
    assert peak == [2, 1]


def test_duration_bounded_closed_loop_indices_unique_across_workers() -> None:
    profiles = closed(3, None, 2, 2, duration_s=0.05)
    assert all(p.requests is None for p in profiles) and sum(p.warmup for p in profiles) == 2
    slots = drive_all(profiles, send_delay_s=0.002)
    every = [s for mine in slots for s in mine]
    indices = [s.index for s in every]
    assert len(indices) == len(set(indices))
    assert {s.index for s in every if s.warmup} == {0, 1}
    assert all(s.index >= 2 for s in every if not s.warmup)
    assert all(len(mine) > 2 for mine in slots)  # both workers sent measured requests


def test_more_workers_than_streams_leaves_idle_workers() -> None:
    profiles = closed(1, 5, 1, 3)
    assert [(p.concurrency, p.requests, p.warmup) for p in profiles] == [(1, 5, 1), (0, 0, 0), (0, 0, 0)]
    slots = drive_all(profiles)
    assert [len(s) for s in slots] == [6, 0, 0]
    assert sorted(s.index for s in slots[0]) == list(range(6))


def test_closed_loop_workers_wait_for_the_shared_start() -> None:
    start = now_ns() + 30_000_000
    profiles = closed(2, 2, 0, 2, start_ns=start)
    seen: list[int] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for profile in profiles:

                async def send(slot: Slot) -> None:
                    seen.append(now_ns())

                tg.start_soon(profile.drive, send)

    anyio.run(main)
    assert len(seen) == 2 and min(seen) >= start


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.integers(0, 60), st.integers(0, 12), st.integers(1, 6))
def test_closed_loop_split_property(level: int, requests: int, warmup: int, workers: int) -> None:
    profiles = closed(level, requests, warmup, workers)
    assert sum(p.concurrency for p in profiles) == level
    assert sum(p.requests for p in profiles) == requests
    assert sum(p.warmup for p in profiles) == warmup
    every = [s for mine in drive_all(profiles) for s in mine]
    assert sorted(s.index for s in every) == list(range(requests + warmup))
    assert sorted(s.index for s in every if s.warmup) == list(range(warmup))


# -------------------------------------------------------------------------------- open loop


def opened(
    rate: float,
    requests: int | None,
    warmup: int,
    workers: int,
    seed: int = 7,
    duration_s: float | None = None,
    start_ns: int | None = None,
) -> list:
    return [
        profile_for(
            "rate",
            rate,
            requests=requests,
            warmup=warmup,
            duration_s=duration_s,
            seed=seed,
            worker=w,
            workers=workers,
            start_ns=start_ns,
        )
        for w in range(workers)
    ]


@pytest.mark.parametrize("workers", [2, 3])
def test_open_loop_every_worker_sees_the_one_seeded_process(workers: int) -> None:
    (alone,) = opened(50.0, 40, 5, 1)
    profiles = opened(50.0, 40, 5, workers)
    assert all(isinstance(p, OpenLoop) for p in profiles)
    assert all(p.rate == 50.0 and p.requests == 40 and p.warmup == 5 for p in profiles)  # not divided
    expected = alone.arrivals_s()
    assert len(expected) == 45 and expected == sorted(expected)
    assert all(p.arrivals_s() == expected for p in profiles)
    # A different seed is a different process.
    assert opened(50.0, 40, 5, 1, seed=8)[0].arrivals_s() != expected
    # Duration-bounded: arrivals stop at the horizon (duration plus the warm-up's expected span).
    (bounded,) = opened(50.0, None, 5, 1, duration_s=0.5)
    assert all(t <= 0.5 + 5 / 50.0 for t in bounded.arrivals_s())


@pytest.mark.parametrize("workers", [2, 3])
def test_open_loop_dealt_round_robin_matches_single_process(workers: int) -> None:
    rate, requests, warmup = 800.0, 24, 4  # ~35 ms of arrivals
    (single,) = drive_all(opened(rate, requests, warmup, 1))
    start = now_ns() + 20_000_000
    slots = drive_all(opened(rate, requests, warmup, workers, start_ns=start))

    def relative(s: Slot) -> tuple[int, bool, int]:
        assert s.due_ns is not None and s.level_start_ns is not None
        return (s.index, s.warmup, s.due_ns - s.level_start_ns)

    for w, mine in enumerate(slots):
        assert all(s.index % workers == w for s in mine)  # arrival i goes to worker i % workers
        assert all(s.level_start_ns == start for s in mine)  # one shared start for every worker
    union = sorted(relative(s) for mine in slots for s in mine)
    assert union == sorted(relative(s) for s in single)  # same indices, warm-up flags, due times
    assert [i for i, _, _ in union] == list(range(requests + warmup))
    assert [i for i, warm, _ in union if warm] == list(range(warmup))
    alone = opened(rate, requests, warmup, 1)[0].arrivals_s()
    assert [due for _, _, due in union] == [int(t * 1e9) for t in alone]


def test_open_loop_with_a_lead_starts_each_sender_before_it_is_due_and_wait_due_ends_at_it() -> None:
    """With ``lead_s`` a sender is started early, builds, then awaits ``wait_due``: it leaves at
    its due time (never before), and the schedule is the one without a lead."""
    lead = OpenLoop(10.0, 4, lead_s=0.3, seed=3)
    seen: list[tuple[int, int, int, int]] = []

    async def send(slot: Slot) -> None:
        assert slot.due_ns is not None
        started = now_ns()
        await wait_due(slot)
        seen.append((slot.index, slot.due_ns, started, now_ns()))

    anyio.run(lead.drive, send)
    assert [i for i, *_ in seen] == [0, 1, 2, 3]
    assert all(started < due <= left for _, due, started, left in seen)  # built ahead, left when due
    start = seen[0][1] - int(lead.arrivals_s()[0] * 1e9)
    assert [due - start for _, due, _, _ in seen] == [int(t * 1e9) for t in OpenLoop(10.0, 4, seed=3).arrivals_s()]
    assert profile_for("rate", 10.0, requests=4, warmup=0, duration_s=None, seed=3, lead_s=0.3) == lead


def test_wait_due_returns_at_once_without_a_due_time_or_after_it() -> None:
    async def main() -> None:
        before = now_ns()
        await wait_due(Slot(0, False))  # closed loop: no due time
        await wait_due(Slot(1, False, before - 1, before - 10))  # already due
        assert now_ns() >= before

    anyio.run(main)
