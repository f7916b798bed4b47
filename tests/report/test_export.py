"""bench export: every format reads back to the same frame; CLI exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.cost import SUMMARY_COLUMNS
from bench.analysis.metrics import aggregate_columns
from bench.errors import BenchError
from bench.report import export as export_module
from bench.report.export import FORMATS, aggregates_for, export_run
from bench.results.records import load_results
from tests.synthetic import write_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    return write_synthetic_run(
        root,
        targets=("groq/openai/gpt-oss-120b", "openai/gpt-4-turbo"),
        n=6,
        error_share=0.34,
        slo={"request_ttft_ms": 200},
    )


def _same_lists(a: pd.Series, b: list[list[float]]) -> None:
    assert [list(map(float, x)) for x in a] == [list(map(float, x)) for x in b]


def test_csv_round_trip(run: Path, tmp_path: Path) -> None:
    written = export_run(run, "csv", tmp_path)
    assert [p.name for p in written] == ["requests.csv", "aggregates.csv"]
    original = load_results(run)
    back = pd.read_csv(tmp_path / "requests.csv")
    assert len(back) == len(original) and list(back.columns) == [*original.columns, "cost_usd"]
    _same_lists(original["itl_ms"], [json.loads(text) for text in back["itl_ms"]])  # lists as JSON text
    np.testing.assert_allclose(back["ttft_ms"].to_numpy(float), original["ttft_ms"].to_numpy(float), equal_nan=True)
    assert back["started_at_ns"].tolist() == original["started_at_ns"].tolist()
    agg = pd.read_csv(tmp_path / "aggregates.csv")
    assert list(agg.columns) == ["run_id", *aggregate_columns(), *SUMMARY_COLUMNS]  # costs last
    assert agg["goodput_share"].notna().all()  # the run's per-request SLO was applied


def test_parquet_round_trip(run: Path, tmp_path: Path) -> None:
    export_run(run, "parquet", tmp_path)
    original = load_results(run)
    back = pd.read_parquet(tmp_path / "requests.parquet")
    assert len(back) == len(original)
    _same_lists(original["itl_ms"], [list(x) for x in back["itl_ms"]])
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "aggregates.parquet").drop(columns="run_id"),
        aggregates_for(run).drop(columns="run_id"),
        check_dtype=False,
    )


def test_json_round_trip(run: Path, tmp_path: Path) -> None:
    export_run(run, "json", tmp_path)
    original = load_results(run)
    records = json.loads((tmp_path / "requests.json").read_text(encoding="utf-8"))
    assert len(records) == len(original)
    _same_lists(original["itl_ms"], [r["itl_ms"] for r in records])
    first_ok = next(i for i, r in enumerate(records) if r["status"] == "ok")
    assert records[first_ok]["ttft_ms"] == pytest.approx(original["ttft_ms"].iloc[first_ok], rel=1e-12)
    assert any(r["ttft_ms"] is None for r in records)  # NaN -> null
    aggregates = json.loads((tmp_path / "aggregates.json").read_text(encoding="utf-8"))
    assert [a["target"] for a in aggregates] == ["groq/openai/gpt-oss-120b", "openai/gpt-4-turbo"]


def test_default_out_is_the_run_dir(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, n=2, targets=("openai/gpt-4-turbo",))
    written = export_run(tmp_path, "csv")  # a results root: its newest run
    assert all(p.parent == run for p in written)


def test_pytest_benchmark_hands_over(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Path, Path]] = []

    def write_pytest_benchmark(run_dir: Path, out_dir: Path) -> Path:
        calls.append((run_dir, out_dir))
        path = out_dir / "pytest-benchmark.json"
        path.write_text("{}")
        return path

    monkeypatch.setattr(export_module, "write_pytest_benchmark", write_pytest_benchmark)
    assert export_run(run, "pytest-benchmark", tmp_path) == [tmp_path / "pytest-benchmark.json"]
    assert calls == [(run, tmp_path)]


def test_bad_input(run: Path, tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="unknown export format 'xml'"):
        export_run(run, "xml", tmp_path)
    with pytest.raises(BenchError, match="no such run"):
        export_run(tmp_path / "missing", "csv", tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BenchError, match="cannot create"):
        export_run(run, "csv", blocker / "sub")
    assert "pytest-benchmark" in FORMATS


def test_cli_export(run: Path, tmp_path: Path, cli) -> None:
    code, out, _ = cli("export", str(run), "--format", "parquet", "--out", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [f"wrote {tmp_path / 'requests.parquet'}", f"wrote {tmp_path / 'aggregates.parquet'}"]
    code, _, err = cli("export", str(run), "--format", "xml")
    assert (
        code == 2
        and err.strip() == "bench: error: unknown export format 'xml'; choose one of csv, parquet, json, pytest-benchmark, vllm"
    )
    code, _, err = cli("export", str(tmp_path / "nope"))
    assert code == 2 and "no such run directory" in err


def test_csv_list_cells() -> None:
    from bench.report.export import _json_list

    assert _json_list(np.array([1.5, 2.0])) == "[1.5, 2.0]"
    assert _json_list([1.0]) == "[1.0]"
    assert _json_list(None) == "[]" and _json_list(float("nan")) == "[]"


def test_export_never_writes_into_another_runs_directory(cli, tmp_path: Path) -> None:
    """Seen: exporting A as Parquet into B replaced B's requests.parquet; load_results(B) then gave A's rows."""
    a = write_synthetic_run(tmp_path / "a", run_id="20260925-100000-a-0000", n=6, targets=("openai/gpt-4-turbo",), seed=1)
    b = write_synthetic_run(
        tmp_path / "b", run_id="20260925-100000-b-0000", n=9, targets=("openai/gpt-4-turbo",), seed=2, parquet=True
    )
    before = (b / "requests.parquet").read_bytes()
    code, out, err = cli("export", str(a), "--format", "parquet", "--out", str(b))
    assert code == 2 and out == ""
    assert err.startswith(f"bench: error: {b}: is the directory of another run (20260925-100000-b-0000)")
    assert err.count("\n") == 1 and "--force" in err
    assert (b / "requests.parquet").read_bytes() == before
    assert set(load_results(b)["run_id"]) == {"20260925-100000-b-0000"}
    assert not (b / "aggregates.parquet").exists()

    code, out, err = cli("export", str(a), "--format", "csv", "--out", str(b), "--force")  # asked for: allowed
    assert code == 0, err
    assert (b / "requests.csv").exists()


def test_export_never_replaces_a_file_it_did_not_write(cli, run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "requests.csv").write_text("mine\n", encoding="utf-8")
    code, _, err = cli("export", str(run), "--out", str(out))
    assert code == 2 and err.count("\n") == 1
    assert "requests.csv: already exists and was not written by bench export (--force replaces it)" in err
    assert (out / "requests.csv").read_text(encoding="utf-8") == "mine\n"
    code, _, err = cli("export", str(run), "--out", str(out), "--force")
    assert code == 0, err
    # what an export wrote, it may refresh without asking
    code, _, err = cli("export", str(run), "--out", str(out))
    assert code == 0, err
    # a run's own columnar copy may be refreshed in place (the same rows)
    own = write_synthetic_run(tmp_path / "own", n=3, targets=("openai/gpt-4-turbo",), parquet=True)
    assert export_run(own, "parquet")[0] == own / "requests.parquet"
    assert len(load_results(own)) == len(pd.read_parquet(own / "requests.parquet"))


def test_export_to_a_name_that_is_a_directory_is_one_line(cli, run: Path, tmp_path: Path) -> None:
    """Seen: IsADirectoryError with a traceback."""
    out = tmp_path / "out"
    (out / "aggregates.json").mkdir(parents=True)
    for extra in ([], ["--force"]):
        code, stdout, err = cli("export", str(run), "--format", "json", "--out", str(out), *extra)
        assert code == 2 and stdout == ""
        assert (
            err
            == f"bench: error: {out / 'aggregates.json'}: is a directory, so the export cannot be written there (choose another --out)\n"
        )
    assert not (out / "requests.json").exists()  # nothing half-done


def test_report_on_binary_garbage_is_one_line(cli, tmp_path: Path) -> None:
    """Seen: UnicodeDecodeError with a traceback."""
    run = tmp_path / "garbage"
    run.mkdir()
    (run / "run.json").write_text("{}", encoding="utf-8")
    (run / "requests.jsonl").write_bytes(b"\xff\xfe\x00garbage\x80\x81\n" + bytes(range(256)) + b"\n")
    for args in (["report", str(run), "--out", str(tmp_path / "rep")], ["export", str(run), "--out", str(tmp_path / "x")]):
        code, out, err = cli(*args)
        assert code == 2 and out == ""
        assert err == f"bench: error: {run / 'requests.jsonl'}:1: not UTF-8 text (binary data, not a bench requests file)\n"
    (run / "requests.jsonl").write_bytes(b"")
    (run / "run.json").write_bytes(b"\xff\xfe{}")
    code, _, err = cli("export", str(run), "--out", str(tmp_path / "x"))
    assert code == 2 and err.startswith("bench: error:") and "run.json: not UTF-8" in err and err.count("\n") == 1


def test_a_torn_last_line_is_dropped_with_a_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_synthetic_run(tmp_path, n=4, targets=("openai/gpt-4-turbo",), warmup=0)
    whole = len(load_results(run))
    capsys.readouterr()
    with open(run / "requests.jsonl", "ab") as fh:
        fh.write(b'{"run_id": "20260925-100000-synthetic-0000", "target": "openai/gpt-4-tu\xc3')  # cut mid-character
    frame = load_results(run)
    assert len(frame) == whole
    err = capsys.readouterr().err
    assert err.startswith("bench: warning: ") and "dropped 1 line at the end that was cut short" in err
    assert f"read {whole} complete request(s)" in err

    lines = (run / "requests.jsonl").read_bytes().split(b"\n")
    (run / "requests.jsonl").write_bytes(b"\n".join([lines[0], b"{not json", *lines[1:]]))
    with pytest.raises(BenchError, match=r"requests.jsonl:2: not valid JSON"):
        load_results(run)  # a bad line in the middle is not a tear: the file is not what bench wrote
