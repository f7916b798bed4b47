"""What a run leaves on disk, and reading it back: ``results/<run-id>/``.

Owns the per-request record and its append-as-it-finishes writer (``requests.jsonl``), the
typed ``run.json`` (``RunMeta``), provenance (host, versions, git revision, run ids), the
stored client health of each level and saved calibrations. It may import ``bench.scenario``,
``bench.providers`` and the shared base; the stages that read results (analysis, gate,
report) sit above it (docs/architecture.md).
"""
