"""``[load]``: how each level's requests are offered — closed loop, open loop (with its arrival
shape) or a replayed trace — and how several targets take their turns. docs/scenarios.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from bench.errors import ScenarioError
from bench.scenario.strict import Strict
from bench.scenario.trace import Trace, cached_trace

#: The longest a level may take (a day): also the most duration_s and timeout_s may be.
MAX_LEVEL_S = 86_400

#: The most streams, and the highest request rate, a level may have.
MAX_CONCURRENCY_LEVEL = 10_000
MAX_RATE_LEVEL = 100_000.0

#: How several targets take their turns: each load level run by every target side by side
#: ("interleaved", the default), or every level of one target before the next ("sequential").
Order = Literal["interleaved", "sequential"]
ORDERS: tuple[str, ...] = ("interleaved", "sequential")


class Load(Strict):
    concurrency: list[Annotated[int, Field(ge=1, le=MAX_CONCURRENCY_LEVEL)]] | None = None
    rate: list[Annotated[float, Field(gt=0, le=MAX_RATE_LEVEL)]] | None = None
    requests: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    duration_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    warmup: Annotated[int, Field(ge=0, le=100_000)] = 0
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    seed: int = 0
    #: Processes that share each level's load (closed-loop streams split, open-loop arrivals dealt out).
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    #: Open loop: the shape of the gaps between arrivals, as vLLM's ``--burstiness`` — gamma
    #: with this shape and the level's mean rate; 1 is Poisson, below 1 burstier, above 1 more
    #: even (docs/scenarios.md).
    burstiness: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 1.0
    #: Open loop: seconds over which each level's rate rises linearly from 0 to its full rate.
    ramp_up_s: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] = 0.0
    #: A request trace to replay (Mooncake JSONL, relative to the scenario file): one open-loop
    #: level at the trace's own times ÷ ``speedup`` (bench/scenario/trace.py).
    trace: Annotated[str, Field(min_length=1)] | None = None
    speedup: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)] = 1.0
    #: The parsed trace (set when the scenario is loaded, from the file ``trace`` names).
    _trace: Trace | None = PrivateAttr(default=None)
    #: How targets take their turns (docs/scenarios.md, "Order"); None: interleaved when there
    #: are several targets. Read the order that runs from ``Scenario.order``.
    order: Order | None = None

    @field_validator("concurrency", "rate", mode="before")
    @classmethod
    def _scalar_to_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_mode(self) -> Load:
        if self.trace is not None:
            return self._replay()
        if self.speedup != 1.0:
            raise ValueError('speedup: replays a trace faster or slower; give trace = "file.jsonl" or leave speedup out')
        if (self.concurrency is None) == (self.rate is None):
            raise ValueError("give exactly one of concurrency = [...] (closed loop) or rate = [...] (open loop)")
        if not (self.concurrency or self.rate):
            raise ValueError("concurrency/rate: needs at least one level")
        levels = self.concurrency or self.rate or []
        if len(set(levels)) != len(levels):
            raise ValueError(f"{self.mode}: a level appears twice ({levels}); each level is one block of results")
        if self.rate and not all(math.isfinite(r) for r in self.rate):
            raise ValueError("rate: levels must be finite numbers")
        if self.concurrency is not None and self.burstiness != 1.0:
            raise ValueError("burstiness: shapes open-loop arrivals only; give rate = [...] or leave burstiness out")
        if self.concurrency is not None and self.ramp_up_s:
            raise ValueError("ramp_up_s: ramps an open-loop rate only; give rate = [...] or leave ramp_up_s out")
        if self.requests is None and self.duration_s is None:
            raise ValueError("give requests = N (per level) or duration_s = S")
        if self.requests is not None and self.duration_s is not None:
            raise ValueError("give requests or duration_s, not both")
        if self.rate and self.requests is not None:
            # An open-loop level of N requests lasts about N / rate: past a day it is a typo
            # (1e-9 for 1e9), and the run would wait for an arrival that never comes.
            slowest = min(self.rate)
            seconds = (self.requests + self.warmup) / slowest + self.ramp_up_s / 2  # a ramp loses half its span
            if seconds > MAX_LEVEL_S:
                raise ValueError(
                    f"rate: level {slowest:g}/s would take about {seconds:.3g} s to start its {self.requests + self.warmup} "
                    f"requests (more than a day); raise the rate, or give duration_s"
                )
        return self

    def _replay(self) -> Load:
        clash = [k for k in ("concurrency", "rate", "duration_s") if getattr(self, k) is not None]
        if self.burstiness != 1.0 or self.ramp_up_s:
            clash.append("burstiness" if self.burstiness != 1.0 else "ramp_up_s")
        if clash:
            raise ValueError(f"trace: a trace sets its own arrivals; leave out {', '.join(clash)} (speedup scales its times)")
        try:
            # The path is absolute by now: loading a scenario resolves it against the file's folder.
            trace = cached_trace(Path(self.trace or ""))
        except ScenarioError as exc:
            raise ValueError(f"trace: {exc.problem}") from None
        if self.warmup >= len(trace):
            raise ValueError(f"warmup: the trace has {len(trace):,} requests; warm-up must leave some to measure")
        if self.requests is not None and self.requests + self.warmup > len(trace):
            raise ValueError(
                f"requests: the trace has {len(trace):,} requests; requests + warmup ({self.requests + self.warmup:,}) "
                "cannot be more (leave requests out to replay all of it)"
            )
        self._trace = trace
        return self

    @property
    def per_level(self) -> int | None:
        """Measured requests per level (a trace without ``requests``: all its lines but the
        warm-up); None for a level bounded by ``duration_s``."""
        if self.requests is None and self._trace is not None:
            return len(self._trace) - self.warmup
        return self.requests

    @property
    def replay(self) -> Trace | None:
        """The trace this load replays, once loaded."""
        return self._trace

    @property
    def mode(self) -> Literal["concurrency", "rate"]:
        return "concurrency" if self.concurrency is not None else "rate"

    @property
    def levels(self) -> list[float]:
        if self._trace is not None:
            # A replay is one open-loop level at the trace's mean rate (its requests in their own time).
            return [float(f"{self._trace.rate * self.speedup:.3g}")]
        return [float(x) for x in (self.concurrency if self.concurrency is not None else self.rate or [])]
