"""Progress output: plain lines for pipes, a rich display for terminals, nothing when quiet."""

from __future__ import annotations

import io

from rich.console import Console

from bench.results.records import RequestRecord
from bench.run.progress import NullProgress, PlainProgress, RichProgress, make_progress


def _record(i: int, ok: bool = True, ttft: float = 10.0, warmup: bool = False) -> RequestRecord:
    r = RequestRecord("r", "t", "groq", "m", "concurrency", 1.0, i, warmup, True)
    if ok:
        r.ttft_ms = ttft + i
    else:
        r.status, r.error_kind = "error", "timeout"
    return r


def test_plain_progress_reports_quarters_and_the_end() -> None:
    out = io.StringIO()
    p = PlainProgress(out)
    p.start_level("groq/x", "concurrency", 4.0, 10)
    for i in range(10):
        p.advance(_record(i, ok=i != 3))
    p.end_level()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("groq/x concurrency 4: measured 3 (3/10 in all), 0 errors, TTFT p50 11.0 ms")
    assert lines[-1] == "groq/x concurrency 4: measured 10 (10/10 in all), 1 errors, TTFT p50 15.0 ms"
    assert len(lines) == 4


def test_plain_progress_without_total_and_without_ttft() -> None:
    out = io.StringIO()
    p = PlainProgress(out)
    p.start_level("t", "rate", 2.5, None)
    p.advance(_record(0, ok=False))
    p.end_level()
    assert out.getvalue().strip() == "t 2.5 req/s: measured 1, 1 errors, TTFT p50 –"


def test_warm_up_is_shown_apart_from_measured() -> None:
    out = io.StringIO()
    p = PlainProgress(out)
    p.start_level("groq/x", "concurrency", 2.0, 6, warmup=2)
    p.advance(_record(0, warmup=True, ttft=1000.0))
    p.advance(_record(1, ok=False, warmup=True))
    for i in range(2, 6):
        p.advance(_record(i))
    p.end_level()
    last = out.getvalue().splitlines()[-1]
    # The failed warm-up is not a measured error, and its TTFT is not in the median.
    assert last == "groq/x concurrency 2: measured 4/4, warm-up 2/2 (1 failed), 0 errors, TTFT p50 13.5 ms"


def test_warm_up_counts_without_a_known_warm_up_total() -> None:
    out = io.StringIO()
    p = PlainProgress(out)
    p.start_level("t", "concurrency", 1.0, 4)
    p.advance(_record(0, warmup=True))
    for i in range(1, 4):
        p.advance(_record(i))
    p.end_level()
    assert out.getvalue().splitlines()[-1] == "t concurrency 1: measured 3, warm-up 1 (4/4 in all), 0 errors, TTFT p50 12.0 ms"


def test_rich_progress_renders_to_its_console() -> None:
    buffer = io.StringIO()
    p = RichProgress(Console(file=buffer, force_terminal=True, width=120))
    p.start_level("groq/x", "concurrency", 1.0, 3)
    for i in range(3):
        p.advance(_record(i))
    p.end_level()
    p.close()
    text = buffer.getvalue()
    assert "groq/x concurrency 1" in text and "3/3" in text and "TTFT p50 11.0 ms" in text


def test_rich_progress_shows_warm_up_apart() -> None:
    buffer = io.StringIO()
    p = RichProgress(Console(file=buffer, force_terminal=True, width=160))
    p.start_level("groq/x", "concurrency", 1.0, 4, warmup=1)
    p.advance(_record(0, warmup=True))
    for i in range(1, 4):
        p.advance(_record(i))
    p.end_level()
    p.close()
    assert "measured 3/3, warm-up 1/1" in buffer.getvalue()


def test_make_progress_picks_by_terminal(capsys) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(make_progress(True), NullProgress)
    assert isinstance(make_progress(False), PlainProgress)  # pytest's stdout is not a terminal
    quiet = NullProgress()
    quiet.start_level("t", "concurrency", 1, 1)
    quiet.advance(_record(0))
    quiet.end_level()
    quiet.close()
    assert capsys.readouterr().out == ""


def _of(target: str, i: int, client: str = "fast") -> RequestRecord:
    r = _record(i)
    r.target, r.client = target, client
    return r


def test_plain_progress_shows_every_target_of_an_interleaved_level() -> None:
    out = io.StringIO()
    p = PlainProgress(out)
    p.start_level("groq/x", "concurrency", 2.0, 4)
    p.start_level("openai/y (sdk)", "concurrency", 2.0, 4)
    for i in range(4):  # side by side: their records arrive mixed
        p.advance(_of("groq/x", i))
        if i < 3:
            p.advance(_of("openai/y", i, client="sdk"))
    p.end_level()
    lines = out.getvalue().splitlines()
    groq = [line for line in lines if line.startswith("groq/x concurrency 2:")]
    openai = [line for line in lines if line.startswith("openai/y (sdk) concurrency 2:")]
    assert len(groq) + len(openai) == len(lines)
    assert groq[-1] == "groq/x concurrency 2: measured 4 (4/4 in all), 0 errors, TTFT p50 11.5 ms"
    assert openai[-1] == "openai/y (sdk) concurrency 2: measured 3 (3/4 in all), 0 errors, TTFT p50 11.0 ms"
    # The next level starts afresh, for whichever targets run it.
    p.start_level("groq/x", "concurrency", 4.0, 4)
    p.advance(_of("groq/x", 0))
    p.end_level()
    assert out.getvalue().splitlines()[-1] == "groq/x concurrency 4: measured 1 (1/4 in all), 0 errors, TTFT p50 10.0 ms"


def test_rich_progress_shows_a_bar_per_target_of_an_interleaved_level() -> None:
    buffer = io.StringIO()
    p = RichProgress(Console(file=buffer, force_terminal=True, width=160))
    p.start_level("groq/x", "concurrency", 2.0, 2)
    p.start_level("anthropic/z", "concurrency", 2.0, 2)
    for i in range(2):
        p.advance(_of("anthropic/z", i))
    p.advance(_of("groq/x", 0))
    p.end_level()
    p.close()
    text = buffer.getvalue()
    assert "groq/x concurrency 2" in text and "anthropic/z concurrency 2" in text
    assert "1/2" in text and "2/2" in text
