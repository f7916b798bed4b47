"""What the measuring loop hands off, and what it still does itself, per request.

A read that becomes ready while the loop runs something else is stamped when that ends, so
per-request work is kept off the loop: results are written by a thread (counted only once on
disk), the heap is collected and frozen before a level rather than during it, and the gaps
are rounded without ``round``. ``benchmarks/loop_work.py`` measures each item in a real run.
"""

from __future__ import annotations

import gc
import json
import textwrap
from pathlib import Path

import anyio
import pytest

from bench import timing
from bench.results.records import REQUESTS_FILE, BackgroundResultsWriter, RequestRecord
from bench.run.measure import StreamTally, _fill
from bench.run.runner import run_scenario


def record(index: int) -> RequestRecord:
    return RequestRecord("run", "t", "groq", "m", "concurrency", 4.0, index, False, True, ttft_ms=float(index))


def lines(run_dir: Path) -> list[int]:
    text = (run_dir / REQUESTS_FILE).read_text(encoding="utf-8")
    return [json.loads(line)["request_index"] for line in text.splitlines()]


# ------------------------------------------------------------------------ the results writer


def test_a_record_is_counted_only_once_its_line_is_on_disk(tmp_path: Path) -> None:
    seen_on_disk: list[tuple[int, bool]] = []

    async def main() -> BackgroundResultsWriter:
        writer = BackgroundResultsWriter(tmp_path)
        writer.on_written = lambda r: seen_on_disk.append((r.request_index, r.request_index in lines(tmp_path)))
        for i in range(50):
            writer.write(record(i))
        await writer.drain()
        assert writer.count == 50  # all of them, before the next level's display starts
        writer.close()
        return writer

    writer = anyio.run(main)
    assert seen_on_disk == [(i, True) for i in range(50)]  # in order, each one already on disk
    assert lines(tmp_path) == list(range(50)) and writer.count == 50


def test_close_writes_and_counts_everything_handed_over(tmp_path: Path) -> None:
    counted: list[int] = []

    async def main() -> None:
        writer = BackgroundResultsWriter(tmp_path, on_written=lambda r: counted.append(r.request_index))
        for i in range(200):
            writer.write(record(i))
        writer.close()  # as the runner does at the end, or on Ctrl-C: no await in between

    anyio.run(main)
    assert lines(tmp_path) == list(range(200))
    assert counted == list(range(200))


def test_the_loop_does_not_encode_or_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """write() on the loop's thread only hands the record over: encoding and the file are the thread's."""
    import threading

    threads: set[str] = set()
    original = RequestRecord.to_json

    def to_json(self: RequestRecord) -> str:
        threads.add(threading.current_thread().name)
        return original(self)

    monkeypatch.setattr(RequestRecord, "to_json", to_json)

    async def main() -> None:
        writer = BackgroundResultsWriter(tmp_path)
        for i in range(20):
            writer.write(record(i))
        await writer.drain()
        writer.close()

    anyio.run(main)
    assert threads == {"bench-results-writer"}


class _FullDisk:
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failed_write_is_raised_by_the_next_write(tmp_path: Path) -> None:
    async def main() -> None:
        writer = BackgroundResultsWriter(tmp_path)
        writer._file = _FullDisk()  # type: ignore[assignment]
        writer.write(record(0))
        await writer.drain()
        assert writer.count == 0  # not on disk: not counted
        with pytest.raises(OSError, match="No space left"):
            writer.write(record(1))
        writer.close()  # already raised: not again

    anyio.run(main)


def test_a_failed_last_write_is_raised_by_close(tmp_path: Path) -> None:
    async def main() -> None:
        writer = BackgroundResultsWriter(tmp_path)
        writer._file = _FullDisk()  # type: ignore[assignment]
        writer.write(record(0))
        with pytest.raises(OSError, match="No space left"):
            writer.close()

    anyio.run(main)


# ------------------------------------------------------------------------ a run


def test_a_run_counts_each_level_and_freezes_the_heap_only_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress display gets each level's records before that level ends (none leak into
    the next), and the heap is frozen while requests are measured, not after."""
    path = tmp_path / "s.toml"
    path.write_text(
        textwrap.dedent(
            """
            [scenario]
            name = "loop"
            emulate = true
            [[target]]
            provider = "groq"
            model = "llama-3.1-8b-instant"
            client = "fast"
            [target.emulator]
            ttft_ms = 5
            tokens_per_s = 2000
            jitter = 0
            [request]
            max_tokens = 8
            [load]
            concurrency = [1, 3]
            requests = 6
            warmup = 1
            """
        )
    )
    frozen_at_emit: list[bool] = []
    levels: list[tuple[float, int]] = []

    class Progress:
        def start_level(
            self, target: str, mode: str, level: float, total: int | None, warmup: int | None = None, shape: str = ""
        ) -> None:
            self.level, self.done = level, 0

        def advance(self, record: RequestRecord) -> None:
            assert record.load_level == self.level, "a record counted in another level's display"
            self.done += 1

        def end_level(self) -> None:
            levels.append((self.level, self.done))

        def close(self) -> None:
            pass

    import bench.run.runner

    handed_over = BackgroundResultsWriter.write

    def write(self: BackgroundResultsWriter, record: RequestRecord) -> None:
        frozen_at_emit.append(gc.get_freeze_count() > 0)  # the request was measured with the heap frozen
        handed_over(self, record)

    monkeypatch.setattr(BackgroundResultsWriter, "write", write)
    monkeypatch.setattr(bench.run.runner, "make_progress", lambda quiet: Progress())
    result = run_scenario(path, out=tmp_path / "r")
    assert levels == [(1.0, 7), (3.0, 7)]  # requests + warm-up, each level's own
    assert len(frozen_at_emit) == 14 and all(frozen_at_emit)
    assert gc.get_freeze_count() == 0  # unfrozen once the level ended
    assert len(lines(result.run_dir)) == 14


# ------------------------------------------------------------------------ the record


@pytest.mark.parametrize("gap_ns", [1_000_000, 1_234_567, 1_250_049, 999, 49, 0, 812_345_678])
def test_gaps_are_rounded_to_a_tenth_of_a_microsecond(gap_ns: int) -> None:
    stamps = timing.RequestTiming(t0_ns=1, sent_ns=1, headers_ns=2, attempts=1)
    tally = StreamTally(content_ns=[10_000_000, 10_000_000 + gap_ns], text_chunks=2)
    rec = record(0)
    _fill(rec, stamps, tally, tally.content_ns[-1], True)
    assert rec.itl_ms == [round(gap_ns / 1e6, 4)]
