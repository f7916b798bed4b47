"""The shipped scenarios hold when run as a new user would (``--emulate``, the default client).

Their SLOs must be met by the emulator's profiles — the catalogue's published figures — with a
margin, so an emulated run that fails one says something (usually: the measuring client was
saturated), never "the bar sits exactly on the published median, a coin toss". Checked on
the emulator's own timing model (``bench.emulator.profiles``), not by timing a run here: the
run itself is ``python benchmarks/shipped_scenarios.py``.

``seed-2025.toml`` is left out on purpose: it replays the seed's claims as SLOs against the
catalogue's measured-class figures, and its failures are the finding it exists to show.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import pytest

from bench.analysis.metrics import stat_quantile
from bench.emulator.profiles import Override, Profile, resolve_profile
from bench.scenario.catalogue import load_catalogue
from bench.scenario.model import DEFAULT_CLIENT, Scenario, Target, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
#: Scenarios whose SLOs an emulated run must meet.
WITH_SLOS = ("quickstart.toml", "groq-vs-peers.toml", "open-loop.toml")
#: How far inside its bound a profile's figure must sit (a median over 10-50 requests, on a
#: busy 2-core machine, moves a few percent from run to run).
MARGIN = 0.05


def _profile(target: Target) -> Profile:
    """The profile the emulator serves this target with (as its server resolves it)."""
    catalogue = load_catalogue()
    provider = "openai" if target.provider == "openai-compatible" else target.provider
    info = catalogue.get(provider, target.model) or catalogue.default_profile(provider)
    own = target.emulator.model_dump(include={"ttft_ms", "tokens_per_s", "jitter", "empty_chunk_share"}, exclude_none=True)
    return resolve_profile(info, Override(**own))


def expected(profile: Profile, column: str, stat: str) -> float:
    """What the emulator's timing model gives for one SLO statistic (see bench/emulator/profiles.py)."""
    q = stat_quantile(column, stat)
    if q is None:
        raise AssertionError(f"no model for the mean of {column}: extend this test")
    z = NormalDist().inv_cdf(q)
    if column == "ttft_ms":
        return profile.ttft_ms * math.exp(profile.jitter * z)
    if column == "output_tps":
        return profile.tokens_per_s * math.exp(profile.jitter / 2 * z)
    if column == "response_100_ms" and stat == "p50":
        per_token_ms = 1000.0 / profile.tokens_per_s
        thinking = profile.reasoning_tokens * per_token_ms if profile.reasoning else 0.0
        return profile.ttft_ms + thinking + 100 * per_token_ms
    raise AssertionError(f"no model for {column} {stat}: extend this test")


def _load(name: str) -> Scenario:
    return load_scenario(SCENARIOS / name)


@pytest.mark.parametrize("name", WITH_SLOS)
def test_slos_are_met_by_the_emulated_profiles_with_a_margin(name: str) -> None:
    scenario = _load(name)
    checked = 0
    for target in scenario.target:
        profile = _profile(target)
        for rule in scenario.slo_spec.for_target(target.name).aggregate:
            value = expected(profile, rule.column, rule.stat)
            bound = rule.threshold * (1 + MARGIN) if rule.at_least else rule.threshold * (1 - MARGIN)
            ok = value >= bound if rule.at_least else value <= bound
            assert ok, f"{name}: {target.name} {rule.key} = {rule.threshold:g}, but its emulated profile gives {value:.1f}"
            checked += 1
    assert checked, f"{name}: no aggregate SLO checked"


def test_the_old_groq_vs_peers_bars_would_fail_this_check() -> None:
    """The check can fail: Groq's bars held against every target, at the published median."""
    scenario = _load("groq-vs-peers.toml")
    openai = next(t for t in scenario.target if t.provider == "openai")
    assert expected(_profile(openai), "ttft_ms", "p50") > 100  # ttft_p50_ms = 100 for every target
    groq = scenario.target[0]
    assert expected(_profile(groq), "output_tps", "p50") < 500 * (1 + MARGIN)  # output_tps_p50 = 500: a coin toss


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_use_the_default_client_and_can_run_with_it(path: Path) -> None:
    """No shipped scenario pins the SDK path, and none asks the default client for retries it
    cannot make (the refusal would meet a new user on their first command)."""
    scenario = load_scenario(path)
    assert all(t.clients == (DEFAULT_CLIENT,) for t in scenario.target), path.name
    assert scenario.request.max_retries == 0, path.name
