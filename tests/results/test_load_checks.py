"""Loading checks what it reads: impossible values are set aside and said, run.json is typed.

The run directories are written the way the runner writes them (``tests.synthetic``) and then
edited as a hand, another tool or a lying disk might: a negative first token, a negative token
count, a first token of 1e300 ms, text in a timing column, a gap of −1 ms in ``itl_ms``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.results.records import PARQUET_FILE, REQUESTS_FILE, load_results
from bench.results.row_checks import set_aside
from bench.results.run_file import RUN_FILE
from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]
ONE = ("groq/llama-3.3-70b-versatile",)


def _edit_lines(run_dir: Path, edits: dict[int, dict[str, Any]]) -> None:
    """Change fields of the given (1-based) lines of requests.jsonl, as raw JSON."""
    path = run_dir / REQUESTS_FILE
    lines = path.read_text().splitlines()
    for lineno, fields in edits.items():
        row = json.loads(lines[lineno - 1])
        row.update(fields)
        lines[lineno - 1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


BAD = {
    5: {"ttft_ms": -50.0},
    7: {"output_tokens": -3},
    9: {"ttft_ms": 1e300},
    11: {"itl_ms": [1.0, -1.0, 2.0]},
}


def test_impossible_values_are_set_aside_named_and_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=20, warmup=0, slo={"ttft_p50_ms": 1000})
    before = load_results(run_dir)
    _edit_lines(run_dir, BAD)
    capsys.readouterr()
    frame = load_results(run_dir)
    err = capsys.readouterr().err
    assert len(frame) == len(before) - 4
    assert not (frame["ttft_ms"] < 0).any() and not (frame["ttft_ms"] > 1e6).any() and not (frame["output_tokens"] < 0).any()
    aside = set_aside(frame)
    assert aside is not None and aside.count == 4
    assert aside.examples == (
        "line 5: ttft_ms = -50: below 0",
        "line 7: output_tokens = -3: below 0",
        "line 9: ttft_ms = 1e+300: above 1000000000",
    )
    assert err.count("bench: warning:") == 1
    assert f"{run_dir / REQUESTS_FILE}: 4 requests with impossible values set aside (line 5: ttft_ms = -50" in err


def test_text_in_a_numeric_column_is_not_silently_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=30, warmup=0)
    _edit_lines(run_dir, {line: {"ttft_ms": "abc"} for line in range(1, 31, 3)} | {2: {"retries": "two"}, 3: {"itl_ms": ["x"]}})
    capsys.readouterr()
    frame = load_results(run_dir)
    err = capsys.readouterr().err
    assert len(frame) == 30 - 12
    assert frame["ttft_ms"].notna().all()  # no row whose number turned into "no value"
    aside = set_aside(frame)
    assert aside is not None and aside.count == 12
    assert aside.examples[:3] == (
        "line 1: ttft_ms = 'abc': not a number",
        "line 2: retries = 'two': not a number",
        "line 3: itl_ms = ['x']: not a list of numbers",
    )
    assert "12 requests with impossible values set aside" in err


def test_a_parquet_copy_is_checked_too(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=10, warmup=0, parquet=True)
    copy = pd.read_parquet(run_dir / PARQUET_FILE)
    copy.loc[2, "e2e_ms"] = -1.0
    copy.loc[4, "input_tokens"] = float("inf")
    copy.to_parquet(run_dir / PARQUET_FILE, index=False)
    frame = load_results(run_dir)
    aside = set_aside(frame)
    assert len(frame) == 8 and aside is not None
    assert aside.examples == ("line 3: e2e_ms = -1: below 0", "line 5: input_tokens = inf: not a finite number")


def test_summary_report_and_check_leave_them_out_and_say_so(cli: Cli, tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=20, warmup=0, slo={"ttft_p50_ms": 1000})
    # Every measured request but one slow: a TTFT of −50 ms must not carry a p50 SLO over the line.
    _edit_lines(run_dir, {line: {"ttft_ms": 5000.0} for line in range(1, 21)} | {1: {"ttft_ms": -50.0}})
    code, out, err = cli("check", str(run_dir))
    assert code == 1, out + err  # judged on the 19 real rows: all slow
    assert "1 request with impossible values set aside (line 1: ttft_ms = -50: below 0)" in err
    from bench.analysis.loaded import LoadedRun
    from bench.report.summary import notes

    run = LoadedRun.from_run_dir(run_dir)
    assert any("1 request with impossible values set aside" in line for line in notes(run.frame, run.meta))
    code, _, _ = cli("report", str(run_dir), "--format", "md", "--out", str(tmp_path / "rep"))
    assert code == 0
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "**Values set aside:** 1 request with impossible values set aside (line 1: ttft_ms = -50: below 0)" in text
    assert "1e+300" not in text and "-50" not in text.split("Values set aside")[0]


def test_negative_tokens_never_reach_a_cost(cli: Cli, tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=10, warmup=0)
    _edit_lines(run_dir, {line: {"output_tokens": -1000} for line in range(1, 6)})
    code, _, _ = cli("export", str(run_dir), "--format", "csv", "--out", str(tmp_path / "exp"))
    assert code == 0
    exported = pd.read_csv(tmp_path / "exp" / "requests.csv")
    assert len(exported) == 5 and (exported["output_tokens"] >= 0).all()


# ------------------------------------------------------------------------------ run.json


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("finished", "yes", "finished: input should be a valid boolean, got str 'yes'"),
        ("scenario", "oops", "scenario: input should be a valid dictionary, got str 'oops'"),
        ("workers", "2", "workers: input should be a valid integer, got str '2'"),
        ("emulated", 1, "emulated: input should be a valid boolean, got int 1"),
    ],
)
def test_a_run_json_key_of_the_wrong_type_is_an_error_naming_it(
    cli: Cli, tmp_path: Path, key: str, value: Any, said: str
) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=10, warmup=0, slo={"ttft_p50_ms": 1000})
    meta = json.loads((run_dir / RUN_FILE).read_text())
    meta[key] = value
    (run_dir / RUN_FILE).write_text(json.dumps(meta))
    for args in (
        ["check", str(run_dir)],
        ["report", str(run_dir), "--out", str(tmp_path / "rep")],
        ["compare", str(run_dir), str(run_dir)],
    ):
        code, out, err = cli(*args)
        assert code == 2, (args, out, err)
        assert err.strip() == f"bench: error: {run_dir / RUN_FILE}: {said}", (args, err)


def test_unknown_run_json_keys_are_kept(tmp_path: Path) -> None:
    from bench.results.run_file import read_run_meta, write_run_meta

    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=5, warmup=0)
    meta = json.loads((run_dir / RUN_FILE).read_text())
    meta["written_by_a_later_bench"] = {"x": 1}
    (run_dir / RUN_FILE).write_text(json.dumps(meta))
    loaded = read_run_meta(run_dir)
    write_run_meta(run_dir, loaded)
    assert json.loads((run_dir / RUN_FILE).read_text())["written_by_a_later_bench"] == {"x": 1}


# ------------------------------------------------------------------ a run without run.json


def test_a_run_without_run_json_keeps_its_emulated_banner_from_its_scenario_copy(cli: Cli, tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=10, warmup=0)
    (run_dir / RUN_FILE).unlink()
    (run_dir / "scenario.toml").write_text(
        '[scenario]\nname = "x"\nemulate = true\n\n[[target]]\nprovider = "groq"\nmodel = "m"\n\n[load]\nconcurrency = [1]\nrequests = 10\n'
    )
    code, _, err = cli("report", str(run_dir), "--format", "md", "--out", str(tmp_path / "rep"))
    assert code == 0, err
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "> **Emulated run:**" in text


def test_a_run_without_run_json_or_scenario_copy_says_it_cannot_tell(cli: Cli, tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=ONE, n=10, warmup=0)
    (run_dir / RUN_FILE).unlink()
    code, _, err = cli("report", str(run_dir), "--format", "md", "--out", str(tmp_path / "rep"))
    assert code == 0, err
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "**No run.json:**" in text and "cannot tell whether it ran against the emulator" in text
