"""Loading ``requests.jsonl`` without its Parquet copy: every value as written, torn tails dropped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench.results.records import REQUESTS_FILE, RequestRecord, frame_from_records, load_results
from bench.schema import COLUMNS


def _record(i: int, gaps: int) -> RequestRecord:
    return RequestRecord(
        run_id="20260925-100000-load-0000", target="groq/openai/gpt-oss-120b", provider="groq", model="openai/gpt-oss-120b",
        load_mode="concurrency", load_level=4.0, request_index=i, warmup=i == 0, stream=True, client="fast",
        started_at_ns=1_790_330_400_000_000_000 + i, ttft_ms=75.5 + i, e2e_ms=300.25, output_tokens=gaps + 1,
        input_tokens=64, token_source="usage", content_chunks=gaps + 1, itl_ms=[0.5 + i + k / 8 for k in range(gaps)],
        output_tps=800.0 if gaps else None, request_id=f"req_{i}",
    )  # fmt: skip


def _write(run: Path, records: list[RequestRecord], tail: bytes = b"") -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / REQUESTS_FILE).write_bytes(b"".join(r.to_json().encode() + b"\n" for r in records) + tail)


def test_the_fast_path_gives_the_same_frame_as_the_careful_reader(tmp_path: Path) -> None:
    # Lists of every length (none, one, many), a missing float, flags and strings.
    records = [_record(i, gaps) for i, gaps in enumerate([0, 1, 12, 0, 300])]
    _write(tmp_path / "run", records)
    frame = load_results(tmp_path / "run")
    expected = frame_from_records([json.loads(r.to_json()) for r in records])  # the line-by-line reader's frame
    assert list(frame.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=True)
    assert [type(v) for v in frame["itl_ms"]] == [list] * 5 and [len(v) for v in frame["itl_ms"]] == [0, 1, 12, 0, 300]
    assert frame["itl_ms"][2] == [2.5 + k / 8 for k in range(12)]
    assert math.isnan(frame["output_tps"][0]) and frame["output_tps"][1] == 800.0


@pytest.mark.parametrize("gaps", [3, 20_000])  # a last line longer than one read of the file's end
def test_a_torn_last_line_is_dropped_whatever_its_length(tmp_path: Path, gaps: int, capsys: pytest.CaptureFixture[str]) -> None:
    records = [_record(i, gaps) for i in range(3)]
    torn = _record(3, gaps).to_json().encode()[:-7]
    _write(tmp_path / "run", records, torn)
    frame = load_results(tmp_path / "run")
    assert len(frame) == 3 and frame["request_index"].tolist() == [0, 1, 2]
    assert "dropped 1 line at the end that was cut short" in capsys.readouterr().err
    # A whole last line followed by blank lines is not a tear.
    _write(tmp_path / "run2", records, b"\n\n  \n")
    assert len(load_results(tmp_path / "run2")) == 3 and capsys.readouterr().err == ""


def test_an_empty_or_blank_file_is_an_empty_frame(tmp_path: Path) -> None:
    for name, text in (("empty", b""), ("blank", b"\n \n\n")):
        run = tmp_path / name
        run.mkdir()
        (run / REQUESTS_FILE).write_bytes(text)
        frame = load_results(run)
        assert len(frame) == 0 and list(frame.columns) == list(COLUMNS)


@pytest.mark.parametrize("parquet", [False, True])
def test_loading_some_columns_gives_those_values_and_the_rest_empty(tmp_path: Path, parquet: bool) -> None:
    from tests.synthetic import write_synthetic_run

    run = write_synthetic_run(tmp_path, n=6, error_share=0.34, parquet=parquet)
    whole = load_results(run)
    some = load_results(run, columns=["target", "ttft_ms", "status", "warmup", "request_index"])
    assert list(some.columns) == list(COLUMNS) and len(some) == len(whole)
    for name in ("target", "ttft_ms", "status", "warmup", "request_index"):
        pd.testing.assert_series_equal(some[name], whole[name], check_dtype=True)
    assert some["e2e_ms"].isna().all() and some["provider"].isna().all()
    assert (some["retries"] == 0).all() and some["itl_ms"].map(len).eq(0).all()
    assert str(some["e2e_ms"].dtype) == "float64" and str(some["provider"].dtype) == "string"
