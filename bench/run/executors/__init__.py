"""Where a level's requests run beyond this process: worker processes (``workers``) and Ray
actors (``ray``). The in-process executor lives with the runner; every executor runs the same
level code (``bench.run.level``) and hands finished records back to the one writer
(docs/scale.md).
"""
