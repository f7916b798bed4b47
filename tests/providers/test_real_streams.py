"""Real stream shapes, replayed with their timing, read the same on both client paths.

Two shapes that newer features put on the wire (``tests/real_streams.py`` has the recordings
and says where their shapes come from): an Anthropic answer that opens with a ``compaction``
block, and a Groq compound answer with web search results in one large chunk. Before the
warm-up knew them, the SDK path met their types for the first time inside a measured request
and built validators for them there (324 pydantic schemas for the compaction block, 29 for the
compound chunk): a TTFT of 240 ms where the server sent the first token at 37 ms, every
inter-token gap after it near 0, and a 120 ms gap read as 107 ms.

Each recording is measured in a fresh process, as a run does it (warm-up, heap settled, then
the requests), by both client paths, twice. The assertions are on what was read and on the
cause — no validator built mid-stream — not on wall-clock timings (``python -m
tests.real_streams`` prints those against the replay server's own write times).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.real_streams import RECORDINGS

ROOT = Path(__file__).resolve().parents[2]

#: What both client paths must record alike from the same bytes.
SAME = ("status", "error_kind", "content_chunks", "output_tokens", "input_tokens", "token_source", "finish_reason")


@pytest.fixture(scope="module", params=sorted(RECORDINGS))
def replay(request: pytest.FixtureRequest) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.real_streams", request.param],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def test_both_paths_read_every_content_event_and_count(replay: dict[str, Any]) -> None:
    recording = RECORDINGS[replay["name"]]()
    records = {client: [row["record"] for row in rows] for client, rows in replay["attempts"].items()}
    assert set(records) == {"sdk", "fast"}
    for client, rows in records.items():
        for record in rows:
            assert record["status"] == "ok", (client, record["error_message"])
            assert record["content_chunks"] == recording.content_chunks, client
            assert record["output_tokens"] == recording.output_tokens, client
            assert record["token_source"] == "usage", client
            assert record["finish_reason"] == recording.finish_reason, client
            assert len(record["itl_ms"]) == recording.content_chunks - 1, client
    for sdk, fast in zip(records["sdk"], records["fast"], strict=True):
        assert {name: sdk[name] for name in SAME} == {name: fast[name] for name in SAME}


def test_no_client_path_builds_validators_inside_a_measured_request(replay: dict[str, Any]) -> None:
    for client, rows in replay["attempts"].items():
        assert [row["schemas_built"] for row in rows] == [0] * len(rows), (
            f"the {client} path met a type for the first time mid-stream: the warm-up must cover it"
        )
