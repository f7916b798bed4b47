"""One run, loaded: its directory, its run.json (:class:`~bench.results.run_file.RunMeta`) and, on first
use, its per-request frame, the measured rows and its SLOs.

The runner's result, the pytest plugin's ``BenchResult``, a side of the CI gate, exports,
baselines and the report all hold a run this way, so each reads run.json and requests.jsonl
the same way and none re-learns the shape. Nothing heavy is imported until a frame is asked
for: the pytest plugin holds these in every session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

from bench.analysis.metrics import measured
from bench.results.records import load_results, resolve_run_dir
from bench.results.run_file import read_run_meta
from bench.scenario.slo import slo_for_scenario

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from bench.results.run_file import RunMeta
    from bench.scenario.slo import SloSpec


@dataclass
class LoadedRun:
    """A run directory (or, for a saved baseline, the directory it was saved to) and its run.json."""

    run_dir: Path
    meta: RunMeta
    _frame: pd.DataFrame | None = field(default=None, repr=False)
    _measured: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def from_run_dir(cls, path: str | os.PathLike[str]) -> Self:
        """A run directory, or the newest run under a results root."""

        run_dir = resolve_run_dir(path)
        return cls(run_dir, read_run_meta(run_dir))

    @classmethod
    def with_frame(cls, run_dir: Path, meta: RunMeta, frame: pd.DataFrame) -> Self:
        """A run whose rows are already at hand (a saved baseline's samples, a synthetic frame)."""
        return cls(run_dir, meta, frame)

    @property
    def run_id(self) -> str:
        return self.meta.run_id or self.run_dir.name

    @property
    def frame(self) -> pd.DataFrame:
        """Every request (warm-up and cancelled rows flagged), the results schema's columns."""
        if self._frame is None:
            self._frame = load_results(self.run_dir)
        return self._frame

    @property
    def measured(self) -> pd.DataFrame:
        """The rows that count (``metrics.measured``): no warm-up, no requests the harness cancelled."""
        if self._measured is None:
            self._measured = measured(self.frame)
        return self._measured

    @property
    def slo(self) -> SloSpec:
        """The scenario's SLOs as the run recorded them (``[slo]`` and every ``[target.slo]``)."""

        return slo_for_scenario(self.meta.scenario)
