"""Queueing for ``capacity``: N requests for one model served at once, the rest waiting in order.

With ``capacity = N`` in ``x-bench-emulator`` (docs/emulator.md), requests for one model share N
slots; beyond N a request waits first come first served, and its whole planned response starts
that much later. The pool is its own module because its one rule — a freed slot goes straight
to the longest waiter — is what the capacity tests check.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import perf_counter


class SlotPool:
    """``capacity`` requests served at once; the rest wait, first come first served.

    A freed slot is handed straight to the longest waiter (never grabbed by a newcomer), so
    the order is strictly FIFO.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> float:
        """Take a slot; returns how long the request waited for it (seconds, 0 when at once).

        A free slot means nobody waits: a release hands its slot to a live waiter if any.
        """
        if self.busy < self.capacity:
            self.busy += 1
            return 0.0
        loop = asyncio.get_running_loop()
        queued = perf_counter()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            raise
        return perf_counter() - queued  # the answers' clock (perf_counter), as their deadlines

    def release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot moves to the waiter; busy stays the same
                return
        self.busy -= 1
