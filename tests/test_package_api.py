"""The package's public names: what ``import bench`` offers, lazily or not."""

from __future__ import annotations

import bench


def test_dir_lists_the_lazy_load_results() -> None:
    assert "load_results" in dir(bench)
    assert "__version__" in dir(bench)
    assert callable(bench.load_results)
