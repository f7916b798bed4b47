"""Baseline vs candidate: per (target, load level, metric) statistics and a two-gated verdict.

Like pyperf's ``compare_to``, a change is a *regression* only when it is both

1. **large**: the median moved in the bad direction by more than ``threshold`` (10% by
   default), and
2. **real**: the confidence interval of the ratio of medians excludes "no change"
   (:func:`bench.gate.stats.median_ratio`: bootstrap widened for serial correlation).

The intervals are *simultaneous*: with m metric comparisons in one gate, each interval is a
``1 − (1 − confidence)/m`` interval (Bonferroni), so the chance that an unchanged system fails
the job stays at most ``1 − confidence`` however many targets, levels and metrics are
checked. Error rates are compared with one-sided Fisher exact tests — pooled over all groups
first, then per group — and an absolute margin: a candidate whose requests fail is a regression however
fast its other requests were. ``benchmarks/gate_calibration.py`` measures the false-alarm and
detection rates of exactly this procedure; ``docs/ci.md`` gives the figures.

This module puts the comparison together and words it; its parts are modules of their own:
the settings and verdicts (``bench.gate.settings``), the sides and their groups
(``bench.gate.sides``), whether they are comparable (``bench.gate.comparable``), and the two
judgments (``bench.gate.metric_change``, ``bench.gate.error_change``). Their public names are
importable from here too, as they were before the split.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.analysis.metrics import GroupKey
from bench.errors import BenchError
from bench.fmt import json_safe
from bench.gate.comparable import Place, across_clients, check_comparable, client_mismatch_text, client_mismatches
from bench.gate.error_change import ErrorRateChange, error_rate_change
from bench.gate.metric_change import MetricChange, metric_change
from bench.gate.prefill_change import judgeable, ladder_groups, prefill_change
from bench.gate.settings import (
    DEFAULT_CONFIDENCE,
    DEFAULT_ERROR_THRESHOLD,
    DEFAULT_METRICS,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLD,
    METRIC_CHOICES,
    CompareSettings,
    Verdict,
)
from bench.gate.sides import PreparedSide, Side, SideInfo, groups_text, incomplete_reason, prepare_side
from bench.gate.stats import error_rate_test

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_ERROR_THRESHOLD",
    "DEFAULT_METRICS",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_THRESHOLD",
    "METRIC_CHOICES",
    "CompareSettings",
    "Comparison",
    "ErrorRateChange",
    "MetricChange",
    "Place",
    "PreparedSide",
    "Side",
    "SideInfo",
    "Verdict",
    "change_text",
    "check_comparable",
    "client_mismatch_text",
    "client_mismatches",
    "compare_prepared",
    "compare_sides",
    "incomplete_reason",
    "magnitude",
    "prepare_side",
]


@dataclass(frozen=True)
class Comparison:
    baseline: SideInfo
    candidate: SideInfo
    settings: CompareSettings
    metrics: tuple[MetricChange, ...]
    errors: tuple[ErrorRateChange, ...]
    only_in_baseline: tuple[GroupKey, ...]
    only_in_candidate: tuple[GroupKey, ...]
    #: How many metric comparisons share the family-wise confidence (Bonferroni m).
    family_size: int
    notes: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> list[MetricChange | ErrorRateChange]:
        """Every comparison: error rates first, then metrics."""
        return [*self.errors, *self.metrics]

    @property
    def regressions(self) -> list[MetricChange | ErrorRateChange]:
        return [r for r in self.changes if r.verdict is Verdict.REGRESSION]

    @property
    def improvements(self) -> list[MetricChange | ErrorRateChange]:
        return [r for r in self.changes if r.verdict is Verdict.IMPROVEMENT]

    @property
    def insufficient(self) -> list[MetricChange]:
        return [r for r in self.metrics if r.verdict is Verdict.INSUFFICIENT]

    @property
    def unjudged(self) -> int:
        """Comparisons that could not be judged: too few samples, or no counterpart on the other side.

        A metric that neither side measures at all (``not measured``) is not counted: there
        was nothing to judge, and both runs agree on that.
        """
        return len(self.insufficient) + len(self.only_in_baseline) + len(self.only_in_candidate)

    @property
    def incomplete(self) -> list[str]:
        """One phrase per side whose run did not finish."""
        sides = (("baseline", self.baseline), ("candidate", self.candidate))
        return [f"{name} {info.label} is incomplete: {info.incomplete}" for name, info in sides if info.incomplete]

    @property
    def inconclusive(self) -> bool:
        """No regression found, but the gate could not look everywhere: never shown as a pass."""
        return not self.regressions and bool(self.unjudged or self.incomplete)

    @property
    def status(self) -> str:
        """``regression``, ``inconclusive`` or ``no regression``."""
        if self.regressions:
            return "regression"
        return "inconclusive" if self.inconclusive else "no regression"

    def _unjudged_text(self) -> str:
        parts = []
        if self.insufficient:
            parts.append(f"{len(self.insufficient)} too few samples")
        if self.only_in_baseline:
            parts.append(f"{len(self.only_in_baseline)} only in baseline")
        if self.only_in_candidate:
            parts.append(f"{len(self.only_in_candidate)} only in candidate")
        return ", ".join(parts)

    @property
    def warnings(self) -> list[str]:
        """What a reader must not miss: comparisons that could not be made, forced ones, unfinished runs."""
        out = list(self.notes)
        out.extend(self.incomplete)
        if self.insufficient:
            r = self.insufficient
            out.append(
                f"{len(r)} comparison(s) had too few samples for a verdict (need {self.settings.min_samples} "
                f"successful requests a side; e.g. {r[0].group.label} {r[0].metric}: "
                f"{r[0].n_baseline} vs {r[0].n_candidate})"
            )
        if self.only_in_baseline:
            out.append("only in baseline (not judged): " + ", ".join(g.label for g in self.only_in_baseline))
        if self.only_in_candidate:
            out.append("only in candidate (not judged): " + ", ".join(g.label for g in self.only_in_candidate))
        return out

    def exit_code(self, *, strict: bool = False) -> int:
        """0 no regression, 1 regression; under ``strict`` 2 when the result is inconclusive."""
        if self.regressions:
            return 1
        if strict and self.inconclusive:
            return 2
        return 0

    @property
    def headline(self) -> str:
        """One line that never reads as a pass when something was not judged."""
        regressions = self.regressions
        tail = f"; {self.unjudged} could not be judged ({self._unjudged_text()})" if self.unjudged else ""
        incomplete = "".join(f"; {text}" for text in self.incomplete)
        if regressions:
            worst = _largest(regressions)
            return (
                f"REGRESSION: {len(regressions)} of {self.judged} comparisons got worse; "
                f"largest: {worst.group.label} {_what(worst)} {change_text(worst)}{tail}{incomplete}"
            )
        improvements = self.improvements
        extra = f"; {len(improvements)} improved" if improvements else ""
        if self.inconclusive:
            return f"INCONCLUSIVE: no regression in {self.judged} judged comparisons{extra}{tail}{incomplete}"
        return f"No regression: {self.judged} comparisons{extra}"

    @property
    def judged(self) -> int:
        judged = (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.NO_CHANGE)
        return sum(r.verdict in judged for r in self.changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # GroupKey is a named tuple: asdict keeps it one, and JSON would make it a list
        data["only_in_baseline"] = [key._asdict() for key in self.only_in_baseline]
        data["only_in_candidate"] = [key._asdict() for key in self.only_in_candidate]
        data["headline"] = self.headline
        data["status"] = self.status
        data["inconclusive"] = self.inconclusive
        data["unjudged"] = self.unjudged
        data["warnings"] = self.warnings
        data["exit_code"] = self.exit_code()
        return json_safe(data)


def compare_sides(baseline: Side, candidate: Side, settings: CompareSettings | None = None, *, force: bool = False) -> Comparison:
    """Compare two loaded sides. Raises BenchError when they are not comparable or share nothing."""
    return compare_prepared(prepare_side(baseline), prepare_side(candidate), settings, force=force)


def compare_prepared(
    baseline: PreparedSide, candidate: PreparedSide, settings: CompareSettings | None = None, *, force: bool = False
) -> Comparison:
    """:func:`compare_sides` on sides already split into groups (the same verdicts)."""
    settings = settings or CompareSettings()
    b_groups = baseline.groups
    c_groups = candidate.groups
    mismatches = client_mismatches(b_groups, c_groups)
    notes = check_comparable(baseline.info, candidate.info, force=force, clients=client_mismatch_text(mismatches))
    if mismatches:  # forced: each side's one client at such a level is compared with the other's
        places = {place for place, b, c in mismatches if len(b) == 1 and len(c) == 1}
        b_groups, c_groups = across_clients(b_groups, places), across_clients(c_groups, places)
    if settings.targets is not None:
        known = {k.target for k in (*b_groups, *c_groups)}
        unknown = [t for t in settings.targets if t not in known]
        if unknown:
            raise BenchError(f"unknown target {unknown[0]!r} (the runs have: {', '.join(sorted(known))})")
        b_groups = {k: g for k, g in b_groups.items() if k.target in settings.targets}
        c_groups = {k: g for k, g in c_groups.items() if k.target in settings.targets}
    common = [k for k in b_groups if k in c_groups]
    if not common:
        raise BenchError(
            f"runs are not comparable: nothing in common — {baseline.info.label} and {candidate.info.label} share "
            f"no target and load level (baseline: {groups_text(b_groups)}; candidate: {groups_text(c_groups)})"
        )
    metrics = list(dict.fromkeys(settings.metrics))
    # Family size: the metric comparisons that will get a test (enough samples both sides).
    testable = sum(
        1 for k in common for m in metrics if min(b_groups[k].values(m).size, c_groups[k].values(m).size) >= settings.min_samples
    )
    # Groups whose prompt lengths ranged widely on both sides also have their prefill speed judged.
    prefill_keys = [k for k in common if judgeable(b_groups[k], c_groups[k])]
    # … and so have a ladder's rungs, pooled: one prefill judgment per ladder.
    ladders = {k: sides for k, sides in ladder_groups(common, b_groups, c_groups).items() if judgeable(*sides)}
    testable += len(prefill_keys) + len(ladders)
    # Error rates: one test pooled over the common groups gates the per-group verdicts.
    eb, nb = sum(b_groups[k].errors for k in common), sum(b_groups[k].n for k in common)
    ec, nc = sum(c_groups[k].errors for k in common), sum(c_groups[k].n for k in common)
    alpha = 1.0 - settings.confidence
    more_overall = error_rate_test(eb, nb, ec, nc).p_value < alpha
    fewer_overall = error_rate_test(ec, nc, eb, nb).p_value < alpha
    changes: list[MetricChange] = []
    errors: list[ErrorRateChange] = []
    for i, key in enumerate(common):
        errors.append(
            error_rate_change(key, b_groups[key], c_groups[key], settings, more_overall=more_overall, fewer_overall=fewer_overall)
        )
        for j, metric in enumerate(metrics):
            seed = settings.seed + 1000 * i + j
            changes.append(metric_change(key, metric, b_groups[key], c_groups[key], settings, testable, seed))
        if key in prefill_keys:
            prefill = prefill_change(key, b_groups[key], c_groups[key], settings, testable, settings.seed + 1000 * i + 999)
            if prefill is not None:
                changes.append(prefill)
    for i, (key, (b_ladder, c_ladder)) in enumerate(ladders.items()):
        prefill = prefill_change(key, b_ladder, c_ladder, settings, testable, settings.seed + 1000 * (len(common) + i) + 999)
        if prefill is not None:
            changes.append(prefill)
    return Comparison(
        baseline=baseline.info,
        candidate=candidate.info,
        settings=settings,
        metrics=tuple(changes),
        errors=tuple(errors),
        only_in_baseline=tuple(k for k in b_groups if k not in c_groups),
        only_in_candidate=tuple(k for k in c_groups if k not in b_groups),
        family_size=testable,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- wording (headline and renderers)


def _what(row: MetricChange | ErrorRateChange) -> str:
    return row.metric if isinstance(row, MetricChange) else "error rate"


def change_text(row: MetricChange | ErrorRateChange) -> str:
    if isinstance(row, ErrorRateChange):
        return f"{row.change * 100:+.1f} pts" if math.isfinite(row.change) else "—"
    if not math.isfinite(row.change):
        return "—"
    text = f"{row.change:+.1%}"
    if math.isfinite(row.ci_low):
        text += f" [{row.ci_low:+.1%}, {row.ci_high:+.1%}]"
    return text


def magnitude(row: MetricChange | ErrorRateChange) -> float:
    if not math.isfinite(row.change):
        return -1.0
    return abs(row.change) * (10.0 if isinstance(row, ErrorRateChange) else 1.0)


def _largest(rows: list[MetricChange | ErrorRateChange]) -> MetricChange | ErrorRateChange:
    return max(rows, key=magnitude)
