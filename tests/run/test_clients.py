"""Client paths as a user meets them: the lean client by default, the SDK on request, both in one
run as a dimension of their own (one group per client), the client in the fingerprint and in
the gate's idea of a group, and the report's "What the SDK costs".

Runs go through the emulator over loopback with the real SDKs, as the other end-to-end tests do.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.bootstrap import quantile_difference_ci, ratio_difference_ci
from bench.analysis.metrics import GroupKey, aggregate, group_positions, judge_slos
from bench.analysis.sdk_cost import sdk_costs
from bench.campaigns.sweep import check_sweepable
from bench.errors import BenchError, ScenarioError
from bench.gate.baseline import load_side, save_baseline
from bench.gate.compare import CompareSettings, compare_sides
from bench.report.data import build
from bench.report.markdown import render_markdown
from bench.report.summary import notes, summary_table
from bench.results.health import LevelHealth
from bench.results.run_file import read_run_meta, split_fingerprint, write_run_meta
from bench.run.runner import run_scenario
from bench.scenario.model import DEFAULT_CLIENT, load_scenario, parse_scenario
from bench.scenario.slo import slo_from_table
from tests.synthetic import synthetic_frame, write_synthetic_run

Cli = Callable[..., tuple[int, str, str]]
TARGETS = ("groq/llama-3.3-70b-versatile", "openai/gpt-4-turbo")
FAST_PROFILE = "[target.emulator]\nttft_ms = 15\ntokens_per_s = 2000\njitter = 0.05\n"


def _raw(client: object = None, retries: int = 0) -> dict[str, object]:
    target: dict[str, object] = {"provider": "groq", "model": "m"}
    if client is not None:
        target["client"] = client
    return {"target": [target], "request": {"max_retries": retries}, "load": {"concurrency": [1], "requests": 2}}


def _emulated(tmp_path: Path, client: str = "", requests: int = 6, levels: str = "[1, 2]", slo: str = "") -> Path:
    line = f"client = {client}\n" if client else ""
    path = tmp_path / "s.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [scenario]
            name = "clients"
            emulate = true
            [[target]]
            provider = "groq"
            model = "llama-3.1-8b-instant"
            label = "groq/8b"
            {line}"""
        )
        + FAST_PROFILE
        + f"[request]\nmax_tokens = 16\n[load]\nconcurrency = {levels}\nrequests = {requests}\nwarmup = 1\ntimeout_s = 10\n"
        + slo
    )
    return path


# --------------------------------------------------------------------------- the default and the scenario field


def test_the_lean_client_is_the_default_and_the_sdk_is_asked_for() -> None:
    assert DEFAULT_CLIENT == "fast"
    assert parse_scenario(_raw(), "s.toml").target[0].clients == ("fast",)
    assert parse_scenario(_raw("sdk"), "s.toml").target[0].clients == ("sdk",)
    assert parse_scenario(_raw(["fast", "sdk"]), "s.toml").target[0].clients == ("fast", "sdk")
    assert parse_scenario(_raw(["sdk", "fast"]), "s.toml").target[0].clients == ("sdk", "fast")  # the order they run in


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ("fast,sdk", 'write several clients as a list, client = ["fast", "sdk"]'),
        ("sdkk", "unknown client 'sdkk' (did you mean 'sdk'?)"),
        (["fast", "fast"], "a client appears twice"),
        ([], 'expected "fast" or "sdk", or a list of them'),
        (1, "(got int 1)"),
    ],
)
def test_a_bad_client_is_one_line_naming_the_field(client: object, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_raw(client), "s.toml")
    assert str(info.value).startswith("s.toml: target[0].client: ") and message in str(info.value)


def test_the_client_is_part_of_the_fingerprint_and_old_fingerprints_still_read() -> None:
    fast, sdk, both = (parse_scenario(_raw(c), "s.toml").fingerprint() for c in ("fast", "sdk", ["fast", "sdk"]))
    assert len({fast, sdk, both}) == 3
    assert fast.endswith("+fast") and sdk.endswith("+sdk") and both.endswith("+fast,sdk")
    assert len({split_fingerprint(f)[0] for f in (fast, sdk, both)}) == 1  # same request shape
    assert split_fingerprint(both) == (fast.split("+")[0], ("fast", "sdk"))
    assert split_fingerprint("eab116b6efd3f68c") == ("eab116b6efd3f68c", None)  # recorded before the client was in it


def test_a_sweep_asks_for_one_client(tmp_path: Path) -> None:
    raw = _raw(["fast", "sdk"])
    raw["slo"] = {"ttft_p50_ms": 100}
    scenario = parse_scenario(raw, "s.toml")
    with pytest.raises(BenchError, match="pick it with --client fast or --client sdk"):
        check_sweepable(scenario, None)
    assert check_sweepable(scenario, None, "sdk") == ["groq/m"]
    retrying = parse_scenario({**raw, "request": {"max_retries": 2}}, "s.toml")
    assert check_sweepable(retrying, None, "fast") == ["groq/m"]  # both client paths retry alike


# --------------------------------------------------------------------------- runs through the emulator


def test_a_run_without_a_client_is_measured_by_the_lean_client_and_says_so(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(_emulated(tmp_path, requests=2, levels="[1]")), out=tmp_path / "r")
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["client"] == "fast" and meta["fingerprint"].endswith("+fast")
    assert [t["client"] for t in meta["scenario"]["targets"]] == ["fast"]
    assert (result.frame["client"] == "fast").all()
    assert {level["client"] for level in meta["client_health"]["levels"]} == {"fast"}
    text = render_markdown(build([result.run_dir]), {})
    assert "| client path " in text and "fast (bench's lean HTTP client, the default" in text
    assert "(sdk)" not in text and "## What the SDK costs" not in text


def test_client_sdk_measures_through_the_sdk_and_names_it(cli: Cli, tmp_path: Path) -> None:
    path = _emulated(tmp_path, requests=2, levels="[1]")
    code, out, err = cli("run", str(path), "--out", str(tmp_path / "r"), "--client", "sdk", "-q", "--no-report")
    assert code == 0, out + err
    (run_dir,) = (tmp_path / "r").iterdir()
    meta = read_run_meta(run_dir)
    assert meta.client == "sdk" and meta.fingerprint is not None and meta.fingerprint.endswith("+sdk")
    assert "groq/8b (sdk)" in out  # the summary names the path that measured
    assert 'client = "sdk"' in (run_dir / "scenario.toml").read_text()  # repeatable as it ran
    assert "sdk (each provider's official SDK" in render_markdown(build([run_dir]), {})


def test_both_clients_in_one_run_are_a_dimension_like_the_load_level(cli: Cli, tmp_path: Path) -> None:
    path = _emulated(tmp_path, requests=8, slo="[slo]\nttft_p50_ms = 5000\n")
    code, out, err = cli("run", str(path), "--out", str(tmp_path / "r"), "--client", "fast,sdk", "-q")
    assert code == 0, out + err
    (run_dir,) = (tmp_path / "r").iterdir()
    meta = read_run_meta(run_dir)
    assert meta.client == "fast,sdk" and meta.fingerprint is not None and meta.fingerprint.endswith("+fast,sdk")
    frame = pd.read_json(run_dir / "requests.jsonl", lines=True)
    # One after the other within each level, never side by side: every lean request of a level
    # ends before the first SDK request of that level starts, and the next level starts after.
    spans = []
    for level in (1.0, 2.0):
        for client in ("fast", "sdk"):
            rows = frame[(frame["load_level"] == level) & (frame["client"] == client)]
            assert len(rows) == 9  # 8 measured + 1 warm-up each
            spans.append((rows["started_at_ns"].min(), (rows["started_at_ns"] + rows["e2e_ms"] * 1e6).max()))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    # One group per client and level, everywhere groups are made.
    from bench.results.records import load_results

    loaded = load_results(run_dir)
    keys = [key for key, _ in group_positions(loaded[~loaded["warmup"]])]
    assert keys == [
        GroupKey("groq/8b", "concurrency", 1.0, "fast"),
        GroupKey("groq/8b", "concurrency", 1.0, "sdk"),
        GroupKey("groq/8b", "concurrency", 2.0, "fast"),
        GroupKey("groq/8b", "concurrency", 2.0, "sdk"),
    ]
    assert aggregate(loaded, ci=False)["client"].tolist() == ["fast", "sdk", "fast", "sdk"]
    assert [level.client for level in meta.client_health.levels] == ["fast", "sdk", "fast", "sdk"]  # type: ignore[union-attr]
    assert all(level.cpu_slices_s and level.chunk_slices for level in meta.client_health.levels)  # type: ignore[union-attr]
    # The summary: one row per client, the SDK's named; SLO verdicts per client.
    rows = [line for line in out.splitlines() if "groq/8b" in line and "concurrency " in line]
    assert len(rows) == 4 and sum("groq/8b (sdk)" in line for line in rows) == 2
    outcome = judge_slos(loaded, slo_from_table({"ttft_p50_ms": 5000}))
    assert [v.group for v in outcome.verdicts] == keys
    # The report: the SDK's cost per level, and which clients measured.
    text = (run_dir / "report" / "README.md").read_text()
    section = text.split("## What the SDK costs", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| groq/8b")]
    assert len(table) == 2 and "concurrency 1" in table[0] and "concurrency 2" in table[1]
    assert all(line.count(" → ") == 4 for line in table)  # TTFT p50, p99, inter-token, CPU per chunk
    assert "fast and sdk for every target, one after the other within each load level" in text
    assert "groq/8b (sdk)" in text.split("## Headline", 1)[1].split("\n## ", 1)[0]


def test_each_client_of_a_target_sends_its_own_prompts(tmp_path: Path) -> None:
    """A provider's prompt cache must not favour the client that runs second; a target with one
    client keeps the prompts it always had."""
    from dataclasses import replace

    from bench.run.level import LevelJob, prompt_key

    both = LevelJob("run", load_scenario(_emulated(tmp_path, client='["fast", "sdk"]')), 0, 1.0, None, None, True)
    keys = {prompt_key(replace(both, client=c)) for c in ("fast", "sdk")}
    assert len(keys) == 2
    one = LevelJob("run", load_scenario(_emulated(tmp_path, client='"sdk"')), 0, 1.0, None, None, True, client="sdk")
    assert prompt_key(one) == "run:0:1.0"


# --------------------------------------------------------------------------- the gate


def _two(tmp_path: Path, base_client: object, cand_client: object, **kw: object) -> tuple[Path, Path]:
    args: dict[str, object] = {"targets": TARGETS, "levels": (1, 4), "n": 40}
    args.update(kw)
    base = write_synthetic_run(tmp_path / "b", run_id="20260925-100000-base-0000", seed=1, client=base_client, **args)  # type: ignore[arg-type]
    cand = write_synthetic_run(tmp_path / "c", run_id="20260925-100001-cand-0000", seed=2, client=cand_client, **args)  # type: ignore[arg-type]
    return base, cand


def test_compare_refuses_runs_measured_by_different_clients(cli: Cli, tmp_path: Path) -> None:
    base, cand = _two(tmp_path, "sdk", "fast")
    code, out, err = cli("compare", str(base), str(cand))
    assert code == 2 and out == ""
    assert err.strip() == (
        "bench: error: runs are not comparable: measured by different clients (sdk in the baseline, fast in the "
        "candidate) (--force compares anyway)"
    )
    code, out, err = cli("compare", str(base), str(cand), "--force")
    assert code in (0, 1), err
    assert "compared with --force although measured by different clients" in out + err
    assert "No regression" in out or "REGRESSION" in out  # the groups were matched across the clients


def test_an_old_sdk_baseline_compares_with_an_sdk_run_and_not_with_the_default(tmp_path: Path) -> None:
    """Runs and baselines recorded before the client was in the fingerprint (SDK by default then)."""
    old = write_synthetic_run(
        tmp_path / "old", run_id="20260901-100000-old-0000", targets=TARGETS, levels=(1,), n=40, client="sdk"
    )
    meta = read_run_meta(old).to_json()
    meta["fingerprint"] = "0123456789abcdef"  # the digest alone, as then
    write_run_meta(old, meta)
    save_baseline("old", old, root=tmp_path / "baselines")
    samples = tmp_path / "baselines" / "old" / "samples.csv"
    table = pd.read_csv(samples).drop(columns=["client"])  # samples did not keep the client then
    table.to_csv(samples, index=False, lineterminator="\n")
    baseline = load_side("old", root=tmp_path / "baselines")
    assert set(baseline.frame["client"]) == {"sdk"}  # from the saved run.json
    for client, comparable in (("sdk", True), ("fast", False)):
        run_dir = write_synthetic_run(
            tmp_path / client, run_id=f"20261201-100000-{client}-0000", targets=TARGETS, levels=(1,), n=40, client=client
        )
        if comparable:
            comparison = compare_sides(baseline, load_side(str(run_dir)))
            assert comparison.judged == 6 and not comparison.notes
        else:
            with pytest.raises(BenchError, match="measured by different clients"):
                compare_sides(baseline, load_side(str(run_dir)))


def test_the_gate_keys_groups_by_client(tmp_path: Path) -> None:
    base, cand = _two(tmp_path, ("fast", "sdk"), ("fast", "sdk"), levels=(1,), sdk_ttft_scale=1.6)
    comparison = compare_sides(load_side(str(base)), load_side(str(cand)), CompareSettings(metrics=("ttft_ms",)))
    assert {(c.target, c.client) for c in comparison.metrics} == {(t, c) for t in TARGETS for c in ("fast", "sdk")}
    assert comparison.judged == 8 and not comparison.regressions  # the SDK's slower figures met their own kind
    # A lean-only candidate against a baseline with both: the shared client's groups are compared, the rest named.
    lean = write_synthetic_run(tmp_path / "l", run_id="20260925-100002-lean-0000", targets=TARGETS, levels=(1,), n=40, seed=3)
    partial = compare_sides(load_side(str(base)), load_side(str(lean)))
    assert {k.client for k in partial.only_in_baseline} == {"sdk"} and partial.inconclusive
    assert "groq/llama-3.3-70b-versatile (sdk) @ concurrency 1" in " ".join(partial.warnings)


# --------------------------------------------------------------------------- what the SDK costs


def _health(target: str, client: str, cpu_us: float, n: int = 30) -> LevelHealth:
    rng = np.random.default_rng(len(client))
    chunks = tuple(int(c) for c in rng.integers(180, 220, n))
    cpu = tuple(c * cpu_us / 1e6 * float(rng.uniform(0.9, 1.1)) for c in chunks)
    return LevelHealth(
        target, "concurrency", 1.0, 0, 3.0, 0.3, 0.1, 0.5, 1.0, 2000.0, 50.0, 60.0, 20.0, 10, 12, 10, 60, 1,
        client=client, cpu_slices_s=cpu, chunk_slices=chunks,
    )  # fmt: skip


def test_sdk_costs_find_a_real_difference_and_not_a_false_one() -> None:
    lean = synthetic_frame(targets=TARGETS[:1], n=200, seed=1, client="fast")
    slower = synthetic_frame(targets=TARGETS[:1], n=200, seed=2, client="sdk", ttft_scale=1.3)
    same = synthetic_frame(targets=TARGETS[:1], n=200, seed=3, client="sdk")
    health = [_health(TARGETS[0], "fast", 12.0), _health(TARGETS[0], "sdk", 170.0)]
    (cost,) = sdk_costs(pd.concat([lean, slower], ignore_index=True), health)
    assert cost.target == TARGETS[0] and cost.n_lean == cost.n_sdk == 200
    assert cost.ttft_p50_ms.firm and cost.ttft_p50_ms.change > 0 and cost.ttft_p50_ms.ci_low > 0
    assert cost.cpu_us_per_chunk is not None and cost.cpu_us_per_chunk.firm
    assert 150 < cost.cpu_us_per_chunk.change < 165 and cost.cpu_us_per_chunk.ci_low < 158 < cost.cpu_us_per_chunk.ci_high
    (no_cost,) = sdk_costs(pd.concat([lean, same], ignore_index=True))
    assert not no_cost.ttft_p50_ms.firm and no_cost.ttft_p50_ms.ci_low < 0 < no_cost.ttft_p50_ms.ci_high
    assert not no_cost.itl_mean_ms.firm
    assert no_cost.cpu_us_per_chunk is None  # no health slices: no figure, never a made-up one
    assert sdk_costs(lean) == []  # one client: nothing to compare


def test_sdk_costs_read_an_interleaved_levels_one_sample_for_each_of_its_targets() -> None:
    """Interleaved, one health sample covers every target that ran the level with that client."""
    frames = [synthetic_frame(targets=TARGETS[:2], n=100, seed=s, client=c) for s, c in ((1, "fast"), (2, "sdk"))]
    both = " + ".join(TARGETS[:2])
    health = [
        replace(_health(both, "fast", 12.0), targets=tuple(TARGETS[:2])),
        replace(_health(both, "sdk", 170.0), targets=tuple(TARGETS[:2])),
    ]
    costs = sdk_costs(pd.concat(frames, ignore_index=True), health)
    assert [c.target for c in costs] == list(TARGETS[:2])
    for cost in costs:
        assert cost.cpu_us_per_chunk is not None and 150 < cost.cpu_us_per_chunk.change < 165


def test_difference_intervals_cover_a_known_shift() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(100, 10, 400), rng.normal(105, 10, 400)
    low, high = quantile_difference_ci(a, b, 0.5, seed=1)
    assert low < 5 < high and low > 0
    num_a, den_a = rng.uniform(90, 110, 60), np.full(60, 100.0)
    num_b, den_b = rng.uniform(140, 160, 60), np.full(60, 100.0)
    low, high = ratio_difference_ci((num_a, den_a), (num_b, den_b), seed=1)
    assert low < 0.5 < high and low > 0.4
    assert np.isnan(ratio_difference_ci((num_a[:1], den_a[:1]), (num_b, den_b))[0])


def test_the_summary_names_the_sdk_groups(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path, targets=TARGETS[:1], levels=(1,), n=20, client=("fast", "sdk"))
    from rich.console import Console

    from bench.results.records import load_results

    frame, meta = load_results(run_dir), read_run_meta(run_dir)
    console = Console(width=200, record=True)
    console.print(summary_table(frame, meta))
    text = console.export_text()
    assert f"{TARGETS[0]} (sdk)" in text and text.count(TARGETS[0]) == 2
    assert not [line for line in notes(frame, meta) if "saturated" in line]


def test_a_report_of_runs_by_different_clients_says_so(tmp_path: Path) -> None:
    base, cand = _two(tmp_path, "sdk", "fast", levels=(1,))
    text = render_markdown(build([base, cand]), {})
    assert "**Measured by different clients** (run 1: sdk; run 2: fast)" in text
    assert "The CI gate does not compare these runs: runs are not comparable: measured by different clients" in text
    same = write_synthetic_run(
        tmp_path / "s", run_id="20260925-100009-same-0000", targets=TARGETS, levels=(1,), n=40, client="sdk"
    )
    assert "All runs share one scenario fingerprint" in render_markdown(build([base, same]), {})
