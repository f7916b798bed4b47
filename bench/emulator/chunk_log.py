"""The chunk log: one JSON line per finished request, with the time each content chunk was written.

It is the ground truth the harness's accuracy is checked against (docs/emulator.md;
``bench calibrate``), so it is kept apart from the server that fills it: what a line holds, and
how it reaches the disk without holding up the emulator's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import orjson


@dataclass
class RequestLog:
    """One line of the chunk log. Times are ``perf_counter_ns`` (CLOCK_MONOTONIC, comparable
    across processes on one host). ``chunk_ns`` holds the write time of each content chunk
    (non-empty text, reasoning included); ``request_id`` is the id the client sees in the body
    (``chatcmpl-…``/``msg_…``), or the request-id header for an HTTP error answer. ``seed`` is
    the seed the request's randomness came from (its own, or one drawn from the server's)."""

    request_id: str
    http_request_id: str
    dialect: str
    path: str
    received_ns: int
    retry_count: int | None
    model: str | None = None
    stream: bool | None = None
    status: int = 200
    fault: str | None = None
    seed: int | None = None
    headers_sent_ns: int | None = None
    chunk_ns: list[int] = field(default_factory=list)
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    completed: bool = False
    end_ns: int | None = None
    #: Time spent waiting for a slot (``capacity``), in ns; 0 when served at once.
    queued_ns: int = 0
    #: Prompt tokens served from the prompt cache / written to it (Anthropic's cache writes).
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    #: The prompt's reading time in the plan (``prefill_tokens_per_s``), in ns.
    prefill_ns: int | None = None
    #: The tool the response called, if any.
    tool: str | None = None

    def to_json(self) -> str:
        """One JSON line. orjson, not ``asdict`` + json: the log is written on the emulator's own
        event loop as each request ends, and at 256 chunks ``asdict``'s deep copy and json's
        encoder took ~0.5 ms — with 8 streams ending together, 4 ms during which the next
        requests' arrivals waited to be stamped (the ground truth read late). Now ~10 µs."""
        chunks = self.chunk_ns
        extra = {
            "n_content_chunks": len(chunks),
            "first_content_ns": chunks[0] if chunks else None,
            "last_content_ns": chunks[-1] if chunks else None,
        }
        return (orjson.dumps(self)[:-1] + b"," + orjson.dumps(extra)[1:]).decode()


class ChunkLog:
    """Appends one JSON line per finished request, flushed at once (a crash loses nothing)."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("a", encoding="utf-8")

    def write(self, entry: RequestLog) -> None:
        self._file.write(entry.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
