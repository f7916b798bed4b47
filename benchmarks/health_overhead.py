"""What the client-health sampler (bench.run.health) costs the process it measures. Prints figures.

    python benchmarks/health_overhead.py [--seconds 3]

- Sampler cost per sample, as the sampler itself accounts it (wall time inside its two
  callbacks, ``LevelHealth.sampler_ms / samples``), on an idle loop and on a loop kept busy
  by small CPU steps, on asyncio and (where installed) uvloop; and the resulting share of one
  core at the default interval. An idle process pays more per sample than a busy one: after
  50 ms asleep the sampler's code and data are no longer in the CPU's caches.
- The same callbacks run back to back (hot caches): the floor.
- ``count_chunks(1)`` per call against an empty function call and an inline global add.

No assertions: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import health  # noqa: E402
from bench.run.health import DEFAULT_INTERVAL_S, HealthSampler, count_chunks  # noqa: E402


def _sampler() -> HealthSampler:
    return HealthSampler(target="overhead", load_mode="concurrency", load_level=1, streams=1)


async def _level(seconds: float, busy: bool) -> tuple[float, int, float]:
    """(µs per sample, samples, loop lag p99 ms) over ``seconds`` at the default interval."""
    async with _sampler() as sampler:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if busy:
                sum(range(500))  # ~10 µs of work, then let the loop turn
                await anyio.sleep(0)
            else:
                await anyio.sleep(0.1)
    result = sampler.result
    assert result is not None
    return result.sampler_ms * 1e3 / max(result.samples, 1), result.samples, result.loop_lag_ms_p99 or 0.0


async def _hot(n: int) -> float:
    """µs for one tick + probe pair, run back to back (the probe's ``call_later`` is cancelled)."""
    sampler = _sampler()
    sampler.start()
    try:
        start = time.perf_counter_ns()
        for _ in range(n):
            sampler._tick()
            handle = sampler._handle
            assert handle is not None
            handle.cancel()
            sampler._probe(time.perf_counter_ns())
            assert sampler._handle is not None
            sampler._handle.cancel()
        return (time.perf_counter_ns() - start) / n / 1e3
    finally:
        sampler.stop()


def _empty(n: int = 1) -> None:
    pass


def _per_call_ns(statement: str, number: int = 2_000_000) -> float:
    namespace: dict[str, Any] = {"count_chunks": count_chunks, "empty": _empty, "health": health}
    best = min(timeit.repeat(statement, globals=namespace, number=number, repeat=5))
    baseline = min(timeit.repeat("pass", number=number, repeat=5))
    return (best - baseline) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measured level (default 3)")
    args = parser.parse_args()

    loops: list[tuple[str, dict[str, Any]]] = [("asyncio", {})]
    try:
        import uvloop  # noqa: F401

        loops.append(("uvloop", {"use_uvloop": True}))
    except ImportError:
        pass

    per_s = 1 / DEFAULT_INTERVAL_S
    print(f"sampler at the default interval ({DEFAULT_INTERVAL_S * 1e3:g} ms, {per_s:g} samples/s):")
    for name, options in loops:
        for busy in (False, True):
            us, samples, lag = anyio.run(_level, args.seconds, busy, backend="asyncio", backend_options=options)
            share = us * per_s / 1e6
            state = "busy loop" if busy else "idle loop"
            print(f"  {name:8s} {state}: {us:6.1f} µs a sample over {samples} samples "
                  f"= {share * 100:.3f} % of a core; loop lag p99 {lag:.3f} ms")  # fmt: skip
        hot = anyio.run(_hot, 5_000, backend="asyncio", backend_options=options)
        print(f"  {name:8s} back to back (hot caches): {hot:6.1f} µs a sample")

    print("per-chunk counter, per call (the empty loop subtracted):")
    print(f"  count_chunks(1)       {_per_call_ns('count_chunks(1)'):6.1f} ns")
    print(f"  empty function call   {_per_call_ns('empty(1)'):6.1f} ns")
    print(f"  health._chunks += 1   {_per_call_ns('health._chunks += 1'):6.1f} ns  (inline, for reference)")


if __name__ == "__main__":
    main()
