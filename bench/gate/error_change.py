"""The error-rate judgment: did the candidate fail more (or less) often, beyond chance and margin?

A candidate whose requests fail is a regression however fast its other requests were. Error
rates are compared with one-sided Fisher exact tests — pooled over all common groups first,
then per group — and an absolute margin (docs/ci.md, "The statistics, and the defaults").
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.metrics import GroupKey
from bench.gate.settings import CompareSettings, Verdict
from bench.gate.sides import Group
from bench.gate.stats import error_rate_test


@dataclass(frozen=True)
class ErrorRateChange:
    """Error rates of one (target, load level); ``change`` is absolute (0.05 = 5 points more)."""

    target: str
    load_mode: str
    load_level: float
    baseline_errors: int
    baseline_n: int
    candidate_errors: int
    candidate_n: int
    baseline_rate: float
    candidate_rate: float
    change: float
    p_value: float
    candidate_error_kinds: dict[str, int]
    verdict: Verdict
    reason: str
    client: str = ""

    #: The group's request shape ("" for a plain scenario).
    shape: str = ""

    @property
    def group(self) -> GroupKey:
        return GroupKey(self.target, self.load_mode, self.load_level, self.client, self.shape)


def error_rate_change(
    key: GroupKey,
    b_group: Group,
    c_group: Group,
    settings: CompareSettings,
    *,
    more_overall: bool,
    fewer_overall: bool,
) -> ErrorRateChange:
    """Error rates of one group. A group can only be judged worse (better) once the test
    pooled over every common group found more (fewer) failures overall: that global test
    keeps the false-alarm rate at ``1 − confidence`` however many groups there are, and a
    candidate failing everywhere is caught with all its requests as evidence."""
    eb, nb = b_group.errors, b_group.n
    ec, nc = c_group.errors, c_group.n
    test = error_rate_test(eb, nb, ec, nc)
    fewer = error_rate_test(ec, nc, eb, nb)  # the same test the other way round
    alpha = 1.0 - settings.confidence
    if more_overall and test.change > settings.error_threshold and test.p_value < alpha:
        verdict, reason, p = Verdict.REGRESSION, f"more failures, significant (p = {test.p_value:.2g})", test.p_value
    elif fewer_overall and -test.change > settings.error_threshold and fewer.p_value < alpha:
        verdict, reason, p = Verdict.IMPROVEMENT, f"fewer failures, significant (p = {fewer.p_value:.2g})", fewer.p_value
    elif ec == eb == 0:
        verdict, reason, p = Verdict.NO_CHANGE, "no failures on either side", 1.0
    else:
        p = test.p_value if test.change >= 0 else fewer.p_value
        verdict, reason = Verdict.NO_CHANGE, f"not significant (p = {p:.2g})"
    return ErrorRateChange(
        target=key.target,
        load_mode=key.load_mode,
        load_level=key.load_level,
        baseline_errors=eb,
        baseline_n=nb,
        candidate_errors=ec,
        candidate_n=nc,
        baseline_rate=test.baseline_rate,
        candidate_rate=test.candidate_rate,
        change=test.change,
        p_value=p,
        candidate_error_kinds=c_group.error_kinds() if ec else {},
        verdict=verdict,
        reason=reason,
        client=key.client,
        shape=key.shape,
    )
