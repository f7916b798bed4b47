"""bench: benchmark LLM inference providers through their official SDKs."""

from __future__ import annotations

__version__ = "0.1.0"

from bench.records import load_results  # noqa: E402

__all__ = ["__version__", "load_results"]
