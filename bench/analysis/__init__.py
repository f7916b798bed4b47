"""Figures from results: aggregates, confidence intervals, SLO verdicts, costs, saturation findings.

One definition of each figure (docs/metrics.md), used alike by the summary, the report, the
gate and the pytest plugin. It reads results (``bench.results``) and scenario definitions;
it never runs anything and never writes a report.
"""
