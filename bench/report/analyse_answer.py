"""The report's answer first: which target is fastest to the first token, fastest to stream and
cheapest per million output tokens at the measured load, and whether the CIs allow saying so."""

from __future__ import annotations

from bench.report.data import ReportData
from bench.report.model import Answer


def answer(data: ReportData) -> Answer | None:
    return None
