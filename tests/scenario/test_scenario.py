"""Every way a scenario file can be wrong: one message naming file, field and problem; exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ScenarioError
from bench.scenario.model import load_scenario

REPO = Path(__file__).resolve().parents[2]


def _error(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "scenarios").glob("*.toml")))
def test_shipped_scenarios_validate(name: str) -> None:
    scenario = load_scenario(REPO / "scenarios" / name)
    assert scenario.target


def test_design_example_is_accepted_as_written(write_scenario) -> None:
    # The scenario example, verbatim but for the comments.
    path = write_scenario(
        """
        [scenario]
        name = "groq-vs-peers"
        description = "Short chat turns, streaming"

        [[target]]
        provider = "groq"
        model = "openai/gpt-oss-120b"

        [[target]]
        provider = "openai-compatible"
        model = "my-model"
        base_url = "http://127.0.0.1:8000/v1"
        api_key_env = "MY_SERVER_KEY"

        [target.emulator]
        ttft_ms = 80
        tokens_per_s = 600
        jitter = 0.1
        faults = { rate_limited = 0.05, stream_interrupted = 0.02 }

        [request]
        stream = true
        max_tokens = 256
        temperature = 0.0
        max_retries = 0

        [prompts]
        source = "synthetic"
        input_tokens = 128
        seed = 42

        [load]
        concurrency = [1, 4, 16]
        requests = 50
        warmup = 3
        timeout_s = 60

        [slo]
        ttft_p50_ms = 100
        output_tps_p50 = 500
        response_100_ms_p50 = 500
        error_rate_max = 0.01
        request_ttft_ms = 200
        request_output_tps = 300
        """
    )
    scenario = load_scenario(path)
    assert [t.name for t in scenario.target] == ["groq/openai/gpt-oss-120b", "openai-compatible/my-model"]
    assert scenario.target[1].emulator.faults == {"rate_limited": 0.05, "stream_interrupted": 0.02}
    assert scenario.load.mode == "concurrency" and scenario.load.levels == [1.0, 4.0, 16.0]
    spec = scenario.slo_spec
    assert {r.column for r in spec.aggregate} == {"ttft_ms", "output_tps", "response_100_ms"}
    assert {r.column for r in spec.per_request} == {"ttft_ms", "output_tps"}
    assert spec.error_rate_max == 0.01
    assert scenario.target[0].key_env == "GROQ_API_KEY"
    assert scenario.target[1].key_env == "MY_SERVER_KEY"


def test_missing_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "nope.toml")
    assert "nope.toml" in str(err) and "no such file" in str(err)


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in str(_error(tmp_path))


def test_toml_that_does_not_parse(write_scenario) -> None:
    err = _error(write_scenario("[scenario\nname = 1\n"))
    assert "not valid TOML" in str(err) and "line 1" in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert "UTF-8" in str(_error(path))


@pytest.mark.parametrize(
    ("replace", "field", "problem"),
    [
        ('model = "openai/gpt-oss-20b"', "target[0].model", "required field is missing"),
        ("requests = 2", "load", "requests = N"),
        ("max_tokens = 16", "request.max_tokens", "greater than or equal to 1"),
    ],
)
def test_missing_or_out_of_range(write_scenario, replace: str, field: str, problem: str) -> None:
    from tests.conftest import MINIMAL

    new = {"requests = 2": "", 'model = "openai/gpt-oss-20b"': "", "max_tokens = 16": "max_tokens = 0"}[replace]
    err = _error(write_scenario(MINIMAL.replace(replace, new)))
    assert err.field == field, str(err)
    assert problem in err.problem
    assert str(err).startswith(str(err.path) + ": " + field)


def test_mistyped_value(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL.replace("requests = 2", 'requests = "many"')))
    assert err.field == "load.requests" and "integer" in err.problem


def test_unknown_key_suggests_nearest(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL.replace("max_tokens = 16", "max_token = 16")))
    assert err.field == "request.max_token"
    assert "did you mean 'max_tokens'" in err.problem


def test_unknown_top_level_table(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL + "\n[lod]\nx = 1\n"))
    assert err.field == "lod" and "did you mean 'load'" in err.problem


def test_targets_instead_of_target(write_scenario) -> None:
    err = _error(write_scenario('[[targets]]\nprovider = "groq"\nmodel = "x"\n[load]\nconcurrency = [1]\nrequests = 1\n'))
    assert err.field == "targets" and "'target'" in err.problem


def test_unknown_provider(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL.replace('provider = "groq"', 'provider = "grok"')))
    assert err.field == "target[0].provider"
    assert "unknown provider 'grok'" in err.problem and "did you mean 'groq'" in err.problem


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://x/v1", "http://", "http://host:99999/v1"])
def test_malformed_base_url(write_scenario, url: str) -> None:
    from tests.conftest import MINIMAL

    text = MINIMAL.replace('provider = "groq"', f'provider = "openai-compatible"\nbase_url = "{url}"')
    err = _error(write_scenario(text))
    assert err.field == "target[0].base_url", str(err)


def test_openai_compatible_needs_base_url(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL.replace('provider = "groq"', 'provider = "openai-compatible"')))
    assert err.field == "target[0].base_url" and "required" in err.problem


def test_both_load_modes(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL.replace("concurrency = [1]", "concurrency = [1]\nrate = [2.0]")))
    assert err.field == "load" and "exactly one" in err.problem


def test_duplicate_labels(write_scenario) -> None:
    from tests.conftest import MINIMAL

    text = MINIMAL.replace("[request]", '[[target]]\nprovider = "groq"\nmodel = "openai/gpt-oss-20b"\n\n[request]')
    err = _error(write_scenario(text))
    assert err.field == "target" and "unique label" in err.problem


def test_unknown_slo_key(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL + "\n[slo]\nttft_p50_msec = 100\n"))
    assert err.field == "slo.ttft_p50_msec" and "unknown SLO key" in err.problem and "ttft_p50_ms" in err.problem


def test_unknown_fault(write_scenario) -> None:
    from tests.conftest import MINIMAL

    text = MINIMAL.replace("[request]", "[target.emulator]\nfaults = { rate_limit = 0.1 }\n\n[request]")
    err = _error(write_scenario(text))
    assert err.field == "target[0].emulator.faults" and "did you mean 'rate_limited'" in err.problem


def test_prompt_file_errors(write_scenario, tmp_path: Path) -> None:
    from tests.conftest import MINIMAL

    base = MINIMAL + '\n[prompts]\nsource = "file"\npath = "prompts.jsonl"\n'
    err = _error(write_scenario(base))
    assert err.field == "prompts.path" and "no such file" in err.problem
    (tmp_path / "prompts.jsonl").write_text('[{"role": "user", "content": "hi"}]\n{"oops": 1}\n')
    err = _error(write_scenario(base))
    assert "prompts.jsonl:2" in err.problem
    (tmp_path / "prompts.jsonl").write_text('[{"role": "user", "content": "hi"}]\nnot json\n')
    assert "not valid JSON" in _error(write_scenario(base)).problem
    (tmp_path / "prompts.jsonl").write_text('[{"role": "user", "content": "hi"}]\n\n')
    assert load_scenario(write_scenario(base)).prompts.source == "file"


def test_scalar_levels_and_fingerprint(write_scenario) -> None:
    from tests.conftest import MINIMAL

    a = load_scenario(write_scenario(MINIMAL.replace("concurrency = [1]", "concurrency = 4")))
    assert a.load.levels == [4.0]
    b = load_scenario(write_scenario(MINIMAL.replace("requests = 2", "requests = 200"), name="b.toml"))
    c = load_scenario(write_scenario(MINIMAL.replace("max_tokens = 16", "max_tokens = 17"), name="c.toml"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    "text",
    [
        "[[target]]\nprovider = 'groq'\nmodel = 'm'\n[load]\nconcurrency = [1]\nrequests = 1\n[slo]\nerror_rate_max = 2\n",
        "[[target]]\nprovider = 'groq'\nmodel = 'm'\n[load]\nconcurrency = [1]\nrequests = 1\n[slo]\nttft_p50_ms = 'fast'\n",
        "[[target]]\nprovider = 'groq'\nmodel = 'm'\n[load]\nconcurrency = [1]\nrequests = 1\nduration_s = 5\n",
        "[[target]]\nprovider = 'groq'\nmodel = 'm'\n[load]\nconcurrency = []\nrequests = 1\n",
        "[[target]]\nprovider = 'groq'\nmodel = 'm'\n[load]\nconcurrency = [0]\nrequests = 1\n",
        "[load]\nconcurrency = [1]\nrequests = 1\n",
        "target = 'groq'\n[load]\nconcurrency = [1]\nrequests = 1\n",
    ],
)
def test_more_bad_files_give_one_line(write_scenario, text: str) -> None:
    err = _error(write_scenario(text))
    assert "\n" not in str(err) and str(err).startswith(str(err.path))


def test_cli_validate_exit_codes(cli, write_scenario, tmp_path: Path) -> None:
    code, out, _ = cli("validate", str(write_scenario()))
    assert code == 0 and "ok" in out
    code, out, err = cli("validate", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml" in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("replace", "new", "field"),
    [
        ("max_tokens = 16", 'max_tokens = "16"', "request.max_tokens"),
        ("max_tokens = 16", "max_tokens = true", "request.max_tokens"),
        ("max_tokens = 16", 'stream = "yes"', "request.stream"),
        ("concurrency = [1]", "concurrency = [true]", "load.concurrency[0]"),
        ("concurrency = [1]", "concurrency = [1, 1]", "load.concurrency"),
        ('model = "openai/gpt-oss-20b"', 'model = "m"\napi_key_env = "MY KEY"', "target[0].api_key_env"),
    ],
)
def test_wrong_types_are_not_coerced(write_scenario, replace: str, new: str, field: str) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL.replace(replace, new)))
    assert err.field == field, str(err)


def test_a_pasted_key_is_refused_and_never_echoed(write_scenario) -> None:
    from tests.conftest import MINIMAL

    key = "gsk_PASTEDkey0123456789abcdefghijklmn"
    err = _error(write_scenario(MINIMAL.replace('model = "openai/gpt-oss-20b"', f'model = "m"\napi_key_env = "{key}"')))
    assert err.field == "target[0].api_key_env" and "looks like an API key" in err.problem
    assert key not in str(err) and key[4:20] not in str(err)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    from tests.conftest import MINIMAL

    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_scenario(path).name == "t"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('[{"role": "robot", "content": "hi"}]', "role 'robot'"),
        ('[{"role": "user", "content": 5}]', "content must be"),
        ('[{"role": "user", "content": "  "}]', "content is empty"),
        ('[{"role": "system", "content": "be brief"}]', "no user message"),
    ],
)
def test_prompt_messages_a_provider_would_reject(write_scenario, tmp_path: Path, line: str, problem: str) -> None:
    from tests.conftest import MINIMAL

    (tmp_path / "p.jsonl").write_text(line + "\n")
    err = _error(write_scenario(MINIMAL + '\n[prompts]\nsource = "file"\npath = "p.jsonl"\n'))
    assert err.field == "prompts.path" and "p.jsonl:1" in err.problem and problem in err.problem


def test_prompt_path_that_is_a_directory(write_scenario, tmp_path: Path) -> None:
    from tests.conftest import MINIMAL

    (tmp_path / "sub").mkdir()
    err = _error(write_scenario(MINIMAL + '\n[prompts]\nsource = "file"\npath = "sub"\n'))
    assert "is a directory" in err.problem


# --------------------------------------------------------------------------- SLOs that can be judged

NO_STREAM = """
[[target]]
provider = "groq"
model = "m"

[request]
stream = false

[load]
concurrency = [1]
requests = 1
"""


@pytest.mark.parametrize(
    "key", ["ttft_p50_ms", "ttfa_p90_ms", "tpot_p50_ms", "output_tps_p50", "response_100_ms_p50", "request_ttft_ms"]
)
def test_a_streaming_only_slo_is_refused_without_streaming(write_scenario, key: str) -> None:
    err = _error(write_scenario(NO_STREAM + f"\n[slo]\n{key} = 100\n"))
    assert err.field == f"slo.{key}"
    assert "stream = false" in err.problem and "never be judged" in err.problem


def test_a_targets_own_streaming_slo_is_refused_too(write_scenario) -> None:
    text = NO_STREAM.replace('model = "m"\n', 'model = "m"\n\n[target.slo]\noutput_tps_p50 = 400\n', 1)
    err = _error(write_scenario(text))
    assert err.field == "target[0].slo.output_tps_p50" and "stream = false" in err.problem


def test_without_streaming_e2e_and_error_rate_slos_are_fine(write_scenario) -> None:
    scenario = load_scenario(write_scenario(NO_STREAM + "\n[slo]\ne2e_p50_ms = 2000\nerror_rate_max = 0.1\n"))
    assert scenario.slo == {"e2e_p50_ms": 2000, "error_rate_max": 0.1}


def test_a_start_lag_slo_needs_open_loop(write_scenario) -> None:
    from tests.conftest import MINIMAL

    err = _error(write_scenario(MINIMAL + "\n[slo]\nstart_lag_p99_ms = 50\n"))
    assert err.field == "slo.start_lag_p99_ms" and "open loop" in err.problem


def test_validate_refuses_an_slo_without_data_in_one_line(cli, write_scenario) -> None:
    path = write_scenario(NO_STREAM + "\n[slo]\nttft_p50_ms = 100\n")
    code, out, err = cli("validate", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"bench: error: {path}: slo.ttft_p50_ms: ") and err.count("\n") == 1


def test_target_slo_tables(write_scenario) -> None:
    from tests.conftest import MINIMAL

    text = MINIMAL.replace(
        'model = "openai/gpt-oss-20b"\n', 'model = "openai/gpt-oss-20b"\n\n[target.slo]\nttft_p50_ms = 80\n', 1
    )
    scenario = load_scenario(write_scenario(text + "\n[slo]\nttft_p50_ms = 300\nerror_rate_max = 0.01\n"))
    spec = scenario.slo_spec
    groq = spec.for_target("groq/openai/gpt-oss-20b")
    assert [r.threshold for r in groq.aggregate] == [80.0] and groq.error_rate_max == 0.01  # overrides, and extends
    assert [r.threshold for r in spec.for_target("other").aggregate] == [300.0]
    assert scenario.resolved()["targets"][0]["slo"] == {"ttft_p50_ms": 80}

    err = _error(write_scenario(text.replace("ttft_p50_ms = 80", "ttft_p50_msec = 80")))
    assert err.field == "target[0].slo.ttft_p50_msec" and "unknown SLO key" in err.problem and "ttft_p50_ms" in err.problem
    err = _error(write_scenario(text.replace("ttft_p50_ms = 80", "error_rate_max = 3")))
    assert err.field == "target[0].slo.error_rate_max" and "between 0 and 1" in err.problem


def test_quickstart_groq_slos_apply_to_groq_only() -> None:
    scenario = load_scenario(REPO / "scenarios" / "quickstart.toml")
    spec = scenario.slo_spec
    assert {r.column for r in spec.for_target("groq/gpt-oss-120b").aggregate} == {"ttft_ms", "output_tps", "response_100_ms"}
    for label in ("openai/gpt-4.1", "anthropic/claude-haiku-5-5"):
        assert spec.for_target(label).aggregate == () and spec.for_target(label).error_rate_max == 0.01
