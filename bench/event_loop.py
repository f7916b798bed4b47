"""Which event loop measures: one choice for runs, worker processes and the emulator.

uvloop where installed (libuv: about half asyncio's cost per socket read and timer, which is
most of the client's work at Groq speed, and keeps the emulator's chunk times — the ground
truth — on schedule), else asyncio's own. ``BENCH_EVENT_LOOP=asyncio`` forces asyncio's.
Kept free of heavy imports: the emulator process starts from here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any


def event_loop_name() -> str:
    if os.environ.get("BENCH_EVENT_LOOP", "").lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return "asyncio"
    return "uvloop"


def loop_options() -> dict[str, Any]:
    """``anyio.run`` backend options for :func:`event_loop_name`'s loop."""
    return {"use_uvloop": event_loop_name() == "uvloop"}


def run(main: Coroutine[Any, Any, Any]) -> None:
    """``asyncio.run`` on :func:`event_loop_name`'s loop (for code that is not anyio)."""
    if event_loop_name() == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
