"""What a comparison is asked to do, and the closed set of verdicts it can give.

Both judgments — a metric's change (``bench.gate.metric_change``) and an error rate's
(``bench.gate.error_change``) — read the same settings and answer in the same verdicts, and the
command line, the pytest plugin and the report all build these settings; so they live apart
from either judgment. The defaults are the ones ``docs/ci.md`` ("The statistics, and the
defaults") gives and ``benchmarks/gate_calibration.py`` measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bench.errors import BenchError
from bench.scenario.slo import SLO_COLUMNS

#: Compared unless ``--metric`` says otherwise: first-token latency and output speed.
DEFAULT_METRICS: Final[tuple[str, ...]] = ("ttft_ms", "output_tps")
#: Smallest relative change of a median that can fail the gate.
DEFAULT_THRESHOLD: Final[float] = 0.10
#: Family-wise confidence: P(no false regression anywhere in one comparison).
DEFAULT_CONFIDENCE: Final[float] = 0.95
#: Below this many successful measured requests on either side, no verdict is given.
DEFAULT_MIN_SAMPLES: Final[int] = 30
#: Smallest increase of the error rate (absolute) that can fail the gate.
DEFAULT_ERROR_THRESHOLD: Final[float] = 0.01
#: Metric names a user may pass (numeric per-request columns), plus the always-compared error rate.
METRIC_CHOICES: Final[tuple[str, ...]] = tuple(SLO_COLUMNS)


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no change"
    INSUFFICIENT = "too few samples"
    NOT_MEASURED = "not measured"
    BASELINE_ONLY = "only in baseline"
    CANDIDATE_ONLY = "only in candidate"


@dataclass(frozen=True)
class CompareSettings:
    metrics: tuple[str, ...] = DEFAULT_METRICS
    threshold: float = DEFAULT_THRESHOLD
    confidence: float = DEFAULT_CONFIDENCE
    min_samples: int = DEFAULT_MIN_SAMPLES
    error_threshold: float = DEFAULT_ERROR_THRESHOLD
    seed: int = 0
    #: Widen intervals for serial correlation (the calibration's "VIF"); off only for study.
    correlated: bool = True
    #: Compare only these targets (labels); None = every target.
    targets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRIC_CHOICES]
        if unknown:
            raise BenchError(f"unknown metric {unknown[0]!r} (choose from: {', '.join(METRIC_CHOICES)})")
        if not self.metrics:
            raise BenchError("no metrics to compare")
        if not 0 < self.threshold < 10:
            raise BenchError(f"threshold must be a positive fraction (got {self.threshold})")
        if not 0 < self.confidence < 1:
            raise BenchError(f"confidence must be between 0 and 1 (got {self.confidence})")
        if self.min_samples < 2:
            raise BenchError("min-samples must be at least 2")
