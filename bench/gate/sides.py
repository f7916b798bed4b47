"""The two sides of a comparison: where each came from, and its requests split into groups.

A side is a run or a saved baseline (docs/ci.md, "Baselines"); before anything is judged, its
measured requests are put in request order — the order carries the serial correlation the
intervals allow for — and split into (target, load level, client) groups. A trend compares
each run twice, so preparing a side is a step of its own, done once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from bench.analysis.loaded import LoadedRun
from bench.analysis.metrics import GroupKey, group_positions, measured, ok_mask
from bench.results.run_file import RunMeta


@dataclass(frozen=True)
class SideInfo:
    """Where one side of a comparison came from, and what makes it (in)comparable."""

    spec: str
    kind: Literal["run", "baseline"]
    path: str
    run_id: str
    scenario_name: str | None = None
    fingerprint: str | None = None
    emulated: bool | None = None
    started_at: str | None = None
    git_revision: str | None = None
    #: Why the run behind this side is incomplete ("" when it finished, or nothing says otherwise).
    incomplete: str = ""

    @property
    def label(self) -> str:
        if self.kind == "baseline":
            return f"baseline {self.spec!r} (run {self.run_id})"
        return f"run {self.run_id}"

    @classmethod
    def from_meta(
        cls, spec: str, kind: Literal["run", "baseline"], path: str, meta: RunMeta, *, has_run_file: bool = True
    ) -> SideInfo:
        return cls(
            spec=spec,
            kind=kind,
            path=path,
            run_id=str(meta.run_id or path),
            scenario_name=meta.scenario_name,
            fingerprint=meta.fingerprint,
            emulated=meta.emulated,
            started_at=meta.started_at,
            git_revision=meta.git_revision,
            incomplete=incomplete_reason(meta, has_run_file=has_run_file),
        )


def incomplete_reason(meta: RunMeta, *, has_run_file: bool = True) -> str:
    """Why a run did not finish, from its run.json; "" when it finished (or an old run.json cannot say).

    A run that was interrupted, killed (run.json still says ``finished: false``), or left no
    run.json at all holds only part of its plan: fewer requests, perhaps whole levels missing.
    """
    if not has_run_file:
        return "no run.json (the run never started properly or was killed)"
    if meta.error:
        return f"stopped early ({meta.error})"
    if meta.interrupted:
        return "interrupted before it finished"
    if meta.finished is False:
        return "did not finish (killed, or still running)"
    return ""


@dataclass(frozen=True)
class Side:
    """A loaded side: its description and its run (for a baseline: the saved samples and run.json)."""

    info: SideInfo
    run: LoadedRun

    @classmethod
    def of_frame(cls, info: SideInfo, frame: pd.DataFrame, meta: RunMeta | None = None) -> Side:
        """A side from rows at hand (synthetic frames in studies and benchmarks)."""
        return cls(info, LoadedRun.with_frame(Path(info.path), meta or RunMeta(run_id=info.run_id), frame))

    @property
    def frame(self) -> pd.DataFrame:
        """Every request of the side (warm-up rows may be present)."""
        return self.run.frame

    @property
    def meta(self) -> RunMeta:
        """run.json as written by the runner (for a baseline: as it was when saved)."""
        return self.run.meta


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Measured rows in request order (the order carries the serial correlation)."""
    m = measured(frame)
    return m.sort_values(["started_at_ns", "request_index"], kind="stable")


@dataclass
class Group:
    """One side's measured requests of one (target, load level), in request order."""

    frame: pd.DataFrame
    ok: np.ndarray
    _values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ok)

    @property
    def errors(self) -> int:
        return int(self.n - self.ok.sum())

    def values(self, metric: str) -> np.ndarray:
        """Finite, positive values of ``metric`` over successful requests."""
        if metric not in self._values:
            x = self.frame[metric].to_numpy(dtype="float64", na_value=np.nan)[self.ok]
            self._values[metric] = x[np.isfinite(x) & (x > 0)]
        return self._values[metric]

    def error_kinds(self) -> dict[str, int]:
        kinds = self.frame.loc[~self.ok, "error_kind"].astype("string").fillna("other").value_counts()
        return {str(k): int(v) for k, v in kinds.items()}


def split_groups(frame: pd.DataFrame) -> dict[GroupKey, Group]:
    out: dict[GroupKey, Group] = {}
    for key, idx in group_positions(frame):
        part = frame.iloc[idx]
        out[key] = Group(part, ok_mask(part))
    return out


def groups_text(groups: dict[GroupKey, Group], limit: int = 4) -> str:
    labels = [k.label for k in groups]
    if not labels:
        return "no measured requests"
    more = len(labels) - limit
    return ", ".join(labels[:limit]) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class PreparedSide:
    """A side's measured requests split into groups, in request order: what every comparison
    of it reads. A trend compares each run twice (with the run before and the run after), so
    it prepares each once."""

    info: SideInfo
    groups: dict[GroupKey, Group]


def prepare_side(side: Side) -> PreparedSide:
    return PreparedSide(side.info, split_groups(_ordered(side.frame)))
