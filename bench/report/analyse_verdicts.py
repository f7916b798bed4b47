"""The report's verdicts: each later run against the first, judged by the CI gate's own code
(:func:`bench.gate.compare.compare_sides`), and the SLO verdicts of each run (``judge_slos``, the
code the run summary, ``bench check`` and the pytest plugin use). Nothing here re-judges: the
report shows what those say, arranged as its tables are.
"""

from __future__ import annotations

from bench.analysis.metrics import GroupKey, judge_slos
from bench.analysis.workload import shape_order
from bench.errors import BenchError
from bench.gate.compare import CompareSettings, ErrorRateChange, MetricChange, Side, SideInfo, Verdict, compare_sides
from bench.gate.prefill_change import PREFILL_METRIC
from bench.report.data import ReportData, RunView, target_rank
from bench.report.model import ComparisonRow, RunComparison, RunToRun, SloColumn, SloRow, SloRun
from bench.scenario.slo import slo_for_scenario
from bench.schema import LoadLevel


def group_order(run: RunView, groups: list[GroupKey]) -> list[GroupKey]:
    """``groups`` as the report lists them: unchanged for a plain scenario (order of appearance);
    with request shapes, targets in the scenario's order, then client path, shape
    (:func:`bench.report.data.shape_order`) and load level, never the order groups finished in."""
    if not any(g.shape for g in groups):
        return groups
    rank = target_rank(run)
    first = {t: i for i, t in enumerate(dict.fromkeys(g.target for g in groups))}
    clients = {c: i for i, c in enumerate(dict.fromkeys(g.client for g in groups))}
    return sorted(
        groups,
        key=lambda g: (
            rank.get(g.target, len(rank) + first[g.target]),
            first[g.target],
            clients[g.client],
            shape_order(g.shape),
            g.load_mode,
            g.load_level,
        ),
    )


#: Headline figures the run-to-run table compares, in the headline's order.
RUN_TO_RUN_STREAMED: tuple[str, ...] = ("ttft_ms", "output_tps", "response_100_ms", "e2e_ms")
RUN_TO_RUN_WHOLE: tuple[str, ...] = ("e2e_ms",)


def _side(run: RunView) -> Side:
    return Side(SideInfo.from_meta(run.label, "run", str(run.run_dir), run.meta), run.run)


def _compare(base: RunView, run: RunView, settings: CompareSettings) -> RunComparison:
    try:
        comparison = compare_sides(_side(base), _side(run), settings)
    except BenchError as exc:
        return RunComparison(run.label, str(exc), "", (), (), (), 0, 0, 0, ())
    by_group: dict[GroupKey, dict[str, MetricChange | ErrorRateChange]] = {}
    for change in comparison.metrics:
        by_group.setdefault(change.group, {})[change.metric] = change
    for err in comparison.errors:
        by_group.setdefault(err.group, {})["error_rate"] = err
    # The gate's prefill judgment (a ladder's rungs pooled, or drawn lengths) is a column of its
    # own when the gate made one: its rows would otherwise show nothing the gate judged.
    candidates = (*settings.metrics, *((PREFILL_METRIC,) if PREFILL_METRIC not in settings.metrics else ()))
    shown = tuple(
        m
        for m in candidates
        if any(isinstance(g.get(m), MetricChange) and g[m].verdict is not Verdict.NOT_MEASURED for g in by_group.values())
    )
    rows = []
    for group in group_order(run, list(by_group)):
        cells = by_group[group]
        metric_cells = tuple(c if isinstance(c := cells.get(m), MetricChange) else None for m in shown)
        error = cells.get("error_rate")
        rows.append(
            ComparisonRow(
                group.name,
                LoadLevel.of(group.load_mode, group.load_level).text,
                metric_cells,
                error if isinstance(error, ErrorRateChange) else None,
                shape=group.shape,
            )
        )
    none = tuple(None for _ in shown)
    for only, keys in ((base.label, comparison.only_in_baseline), (run.label, comparison.only_in_candidate)):
        rows += [
            ComparisonRow(g.name, LoadLevel.of(g.load_mode, g.load_level).text, none, None, only, g.shape)
            for g in group_order(run, list(keys))
        ]
    changes = [c for r in rows for c in (*r.cells, r.error) if c is not None]
    return RunComparison(
        label=run.label,
        refused=None,
        status=comparison.status,
        metrics=shown,
        rows=tuple(rows),
        regressions=tuple(c for c in changes if c.verdict is Verdict.REGRESSION),
        improvements=sum(c.verdict is Verdict.IMPROVEMENT for c in changes),
        no_change=sum(c.verdict is Verdict.NO_CHANGE for c in changes),
        inconclusive=sum(c.verdict is Verdict.INSUFFICIENT for c in changes),
        warnings=tuple(w for w in comparison.warnings if not w.startswith(("only in baseline", "only in candidate"))),
    )


def run_to_run(data: ReportData) -> RunToRun:
    """Each later run against the first, judged by the CI gate's own code (bench.compare)."""
    base = data.runs[0]
    streamed = any(r.streamed for r in data.runs)
    metrics = RUN_TO_RUN_STREAMED if streamed else RUN_TO_RUN_WHOLE
    settings = CompareSettings(metrics=metrics)
    return RunToRun(
        base_label=base.label,
        base_run_id=base.run_id,
        metrics=metrics,
        settings=settings,
        comparisons=tuple(_compare(base, run, settings) for run in data.runs[1:]),
    )


def slo_runs(data: ReportData) -> tuple[SloRun, ...] | None:
    """Each run's SLO verdicts as the report's table arranges them; None when no run has an SLO."""
    # Verdicts come from the one code path the summary, bench check and the pytest plugin
    # use (judge_slos), with every [target.slo] applied to its own target.
    specs = [slo_for_scenario(run.scenario) for run in data.runs]
    if all(spec.empty for spec in specs):
        return None
    out = []
    for run, spec in zip(data.runs, specs, strict=True):
        per_request = tuple((rule.column, rule.at_least, float(rule.threshold)) for rule in run.slo.per_request)
        if spec.empty:
            out.append(SloRun(run.label, run.run_id, True, None, (), (), per_request))
            continue
        outcome = judge_slos(run.measured, spec) if spec.has_checks else None
        if outcome is None or not outcome.verdicts:
            out.append(SloRun(run.label, run.run_id, False, None, (), (), per_request))
            continue
        verdicts = outcome.verdicts
        keys = list(dict.fromkeys(v.key for v in verdicts))
        groups = group_order(run, list(dict.fromkeys(v.group for v in verdicts)))
        by_cell = {(v.group, v.key): v for v in verdicts}
        first = {v.key: v for v in reversed(verdicts)}
        # A key whose threshold differs between targets ([target.slo]) shows it in each cell.
        own = {k for k in keys if len({v.threshold for v in verdicts if v.key == k}) > 1}
        rows = tuple(
            SloRow(
                group.name,
                LoadLevel.of(group.load_mode, group.load_level).text,
                tuple(by_cell.get((group, key)) for key in keys),
                group.shape,
            )
            for group in groups
        )
        columns = tuple(SloColumn(k, first[k], k in own) for k in keys)
        out.append(SloRun(run.label, run.run_id, False, outcome.headline, columns, rows, per_request))
    return tuple(out)
