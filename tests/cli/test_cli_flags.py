"""The command line as a new user meets it: one command to a first result, readable help.

Runs go through the built-in emulator over loopback, with the real SDKs.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

import bench
from bench import load_results
from bench.cli import app
from bench.emulator import start_emulator
from bench.scenario.model import load_scenario, parse_scenario
from bench.scenario.writer import scenario_to_toml

REPO = Path(__file__).resolve().parents[2]


def _run_dir(out: str) -> Path:
    return Path(out.split("results:")[1].split()[0])


@pytest.fixture(scope="module")
def emulator():  # type: ignore[no-untyped-def]
    with start_emulator(seed=3) as emu:
        yield emu


# --------------------------------------------------------------------------- item 14: flags-only runs


def test_flags_only_run_against_a_local_server(cli, emulator, tmp_path: Path) -> None:
    url = emulator.provider_base_url("openai")
    code, out, err = cli(
        "run",
        "--provider",
        "openai-compatible",
        "--model",
        "gpt-4.1",
        "--base-url",
        url,
        "--requests",
        "3",
        "--concurrency",
        "1,2",
        "--max-tokens",
        "12",
        "--input-tokens",
        "40",
        "--out",
        str(tmp_path),
        "--quiet",
        "--no-report",
    )
    assert code == 0, err
    run_dir = _run_dir(out)
    frame = load_results(run_dir)
    assert len(frame) == 6 and set(frame["load_level"]) == {1.0, 2.0} and (frame["status"] == "ok").all()
    assert set(frame["target"]) == {"openai-compatible/gpt-4.1"}
    # The run keeps its scenario; the same pydantic model reads it back as what ran.
    kept = load_scenario(run_dir / "scenario.toml")
    assert kept.target[0].base_url == url and kept.target[0].provider == "openai-compatible"
    assert kept.load.concurrency == [1, 2] and kept.load.requests == 3
    assert kept.request.max_tokens == 12 and kept.prompts.input_tokens == 40 and kept.request.stream is True


def test_the_kept_scenario_repeats_the_run(cli, emulator, tmp_path: Path) -> None:
    url = emulator.provider_base_url("openai")
    first = cli(
        "run",
        "--provider",
        "openai-compatible",
        "--model",
        "gpt-4.1",
        "--base-url",
        url,
        "--requests",
        "2",
        "--no-stream",
        "--out",
        str(tmp_path / "a"),
        "--quiet",
        "--no-report",
    )
    assert first[0] == 0, first[2]
    kept = _run_dir(first[1]) / "scenario.toml"
    again = cli("run", str(kept), "--out", str(tmp_path / "b"), "--quiet", "--no-report")
    assert again[0] == 0, again[2]
    a, b = load_results(_run_dir(first[1])), load_results(_run_dir(again[1]))
    assert len(a) == len(b) == 2 and not a["stream"].any() and not b["stream"].any()
    assert (_run_dir(again[1]) / "scenario.toml").read_text() == kept.read_text()


def test_flags_only_emulated_open_loop(cli, tmp_path: Path) -> None:
    code, out, err = cli(
        "run",
        "--provider",
        "groq",
        "--model",
        "openai/gpt-oss-20b",
        "--emulate",
        "--rate",
        "20",
        "--requests",
        "3",
        "--max-tokens",
        "8",
        "--out",
        str(tmp_path),
        "-q",
        "--no-report",
    )
    assert code == 0, err
    frame = load_results(_run_dir(out))
    assert len(frame) == 3 and set(frame["load_mode"]) == {"rate"} and (frame["status"] == "ok").all()
    kept = load_scenario(_run_dir(out) / "scenario.toml")
    assert kept.scenario.emulate is True and kept.load.rate == [20.0] and kept.name == "groq-openai-gpt-oss-20b"


def test_a_file_based_run_keeps_its_scenario_with_overrides_applied(cli, tmp_path: Path) -> None:
    code, out, err = cli(
        "run",
        str(REPO / "scenarios" / "quickstart.toml"),
        "--emulate",
        "--requests",
        "1",
        "--concurrency",
        "2",
        "--target",
        "groq/gpt-oss-120b",
        "--out",
        str(tmp_path),
        "-q",
        "--no-report",
    )
    assert code == 0, err
    kept = load_scenario(_run_dir(out) / "scenario.toml")
    assert kept.scenario.emulate is True and kept.load.requests == 1 and kept.load.concurrency == [2]
    assert [t.name for t in kept.target] == ["groq/gpt-oss-120b"] and kept.name == "quickstart"


def test_flags_only_errors_read_like_a_file_s(cli, tmp_path: Path) -> None:
    code, _, err = cli("run", "--provider", "openai-compatible", "--model", "m", "--out", str(tmp_path))
    assert code == 2 and "base_url" in err and "required" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("run", "--provider", "groq", "--out", str(tmp_path))
    assert code == 2 and "--model" in err
    code, _, err = cli("run")
    assert code == 2 and "--provider" in err and "scenario" in err
    code, _, err = cli("run", str(REPO / "scenarios" / "quickstart.toml"), "--provider", "groq", "--model", "m")
    assert code == 2 and "not both" in err
    code, _, err = cli("run", str(REPO / "scenarios" / "quickstart.toml"), "--max-tokens", "5", "--emulate")
    assert code == 2 and "--max-tokens" in err and "without a scenario file" in err
    code, out, err = cli("run", "--provider", "grok", "--model", "m")
    assert code == 2 and "grok" in err + out and "Traceback" not in err + out
    assert not any(tmp_path.iterdir())


def test_scenario_toml_round_trips_every_table(tmp_path: Path) -> None:
    raw = {
        "scenario": {"name": "rt", "description": 'quote " and ünïcode'},
        "target": [
            {
                "provider": "openai-compatible",
                "model": "m",
                "base_url": "http://127.0.0.1:9/v1",
                "label": "a",
                "emulator": {"ttft_ms": 50.0, "faults": {"rate_limited": 0.1, "timeout": 0.05, "server_error": 0.01}},
            },
            {"provider": "groq", "model": "openai/gpt-oss-20b"},
        ],
        "request": {"max_tokens": 9, "extra_body": {"ignore_eos": True, "nested": {"x": [1, 2]}}, "system": "be brief"},
        "prompts": {"input_tokens": 33, "seed": 5},
        "load": {"rate": [0.5, 2.0], "duration_s": 3.0, "warmup": 1},
        "slo": {"ttft_p50_ms": 100.0, "error_rate_max": 0.02},
        "report": {"reference": "groq-2024"},
    }
    scenario = parse_scenario(raw, "rt.toml")
    text = scenario_to_toml(scenario, emulate=True)
    again = parse_scenario(tomllib.loads(text), "again.toml")
    assert again.model_dump(exclude={"source_path", "scenario"}) == scenario.model_dump(exclude={"source_path", "scenario"})
    assert again.scenario.emulate is True and again.name == "rt"


def test_init_writes_a_scenario_that_validates_and_never_overwrites(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("init")
    assert code == 0 and (tmp_path / "scenario.toml").is_file() and "bench validate" in out
    assert cli("validate", "scenario.toml")[0] == 0
    text = (tmp_path / "scenario.toml").read_text()
    assert text.count("\n#") > 10  # commented
    (tmp_path / "mine.toml").write_text("keep me")
    code, _, err = cli("init", "mine.toml")
    assert code == 2 and "already exists" in err and (tmp_path / "mine.toml").read_text() == "keep me"
    code, _, _ = cli("init", "other.toml")
    assert code == 0 and cli("validate", "other.toml")[0] == 0


# --------------------------------------------------------------------------- item 15: version, help, models


def test_version(cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"bench {bench.__version__}"


def _help(cli, *args: str) -> str:  # type: ignore[no-untyped-def]
    code, out, err = cli(*args, "--help")
    assert code == 0, err
    return out


def test_help_shows_choices_and_flags_without_types(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = _help(cli, "run")
    assert (
        "--client" in text
        and "fast,sdk" in text
        and "<local|ray>" in text
        and "<groq|openai|anthropic|openai-compatible>" in text
    )
    assert "<bool>" not in text
    assert "'.[ray]'" in text  # rich markup must not eat the extra's name
    for command in ("report", "export", "compare", "check", "validate", "models", "emulate", "init"):
        assert "<bool>" not in _help(cli, command), command
    assert "<groq|openai|anthropic|openai-compatible>" in _help(cli, "models")


def _commands(group, prefix: str = ""):  # type: ignore[no-untyped-def]
    for name, command in getattr(group, "commands", {}).items():
        yield f"{prefix}{name}", command
        yield from _commands(command, f"{prefix}{name} ")


def test_a_short_flag_means_the_same_in_every_command() -> None:
    import typer.main

    root = typer.main.get_command(app)
    meaning: dict[str, set[str]] = {}
    for _, command in _commands(root):
        for param in command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts + param.secondary_opts if re.fullmatch(r"-[A-Za-z]", o)):
                meaning.setdefault(short, set()).update(longs)
    clashes = {short: longs for short, longs in meaning.items() if len(longs) > 1 and longs != {"--out", "--output"}}
    assert not clashes, clashes
    assert meaning["-T"] == {"--target"}


def test_models_lists_a_local_server(cli, emulator) -> None:
    code, out, err = cli("models", "openai-compatible", "--base-url", emulator.provider_base_url("openai"))
    assert code == 0, err
    assert "live models at" in out and "gpt-4.1" in out.split("live models at")[1]


def test_models_says_when_it_skipped_the_live_list(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("GROQ_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    code, out, _ = cli("models")
    assert code == 0 and "skipped" in out and "GROQ_API_KEY" in out and "ANTHROPIC_API_KEY" in out
    code, out, _ = cli("models", "openai-compatible")
    assert code == 0 and "--base-url" in out


# --------------------------------------------------------------------------- --order


def test_order_on_the_command_line_beats_the_file_and_is_kept(cli, tmp_path: Path) -> None:
    quickstart = str(REPO / "scenarios" / "quickstart.toml")
    base = ("run", quickstart, "--emulate", "--requests", "1", "--concurrency", "1", "-q", "--no-report")
    code, out, err = cli(*base, "--order", "sequential", "--out", str(tmp_path / "s"))
    assert code == 0, err
    run_dir = _run_dir(out)
    assert json.loads((run_dir / "run.json").read_text())["order"] == "sequential"
    kept = load_scenario(run_dir / "scenario.toml")
    assert kept.load.order == "sequential" and kept.order == "sequential"  # repeating the run repeats the order
    code, out, err = cli(*base, "--out", str(tmp_path / "i"))
    assert code == 0, err
    run_dir = _run_dir(out)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["order"] == "interleaved"  # several targets: side by side unless told otherwise
    assert [len(level["targets"]) for level in meta["client_health"]["levels"]] == [3]
    assert load_scenario(run_dir / "scenario.toml").load.order is None  # the default, left to apply again


def test_a_bad_order_is_refused_before_anything_runs(cli, tmp_path: Path) -> None:
    code, out, err = cli("run", str(REPO / "scenarios" / "quickstart.toml"), "--order", "sideways", "--out", str(tmp_path))
    assert code == 2 and "--order" in err + out and "interleaved" in err + out and "Traceback" not in err + out
    assert not any(tmp_path.iterdir())


def test_validate_says_the_order_of_several_targets(cli, tmp_path: Path) -> None:
    code, out, _ = cli("validate", str(REPO / "scenarios" / "quickstart.toml"))
    assert code == 0 and "  order: interleaved (each level run by every target side by side)" in out
    one = tmp_path / "one.toml"
    one.write_text('[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\n[load]\nconcurrency = [1]\nrequests = 1\n')
    code, out, _ = cli("validate", str(one))
    assert code == 0 and "  order:" not in out  # one target: nothing to order
