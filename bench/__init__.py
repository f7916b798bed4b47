"""bench: benchmark LLM inference providers — first token, output speed, load, regressions."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_results"]


def __getattr__(name: str) -> Any:
    # Lazy: pandas costs most of a second to import, and the emulator subprocess needs none of it.
    if name == "load_results":
        from bench.results.records import load_results

        return load_results
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    # A lazy name is still part of the API: tab completion and dir() must show it.
    return sorted(set(globals()) | set(__all__))
