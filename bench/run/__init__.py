"""Running a scenario: the runner, the order targets take their turns in, load levels, load
profiles, the measuring loop, the health sampler, warm-up, preflight, progress and signals,
and the executors that run a level in this process, in worker processes or on Ray
(``bench.run.executors``).

It drives providers (``bench.providers``) and writes results (``bench.results``); it may read
analysis (saturation findings for the run's own warning) but never a report or the gate
(docs/architecture.md).
"""
