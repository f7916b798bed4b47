"""The provider emulator: Groq, OpenAI and Anthropic wire formats on loopback (docs/method.md, "The emulator").

Run it with ``python -m bench.emulator`` or, from Python, ``with start_emulator() as emu:``.
Per-request controls travel in request headers: ``x-bench-emulator`` (JSON profile override,
faults, seed) and ``x-bench-fault`` (force one fault kind); see ``profiles.Override``.
"""

from __future__ import annotations

from bench.emulator.faults import expected_error_kind
from bench.emulator.handle import EmulatorError, EmulatorHandle, start_emulator
from bench.schema import FAULT_KINDS

__all__ = ["FAULT_KINDS", "EmulatorError", "EmulatorHandle", "expected_error_kind", "start_emulator"]
