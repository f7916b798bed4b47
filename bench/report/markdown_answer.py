"""The report's answer first: one or two sentences under the title ranking the targets on first
token, output speed and cost per million output tokens, as the CIs allow."""

from __future__ import annotations

from bench.report.model import Answer


def answer_lines(answer: Answer | None, rows: int) -> list[str]:
    return []
