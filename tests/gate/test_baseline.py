"""Saved baselines: small, committed, and read back exactly like a run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.analysis.metrics import aggregate
from bench.errors import BenchError
from bench.gate.baseline import list_baselines, load_side, save_baseline
from tests.synthetic import write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]


def make_run(root: Path, **kwargs: object) -> Path:
    args: dict[str, object] = {"levels": (1, 4), "n": 40, "seed": 1, "slo": {"ttft_p50_ms": 500}}
    return write_synthetic_run(root, **{**args, **kwargs})  # type: ignore[arg-type]


def test_save_list_and_compare_against_a_name(cli: Cli, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "results")
    root = tmp_path / "baselines"
    code, out, _ = cli("baseline", "save", "nightly", str(tmp_path / "results"), "--baselines", str(root))
    assert code == 0 and "saved baseline 'nightly'" in out and "240 requests" in out
    files = sorted(p.name for p in (root / "nightly").iterdir())
    assert files == ["baseline.json", "samples.csv"]
    size = sum(p.stat().st_size for p in (root / "nightly").iterdir())
    assert size < 0.5 * (run_dir / "requests.jsonl").stat().st_size  # small: no texts, lists or messages

    code, out, _ = cli("baseline", "list", "--baselines", str(root))
    assert code == 0 and "nightly" in out and "synthetic" in out and "yes" in out

    code, out, _ = cli("compare", "nightly", str(run_dir), "--baselines", str(root))
    assert code == 0 and "baseline 'nightly'" in out
    code, _, err = cli("baseline", "save", "nightly", str(run_dir), "--baselines", str(root))
    assert code == 2 and "already exists" in err
    code, _, _ = cli("baseline", "save", "nightly", str(run_dir), "--baselines", str(root), "--force")
    assert code == 0


def test_a_baseline_keeps_what_the_gate_needs(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "results", error_share=0.1)
    info = save_baseline("b1", run_dir, root=tmp_path / "baselines")
    assert info.requests == 240 and info.emulated is True and info.fingerprint == "0123456789abcdef+fast"
    run_side = load_side(str(run_dir))
    base_side = load_side("b1", root=tmp_path / "baselines")
    assert base_side.info.kind == "baseline" and base_side.info.fingerprint == run_side.info.fingerprint
    a, b = aggregate(run_side.frame, ci=False), aggregate(base_side.frame, ci=False)
    for column in ("n", "errors", "ttft_ms_p50", "ttft_ms_p99", "output_tps_p50", "e2e_ms_p90"):
        assert a[column].to_numpy() == pytest.approx(b[column].to_numpy(), rel=1e-5), column
    doc = json.loads((tmp_path / "baselines" / "b1" / "baseline.json").read_text(encoding="utf-8"))
    assert doc["format"] == "bench-baseline/1" and doc["run"]["scenario"]["slo"] == {"ttft_p50_ms": 500}
    assert len(doc["aggregates"]) == 6 and "ttft_ms_p50" in doc["aggregates"][0]
    # The same directory given as a path works too.
    assert load_side(str(tmp_path / "baselines" / "b1")).info.kind == "baseline"


def test_bad_names_and_sources(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="bad baseline name"):
        save_baseline("../escape", tmp_path, root=tmp_path / "b")
    with pytest.raises(BenchError, match="no such run directory"):
        save_baseline("ok", tmp_path / "missing", root=tmp_path / "b")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BenchError, match="no measured requests"):
        save_baseline("ok", empty, root=tmp_path / "b")
    assert list_baselines(tmp_path / "nothing-here") == []


def test_unreadable_baselines_are_bad_input(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "baselines"
    bad = root / "bad"
    bad.mkdir(parents=True)
    (bad / "baseline.json").write_text('{"format": "other"}', encoding="utf-8")
    (bad / "samples.csv").write_text("target\n", encoding="utf-8")
    code, _, err = cli("baseline", "list", "--baselines", str(root))
    assert code == 2 and "not a bench baseline" in err
    (bad / "baseline.json").write_text("{", encoding="utf-8")
    code, _, err = cli("check", "bad", "--baselines", str(root))
    assert code == 2 and "unreadable baseline" in err
    code, out, _ = cli("baseline", "list", "--baselines", str(tmp_path / "none"))
    assert code == 0 and "no baselines" in out
