"""The CI gate: is a candidate worse than a baseline (``bench compare``), does a run meet its
SLOs (``bench check``), and the saved baselines both read.

* :mod:`bench.gate.stats` — ratio of medians with a correlation-aware bootstrap CI, Fisher tests.
* :mod:`bench.gate.compare` — the two-gated verdict per (target, load level, metric), built from
  :mod:`bench.gate.settings` (settings, verdicts), :mod:`bench.gate.sides` (the sides and their
  groups), :mod:`bench.gate.comparable` (whether they compare), :mod:`bench.gate.metric_change`
  and :mod:`bench.gate.error_change` (the two judgments).
* :mod:`bench.gate.baseline` — ``baselines/<name>/``: save, list, load a comparison side.
* :mod:`bench.gate.render` — text, Markdown and JSON for both commands.
"""
