"""What a report says, as typed, frozen values: built once by :func:`bench.report.analyse.build_model`
and only *formatted* by the renderers (:mod:`bench.report.markdown` and its section modules).

Why a model between the data and the text: every figure, verdict and count the report writes is
decided in one place, so a sentence and the table under it can never count differently, and a
renderer can be read (and tested) as pure formatting. Numbers are kept as numbers (NaN when
missing) and formatted by :func:`bench.fmt.format_value`; facts that are words (a client path's
description, a scenario's settings) are kept as the words the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.metrics import ArrivalRate, SloVerdict
from bench.analysis.prefill import PrefillFit
from bench.analysis.sdk_cost import SdkCost
from bench.analysis.workload import CacheRow, ColdWarmRow, TokenCountRow, TurnRow
from bench.gate.compare import CompareSettings, ErrorRateChange, MetricChange
from bench.results.health import Budget, LevelHealth

# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class RunFacts:
    """One run as the report's opening and the runs-compared table name it."""

    label: str  # "run 1" … when several runs are compared; "" for one
    run_id: str
    scenario_name: str
    description: str
    started_at: str | None
    hostname: str
    emulated: bool
    #: What the run recorded about the emulator: True, False, or None when nothing says.
    emulated_recorded: bool | None
    fingerprint: str | None
    measured: int
    warmup: int
    cancelled: int
    stopped_by: str | None  # run.json's error, when the run stopped early
    interrupted: bool
    has_run_file: bool
    set_aside: str | None  # "3 values … " when the loader set values aside
    set_aside_source: str | None


@dataclass(frozen=True)
class Saturation:
    """A run whose measuring client went over its health budget: the findings' messages."""

    label: str
    findings: tuple[str, ...]


@dataclass(frozen=True)
class RunsCompared:
    """Whether the compared runs measured the same thing: ``same``, ``fingerprints`` (they differ)
    or ``clients`` (same requests, different client paths; ``clients`` names them per run)."""

    kind: str
    clients: tuple[tuple[str, tuple[str, ...]], ...]  # (run label, client paths)


# --------------------------------------------------------------------------- answer first


@dataclass(frozen=True)
class Ranking:
    """Targets ordered on one figure at one load level, best first, with what the CIs allow.

    ``clear[i]`` says whether target i is ahead of target i + 1 with the bootstrap 95% CI of
    the difference excluding 0 (for cost: strictly cheaper, no interval).
    """

    figure: str  # "ttft" | "output_tps" | "cost"
    targets: tuple[str, ...]
    values: tuple[float, ...]
    clear: tuple[bool, ...]
    no_price: tuple[str, ...] = ()  # cost only: targets without a price


@dataclass(frozen=True)
class Answer:
    """The report's opening answer: which target is fastest and cheapest at a load level."""

    level: str  # "concurrency 4"
    run_label: str  # which run it is drawn from ("" for one run)
    targets: tuple[str, ...]
    rankings: tuple[Ranking, ...]
    #: More than one level was common to every target: the answer is for the highest.
    highest_of: int = 1
    #: The requests streamed (without streams there is no first-token or speed ranking).
    streamed: bool = True
    #: The request shape the targets are ranked at ("" for a plain scenario), and how many
    #: shapes the run has: targets are only ever ranked within one shape.
    shape: str = ""
    shapes: int = 1


# --------------------------------------------------------------------------- headline


@dataclass(frozen=True)
class HeadlineRow:
    run_label: str
    target: str
    model: str
    streamed: bool
    ttft_p50: float
    ttft_p50_low: float
    ttft_p50_high: float
    ttft_p90: float
    ttfa_p50: float
    tps_p50: float
    tps_p50_low: float
    tps_p50_high: float
    tps_p10: float
    response_100_p50: float
    #: The 100-token answer is extrapolated (no successful answer reached 100 output tokens):
    #: the longest answer, in tokens, else None when it was measured.
    response_100_longest: float | None
    e2e_p50: float
    e2e_p50_low: float
    e2e_p50_high: float
    e2e_p90: float
    e2e_tps_p50: float  # NaN for a streamed target (it has tokens/s instead)
    error_rate: float
    n: float
    shape: str = ""  # the request shape ("" for a plain scenario)


@dataclass(frozen=True)
class Headline:
    rows: tuple[HeadlineRow, ...]
    streaming: bool
    whole: bool
    reasoning: bool
    show_model: bool
    level: str | None  # the one headline level every target shares, else None
    reference: str | None  # the reference table the scenario asked for
    shaped: bool = False  # a row has a request shape: the table gets a shape column
    chart_shape: str = ""  # the one shape the per-target distribution charts draw ("" for all)


# --------------------------------------------------------------------------- cost


@dataclass(frozen=True)
class CostRow:
    run_label: str
    target: str
    has_price: bool
    price_input: float
    price_output: float
    per_request: float
    per_usd: float
    speed: float
    run_total: float
    requests: int
    shape: str = ""


@dataclass(frozen=True)
class CostSource:
    source: str
    as_of: str
    origin: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class CostNote:
    text: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Cost:
    rows: tuple[CostRow, ...]
    sources: tuple[CostSource, ...]
    notes: tuple[CostNote, ...]


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class ComparisonRow:
    target: str
    level: str
    cells: tuple[MetricChange | None, ...]  # per shown metric
    error: ErrorRateChange | None
    #: The run this group is only in (then nothing is judged in the row), else None.
    only_in: str | None = None
    shape: str = ""


@dataclass(frozen=True)
class RunComparison:
    """One later run against the first, as the CI gate judged it."""

    label: str
    refused: str | None  # why the gate does not compare them, else None
    status: str  # the gate's: "regression", "inconclusive" or "no regression"
    metrics: tuple[str, ...]  # the metrics shown as columns
    rows: tuple[ComparisonRow, ...]  # every group of either run; one-run groups say so
    # Counted from the cells of ``rows``, so the line above the table says what it shows:
    regressions: tuple[MetricChange | ErrorRateChange, ...]
    improvements: int
    no_change: int
    inconclusive: int  # cells without a verdict: too few samples
    warnings: tuple[str, ...]

    @property
    def judged(self) -> int:
        return len(self.regressions) + self.improvements + self.no_change

    @property
    def one_run_rows(self) -> int:
        return sum(r.only_in is not None for r in self.rows)


@dataclass(frozen=True)
class RunToRun:
    base_label: str
    base_run_id: str
    metrics: tuple[str, ...]
    settings: CompareSettings
    comparisons: tuple[RunComparison, ...]


@dataclass(frozen=True)
class SloColumn:
    key: str
    first: SloVerdict  # the key's first verdict: its rule as the header names it
    own: bool  # thresholds differ per target: each cell says its own


@dataclass(frozen=True)
class SloRow:
    target: str
    level: str
    cells: tuple[SloVerdict | None, ...]
    shape: str = ""


@dataclass(frozen=True)
class SloRun:
    label: str
    run_id: str
    empty: bool  # the run has no [slo] table
    headline: str | None  # judge_slos' sentence, when there are verdicts
    columns: tuple[SloColumn, ...]
    rows: tuple[SloRow, ...]
    per_request: tuple[tuple[str, bool, float], ...]  # (column, at least, threshold)


# --------------------------------------------------------------------------- load, time, errors


@dataclass(frozen=True)
class LevelRow:
    run_label: str
    target: str
    level: str
    n: float
    ttft_p50: float
    ttft_p99: float
    e2e_p50: float
    e2e_p99: float
    tps_p50: float
    itl_p99: float
    agg_tps: float
    rps: float
    goodput_rps: float
    goodput_share: float
    error_rate: float
    start_lag_p99: float
    rate: ArrivalRate | None  # open loop: offered against achieved
    shape: str = ""


@dataclass(frozen=True)
class Load:
    rows: tuple[LevelRow, ...]
    goodput: bool
    open_loop: bool
    short: tuple[ArrivalRate, ...]


@dataclass(frozen=True)
class SdkCostRun:
    label: str
    run_id: str
    costs: tuple[SdkCost, ...]


@dataclass(frozen=True)
class OverTime:
    total: int
    shown: int


@dataclass(frozen=True)
class SplitRow:
    run_label: str
    target: str
    n: float
    queue: float
    prompt: float
    completion: float
    rest: float
    e2e: float
    server_tps: float
    client_tps: float
    shape: str = ""


@dataclass(frozen=True)
class ReasoningRow:
    run_label: str
    target: str
    ttft_p50: float
    ttfa_p50: float
    thinking_p50: float
    reasoning_tokens_p50: float
    response_100_p50: float
    response_100_longest: float | None  # as in HeadlineRow: set when extrapolated
    shape: str = ""


@dataclass(frozen=True)
class ErrorRow:
    run_label: str
    target: str
    kind: str
    count: int
    share: float
    statuses: tuple[int, ...]
    example: str | None
    shape: str = ""


# --------------------------------------------------------------------------- method


@dataclass(frozen=True)
class Overhead:
    """The client's own cost: p50/p99 of its preparation and start lag, and run.json's extras."""

    prep: tuple[float, float] | None
    start_lag: tuple[float, float] | None
    extras: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class MethodRun:
    name: str
    run_id: str
    started_at: str | None
    ended_at: str | None
    emulated: bool
    scenario_path: str | None  # as recorded, an absolute path cut to its last two parts
    scenario_from_flags: bool  # given as command-line flags, not a file
    fingerprint: str | None
    clients: str
    request: str
    prompts: str
    load: str
    measured: int
    warmup: int
    cancelled: int
    retries: int
    token_sources: tuple[tuple[str, int], ...]
    versions: str
    host: str
    git_revision: str | None
    overhead: Overhead
    execution: str | None  # None when the run recorded none of it
    prompt_note: str | None
    #: The run's ``[slo.class.NAME]`` tables in words, None when it has none.
    slo_classes: str | None = None


@dataclass(frozen=True)
class HealthRun:
    label: str
    run_id: str
    levels: tuple[LevelHealth, ...] | None  # None when the client was not sampled
    budget: Budget | None
    findings: tuple[str, ...]
    verdict: str | None  # the summary line when nothing was over budget
    calibration_note: str | None
    calibration_date: str | None


# --------------------------------------------------------------------------- the whole report


@dataclass(frozen=True)
class ReportModel:
    multi: bool
    runs: tuple[RunFacts, ...]
    saturation: tuple[Saturation, ...]
    runs_compared: RunsCompared | None
    answer: Answer | None
    headline: Headline
    run_to_run: RunToRun | None
    cost: Cost | None
    slo: tuple[SloRun, ...] | None
    load: Load | None
    sdk_costs: tuple[SdkCostRun, ...]
    over_time: OverTime | None
    time_split: tuple[SplitRow, ...]
    reasoning: tuple[ReasoningRow, ...]
    errors: tuple[ErrorRow, ...]
    warm_failed: int
    method: tuple[MethodRun, ...]
    health: tuple[HealthRun, ...]
    #: When any target's answers were all shorter than 100 tokens, the longest of them: every
    #: 100-token answer figure (headline, verdicts, SLOs, chart) is then marked extrapolated.
    short_answers: float | None = None
    #: Per run, what its prompt lengths, cache and turns did (empty runs left out).
    workload: tuple[WorkloadRun, ...] = ()


@dataclass(frozen=True)
class WorkloadRun:
    """What one run's workload shape did (each tuple empty when the run has nothing to say):
    first-token time against prompt length, prompt-cache use, turns, and tokens asked vs counted."""

    label: str
    prefill: tuple[PrefillFit, ...]
    cache: tuple[CacheRow, ...]
    turns: tuple[TurnRow, ...]
    tokens: tuple[TokenCountRow, ...]
    #: Each input rung cold against warm, when the run ran both cache states.
    cold_warm: tuple[ColdWarmRow, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.prefill or self.cache or self.turns or self.tokens or self.cold_warm)
