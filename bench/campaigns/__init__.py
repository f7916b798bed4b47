"""Campaigns: many runs to one answer. ``sweep`` searches each target's capacity (the highest
load whose SLOs hold); ``calibrate`` measures this machine's own timing error against the
emulator. Both drive ``bench.run`` and keep their results; their reports are written by
``bench.report`` through writers the command line hands in (docs/architecture.md).
"""
