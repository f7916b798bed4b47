"""``bench calibrate`` and :mod:`bench.campaigns.calibrate`: structure and arithmetic, never the machine's accuracy.

The real run is tiny (one provider, the SDK path, 1 and 2 streams × 100 tokens/s, a few short
requests) and its numbers are only checked for being there and finite: this machine is shared.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from bench.campaigns import calibrate as cal
from bench.campaigns.calibrate import CalibrationCell, CalibrationGrid, CalibrationResult, ClientVerdict
from bench.errors import BenchError
from bench.report.calibration import HEADER, cell_row, verdict_lines
from bench.results import provenance
from bench.results.calibration import calibration_note, latest_calibration, load, save, verdict_text

CLI = Callable[..., tuple[int, str, str]]
ROW = re.compile(
    r"^(?P<provider>\S+)\s+(?P<client>\S+)\s+(?P<streams>\d+)\s+(?P<tps>[\d.]+)\s+(?P<n>\d+)\s+"
    r"(?P<p50>\S+)\s+(?P<p99>\S+)\s+(?P<itl>\S+)\s+(?P<tpot>\S+)\s+(?P<prep>\S+)\s+(?P<within>yes|no)"
)
LOAD = re.compile(r"\d+ streams? × \d+(\.\d+)? tokens/s")


# --------------------------------------------------------------------------- error arithmetic


def _entry(request_id: str, received: int, chunks: list[int]) -> dict:
    """A chunk-log line as the emulator writes it (times in ns)."""
    return {
        "request_id": request_id,
        "received_ns": received,
        "chunk_ns": chunks,
        "n_content_chunks": len(chunks),
        "first_content_ns": chunks[0] if chunks else None,
        "last_content_ns": chunks[-1] if chunks else None,
    }


def _row(
    request_id: str,
    ttft: float,
    itl: list[float],
    tpot: float | None,
    *,
    warmup: bool = False,
    status: str = "ok",
    prep: float = 0.5,
) -> dict:
    return {
        "request_id": request_id,
        "warmup": warmup,
        "status": status,
        "ttft_ms": ttft,
        "itl_ms": itl,
        "tpot_ms": tpot if tpot is not None else math.nan,
        "content_chunks": len(itl) + 1 if itl else 0,
        "sdk_prep_ms": prep,
    }


MS = 1_000_000


def test_request_errors_follow_the_definitions() -> None:
    # Server: read at 0, first chunk at 50 ms, then gaps of 10, 10, 10 ms (mean 10 ms).
    truth = {"a": _entry("a", 0, [50 * MS, 60 * MS, 70 * MS, 80 * MS])}
    # Harness: TTFT 51.5 ms, gaps 11, 10, 12 (mean 11 ms), tpot 10.5 ms.
    frame = pd.DataFrame([_row("a", 51.5, [11.0, 10.0, 12.0], 10.5)])
    [error] = cal.request_errors(frame, truth)
    assert error.ttft_err_ms == pytest.approx(1.5)
    assert error.itl_err == pytest.approx(11.0 / 10.0 - 1)
    assert error.tpot_err == pytest.approx(10.5 / 10.0 - 1)
    assert not error.chunk_mismatch


def test_inter_token_error_is_a_ratio_of_means_per_request_then_averaged() -> None:
    # Uneven server gaps (5, 15 → mean 10); harness gaps (9, 9 → mean 9): −10 %, not mean of per-gap ratios.
    truth = {
        "a": _entry("a", 0, [50 * MS, 55 * MS, 70 * MS]),
        "b": _entry("b", 0, [40 * MS, 60 * MS, 80 * MS]),  # gaps 20, 20
    }
    frame = pd.DataFrame([_row("a", 50.0, [9.0, 9.0], 9.0), _row("b", 42.0, [22.0, 22.0], 22.0)])
    cell = cal.summarize_cell("groq", "sdk", 2, 100.0, frame.assign(warmup=False), truth)
    assert cell.n == 2
    assert cell.itl_err_mean_pct == pytest.approx(100 * ((9 / 10 - 1) + (22 / 20 - 1)) / 2)
    assert cell.tpot_err_mean_pct == pytest.approx(cell.itl_err_mean_pct)
    # TTFT errors 0 and 2 ms: numpy's linear percentiles.
    assert cell.ttft_err_p50_ms == pytest.approx(1.0)
    assert cell.ttft_err_p99_ms == pytest.approx(1.98)


def test_summarize_cell_skips_warmup_counts_failures_and_mismatches() -> None:
    truth = {
        "w": _entry("w", 0, [50 * MS, 60 * MS]),
        "a": _entry("a", 0, [50 * MS, 60 * MS, 70 * MS]),
        "b": _entry("b", 10 * MS, [60 * MS, 70 * MS, 80 * MS]),
    }
    frame = pd.DataFrame(
        [
            _row("w", 500.0, [99.0], 99.0, warmup=True, prep=9.0),  # warm-up: ignored whatever its numbers
            _row("a", 50.2, [10.0, 10.0], 10.0, prep=1.0),
            _row("b", 50.4, [20.0], 20.0, prep=3.0),  # two chunks seen, three sent: a mismatch
            _row("x", 1.0, [1.0], 1.0, status="error", prep=5.0),
            _row("unknown", 50.0, [10.0], 10.0, prep=2.0),  # no chunk-log entry: not joined
        ]
    )
    cell = cal.summarize_cell("openai", "sdk", 1, 100.0, frame, truth)
    assert cell.n == 2
    assert cell.n_failed == 1
    assert cell.chunk_mismatch == 1
    assert cell.ttft_err_p50_ms == pytest.approx(0.3)
    assert cell.sdk_prep_p50_ms == pytest.approx(2.0)  # median of the ok measured rows: 1, 3, 2
    assert cell.itl_err_mean_pct == pytest.approx(100 * ((10 / 10 - 1) + (20 / 10 - 1)) / 2)
    assert not cell.within()  # a failed request never passes


def test_chunk_log_without_chunk_list_uses_first_last_and_count(tmp_path: Path) -> None:
    entry = _entry("a", 0, [50 * MS, 60 * MS, 70 * MS])
    del entry["chunk_ns"]
    log = tmp_path / "chunks.jsonl"
    no_content = {"request_id": "e", "received_ns": 0, "first_content_ns": None}
    log.write_text(json.dumps(entry) + "\n\n" + json.dumps(no_content) + "\n")
    truth = cal.read_chunk_log(log)
    assert list(truth) == ["a"]
    [error] = cal.request_errors(pd.DataFrame([_row("a", 50.0, [12.0, 12.0], 12.0)]), truth)
    assert error.itl_err == pytest.approx(0.2)
    assert cal.read_chunk_log(tmp_path / "missing.jsonl") == {}


def test_an_empty_cell_is_nan_and_not_within() -> None:
    frame = pd.DataFrame([_row("a", 50.0, [10.0], 10.0)])
    cell = cal.summarize_cell("groq", "sdk", 1, 100.0, frame, {})
    assert cell.n == 0 and math.isnan(cell.ttft_err_p50_ms) and math.isnan(cell.itl_err_mean_pct)
    assert not cell.within()
    assert "–" in cell_row(cell)


# --------------------------------------------------------------------------- verdicts


def _cell(client: str, streams: int, tps: float, *, ok: bool = True, provider: str = "groq") -> CalibrationCell:
    err = 0.3 if ok else 3.0
    return CalibrationCell(
        provider,
        client,
        streams,
        tps,
        n=10,
        ttft_err_p50_ms=err,
        ttft_err_p99_ms=err,
        itl_err_mean_pct=0.1,
        tpot_err_mean_pct=0.1,
        sdk_prep_p50_ms=1.0,
    )


def test_within_bounds_uses_absolute_values_and_all_three_errors() -> None:
    cell = _cell("sdk", 1, 100.0)
    assert cell.within()
    assert not CalibrationCell(
        "g", "sdk", 1, 100.0, n=5, ttft_err_p50_ms=-1.2, ttft_err_p99_ms=0.1, itl_err_mean_pct=0.0
    ).within()
    assert not CalibrationCell(
        "g", "sdk", 1, 100.0, n=5, ttft_err_p50_ms=0.1, ttft_err_p99_ms=1.01, itl_err_mean_pct=0.0
    ).within()
    assert not CalibrationCell(
        "g", "sdk", 1, 100.0, n=5, ttft_err_p50_ms=0.1, ttft_err_p99_ms=0.1, itl_err_mean_pct=-1.5
    ).within()
    assert CalibrationCell("g", "sdk", 1, 100.0, n=5, ttft_err_p50_ms=1.0, ttft_err_p99_ms=-1.0, itl_err_mean_pct=1.0).within()
    assert cell.load == 100.0


def test_verdict_is_the_highest_load_where_every_provider_holds() -> None:
    cells = [
        _cell("sdk", 1, 100.0),
        _cell("sdk", 1, 800.0),
        _cell("sdk", 8, 100.0),
        _cell("sdk", 8, 100.0, provider="anthropic"),
        _cell("sdk", 8, 800.0, ok=False),
        _cell("sdk", 16, 100.0, provider="anthropic", ok=False),  # one provider fails: the load fails
        _cell("sdk", 16, 100.0),
        _cell("fast", 1, 100.0, ok=False),
        _cell("fast", 16, 800.0),
        _cell("fast", 2, 800.0),
    ]
    verdicts = cal.verdicts(cells, ["sdk", "fast", "other"], {"other": "not here"})
    sdk = verdicts["sdk"]
    assert (sdk.streams, sdk.tokens_per_s) == (8, 100.0)  # 800 chunks/s, ties 1 × 800 on streams
    assert sdk.failed == [(16, 100.0), (8, 800.0)]
    fast = verdicts["fast"]
    assert (fast.streams, fast.tokens_per_s) == (16, 800.0)
    assert fast.failed == [(1, 100.0)]
    assert verdicts["other"].skipped == "not here" and verdicts["other"].streams is None
    result = CalibrationResult("2025-03-04T05:06:07.000+00:00", {}, {}, CalibrationGrid(), cells, verdicts)
    lines = verdict_lines(result)
    assert (
        lines[0]
        == "SDK path: within 1 ms (TTFT p50 and p99 error) and 1 % (mean inter-token error) up to 8 streams × 100 tokens/s"
    )
    assert lines[1].endswith("up to 16 streams × 800 tokens/s (but not at the lower 1 × 100)")
    assert lines[2] == "other path: not calibrated (not here)"
    none = cal.verdicts([_cell("sdk", 1, 100.0, ok=False)], ["sdk"])["sdk"]
    assert none.streams is None and none.failed == [(1, 100.0)]
    assert cal.verdicts([], ["fast"])["fast"].skipped


# --------------------------------------------------------------------------- saving and notes


def _result(
    host: dict, fast: ClientVerdict, sdk: ClientVerdict, date: str = "2025-03-04T05:06:07.000+00:00"
) -> CalibrationResult:
    cells = [_cell("sdk", 8, 100.0), CalibrationCell("groq", "sdk", 16, 800.0, n=0)]
    return CalibrationResult(
        date, dict(host), provenance.versions(), CalibrationGrid(providers=["groq"]), cells, {"sdk": sdk, "fast": fast}
    )


def test_save_load_round_trip_with_nan(tmp_path: Path) -> None:
    result = _result(
        provenance.host(), ClientVerdict("fast", skipped="no 'fast' client"), ClientVerdict("sdk", 8, 100.0, failed=[(16, 800.0)])
    )
    path = result.save(tmp_path / "deep" / "calibration.json")
    data = json.loads(path.read_text())  # strict JSON: NaN is written as null
    assert data["cells"][1]["ttft_err_p50_ms"] is None
    back = load(path)
    assert back.to_dict() == result.to_dict()
    assert math.isnan(back.cells[1].ttft_err_p50_ms)
    assert back.verdicts["sdk"].failed == [(16, 800.0)]
    assert save(back, tmp_path / "again.json").exists()


def test_load_refuses_a_file_that_is_not_a_calibration(tmp_path: Path) -> None:
    bad = tmp_path / "calibration.json"
    bad.write_text("{}")
    with pytest.raises(BenchError, match="not a bench calibration file"):
        load(bad)
    with pytest.raises(BenchError, match="cannot read"):
        load(tmp_path / "missing.json")


def test_latest_calibration_picks_the_newest_and_skips_broken_files(tmp_path: Path) -> None:
    assert latest_calibration(tmp_path / "nowhere") is None
    assert latest_calibration(tmp_path) is None
    sdk = ClientVerdict("sdk", 1, 100.0)
    _result({}, ClientVerdict("fast", skipped="x"), sdk, date="2025-01-01T00:00:00.000+00:00").save(
        tmp_path / "calibration-old.json"
    )
    _result({}, ClientVerdict("fast", skipped="x"), sdk, date="2025-02-01T00:00:00.000+00:00").save(tmp_path / "calibration.json")
    (tmp_path / "calibration-broken.json").write_text("not json")
    latest = latest_calibration(tmp_path)
    assert latest is not None and latest.date.startswith("2025-02-01")


def test_calibration_note_on_this_host_and_another() -> None:
    here = provenance.host()
    result = _result(here, ClientVerdict("fast", 16, 800.0), ClientVerdict("sdk", 8, 100.0))
    assert calibration_note(result, here) == (
        "this machine was calibrated on 2025-03-04: within 1 ms / 1 % up to 16 streams × 800 tokens/s on the fast path, "
        "8 × 100 on the SDK path"
    )
    elsewhere = dict(here, hostname="loadgen-7")
    note = calibration_note(_result(elsewhere, ClientVerdict("fast", 16, 800.0), ClientVerdict("sdk", 8, 100.0)), here)
    assert note.startswith("the calibration found was made on a different host (loadgen-7, 2025-03-04)")
    assert "\n" not in note and "this machine" in note
    skipped = _result(here, ClientVerdict("fast", skipped="no 'fast' client"), ClientVerdict("sdk", 8, 100.0))
    assert calibration_note(skipped, here).endswith(
        "within 1 ms / 1 % up to 8 streams × 100 tokens/s on the SDK path; the fast path not calibrated"
    )
    nothing = _result(here, ClientVerdict("fast", skipped="x"), ClientVerdict("sdk", failed=[(1, 100.0)]))
    assert calibration_note(nothing, here).endswith(": nothing within 1 ms / 1 % on the SDK path; the fast path not calibrated")
    assert "not been calibrated" in calibration_note(None, here)
    assert verdict_text(CalibrationResult("2025", {}, {}, CalibrationGrid(), [], {})) == "no client path calibrated"


def test_scenario_text_is_exact_timing_with_warmup_equal_to_streams() -> None:
    import tomllib

    from bench.scenario.model import Scenario

    text = cal.scenario_text("anthropic", 8, 800.0, CalibrationGrid(tokens=64, requests=5, workers=2))
    data = tomllib.loads(text)
    Scenario.model_validate(data)
    assert data["target"][0]["emulator"] == {"ttft_ms": 50, "tokens_per_s": 800, "jitter": 0}
    assert data["request"] == {"max_tokens": 64, "extra_body": {"ignore_eos": True}}
    assert data["load"] == {"concurrency": [8], "requests": 5, "warmup": 8, "workers": 2}


# --------------------------------------------------------------------------- the command


@pytest.fixture
def no_fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """This install without the fast path, whether or not it has been written yet."""
    from bench import providers

    for key in [k for k in providers.REGISTRY if k[1] == "fast"]:
        monkeypatch.delitem(providers.REGISTRY, key)


@pytest.mark.slow
def test_a_tiny_calibration_through_the_cli(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_fast_client: None
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(
        "calibrate",
        "--providers",
        "groq",
        "--client",
        "sdk,fast",
        "--concurrency",
        "1,2",
        "--tokens-per-s",
        "100",
        "--requests",
        "3",
        "--tokens",
        "6",
        "--save",
    )
    assert code == 0, err
    rows = [m for m in map(ROW.match, out.splitlines()) if m]
    assert [(m["provider"], m["client"], m["streams"], m["tps"]) for m in rows] == [
        ("groq", "sdk", "1", "100"),
        ("groq", "sdk", "2", "100"),
    ]
    for m in rows:
        assert m["n"] == "3"
        for name in ("p50", "p99", "itl", "tpot", "prep"):
            assert math.isfinite(float(m[name])), (name, m.group(0))
    # The fast path is skipped with one note, and the verdict says so.
    notes = [line for line in err.splitlines() if "fast" in line]
    assert len(notes) == 1 and "skipped for groq" in notes[0]
    verdict = [line for line in out.splitlines() if line.startswith("SDK path:")]
    assert len(verdict) == 1 and LOAD.search(verdict[0]), out
    assert "fast path: not calibrated" in out

    saved = tmp_path / "results" / "calibration.json"
    assert f"saved: {Path('results') / 'calibration.json'}" in out
    result = load(saved)
    assert result.to_dict() == CalibrationResult.from_dict(json.loads(saved.read_text())).to_dict()
    assert [(c.provider, c.client, c.streams, c.tokens_per_s, c.n) for c in result.cells] == [
        ("groq", "sdk", 1, 100.0, 3),
        ("groq", "sdk", 2, 100.0, 3),
    ]
    assert result.grid.clients == ["sdk", "fast"] and result.grid.requests == 3 and result.grid.tokens == 6
    assert result.host == provenance.host() and result.versions["bench"]
    assert result.verdicts["fast"].skipped
    latest = latest_calibration(tmp_path / "results")
    assert latest is not None and latest.date == result.date
    note = calibration_note(latest, provenance.host())
    assert note.startswith(f"this machine was calibrated on {result.date[:10]}: ") and "fast path not calibrated" in note


@pytest.mark.parametrize(
    "args, message",
    [
        (["--concurrency", "0"], "--concurrency '0'"),
        (["--concurrency", "one"], "--concurrency 'one'"),
        (["--client", "nope"], "--client 'nope'"),
        (["--tokens-per-s", "0"], "--tokens-per-s '0'"),
        (["--tokens-per-s", "fast"], "--tokens-per-s 'fast'"),
        (["--providers", "mistral"], "--providers 'mistral'"),
        (["--requests", "0"], "--requests 0"),
        (["--tokens", "1"], "--tokens 1"),
    ],
)
def test_bad_options_exit_2_with_one_line(cli: CLI, args: list[str], message: str) -> None:
    code, out, err = cli("calibrate", *args)
    assert code == 2
    assert err.strip().count("\n") == 0 and err.startswith("bench: error: ") and message in err, err
    assert "Traceback" not in err and out == ""


def test_save_to_a_directory_or_a_path_without_save_is_bad_input(cli: CLI, tmp_path: Path) -> None:
    code, _, err = cli("calibrate", "--client", "sdk", "--save", str(tmp_path))
    assert code == 2 and "is a directory" in err and err.count("\n") == 1
    code, _, err = cli("calibrate", "--client", "sdk", "elsewhere.json")
    assert code == 2 and "only taken with --save" in err and err.count("\n") == 1


def test_only_a_missing_client_path_is_bad_input(cli: CLI, no_fast_client: None) -> None:
    code, out, err = cli("calibrate", "--quick", "--client", "fast", "--providers", "groq")
    assert code == 2
    assert err.splitlines()[-1].startswith("bench: error: --client fast: nothing to calibrate (")
    assert not any(ROW.match(line) for line in out.splitlines())


def test_the_quick_grid_and_the_estimate() -> None:
    from bench.cli.calibrate import _estimate_s

    quick = CalibrationGrid.default(quick=True)
    assert (quick.concurrency, quick.tokens_per_s, quick.requests, quick.tokens) == ([1, 8], [800.0], 8, 60)
    full = CalibrationGrid.default()
    assert (full.concurrency, full.tokens_per_s, full.requests, full.tokens) == ([1, 8, 16], [100.0, 800.0], 30, 120)
    # Default grid, one provider × one client: about a minute, dominated by 1 stream × 100 tokens/s.
    one = CalibrationGrid(providers=["groq"], clients=["sdk"])
    assert 40 < _estimate_s(one) < 90


def test_timing_accuracy_script_is_a_wrapper(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "timing_accuracy.py"
    spec = importlib.util.spec_from_file_location("timing_accuracy", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen: list[CalibrationGrid] = []

    def fake(grid: CalibrationGrid, **kwargs: object) -> CalibrationResult:
        seen.append(grid)
        cell = _cell("sdk", 1, 800.0)
        kwargs["on_cell"](cell)  # type: ignore[operator]
        return CalibrationResult("2025", {}, {}, grid, [cell], cal.verdicts([cell], grid.clients))

    monkeypatch.setattr(cal, "calibrate", fake)
    assert module.main(["--quick", "--client", "sdk", "--providers", "groq"]) == 0
    out = capsys.readouterr().out
    assert seen[0].concurrency == [1, 8] and seen[0].clients == ["sdk"] and seen[0].providers == ["groq"]
    assert HEADER in out and "SDK path: within" in out
    assert module.main(["--client", "nope"]) == 2
    assert "--client 'nope'" in capsys.readouterr().err


def test_save_path_given_and_quick_overrides(cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[CalibrationGrid] = []

    def fake(grid: CalibrationGrid, **kwargs: object) -> CalibrationResult:
        seen.append(grid)
        kwargs["note"]("a note")  # type: ignore[operator]
        cell = _cell("sdk", 8, 800.0)
        return CalibrationResult(provenance.utc_now(), provenance.host(), {}, grid, [cell], cal.verdicts([cell], grid.clients))

    monkeypatch.setattr(cal, "calibrate", fake)
    target = tmp_path / "new" / "mine.json"
    code, out, err = cli("calibrate", "--quick", "--client", "sdk", "--tokens", "20", "-w", "2", "--save", str(target))
    assert code == 0, err
    assert seen[0].concurrency == [1, 8] and seen[0].tokens == 20 and seen[0].requests == 8 and seen[0].workers == 2
    assert f"saved: {target}" in out and "bench: note: a note" in err
    assert load(target).verdicts["sdk"].streams == 8
    assert "SDK path: within 1 ms" in out and "about " in out.splitlines()[0]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"providers": ["mistral"]}, "--providers"),
        ({"clients": ["nope"]}, "--client 'nope'"),
        ({"concurrency": []}, "empty grid"),
        ({"concurrency": [0]}, "--concurrency"),
        ({"tokens_per_s": [0.0]}, "--tokens-per-s"),
        ({"requests": 0}, "--requests"),
        ({"tokens": 1}, "--tokens"),
    ],
)
def test_grid_check(change: dict, message: str) -> None:
    grid = CalibrationGrid(**change)
    with pytest.raises(BenchError, match=re.escape(message)):
        cal.calibrate(grid)


def test_save_where_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = _result({}, ClientVerdict("fast", skipped="x"), ClientVerdict("sdk", 1, 100.0))
    with pytest.raises(BenchError, match="cannot write there"):
        result.save(tmp_path / "file" / "calibration.json")


def test_client_available_names_what_is_missing(monkeypatch: pytest.MonkeyPatch, no_fast_client: None) -> None:
    from bench import providers

    assert cal.client_available("groq", "sdk") is None
    assert "no 'fast' client" in (cal.client_available("groq", "fast") or "")

    def broken(provider: str, settings: object) -> object:
        raise ImportError("no module named httptools")

    monkeypatch.setitem(providers.REGISTRY, ("groq", "fast"), broken)
    assert "cannot be imported" in (cal.client_available("groq", "fast") or "")
