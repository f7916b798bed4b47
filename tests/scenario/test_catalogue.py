"""The model catalogue: the packaged data file loads, and malformed data is refused by name."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from bench.scenario.catalogue import PROVIDERS, STATUSES, CatalogueError, load_catalogue, parse_catalogue

SEED_GROQ = {
    "llama-3.1-70b-versatile": ("decommissioned", "2025-01-24"),
    "llama3-70b-8192": ("decommissioned", "2025-08-30"),
    "llama3-8b-8192": ("decommissioned", "2025-08-30"),
    "mixtral-8x7b-32768": ("decommissioned", "2025-03-20"),
    "llama-3.1-8b-instant": ("shut_down", "2026-08-16"),
    "llama-3.3-70b-versatile": ("shut_down", "2026-08-16"),
}


def test_seed_models_are_retired_with_dates_and_replacements() -> None:
    catalogue = load_catalogue()
    for model, (status, date) in SEED_GROQ.items():
        info = catalogue.get("groq", model)
        assert info is not None, model
        assert (info.status, info.decommissioned_on) == (status, date)
        assert info.retired
        assert info.replacement in ("openai/gpt-oss-120b", "openai/gpt-oss-20b")
        assert catalogue.get("groq", info.replacement) is not None  # the replacement is listed too


def test_todays_groq_models_and_their_profiles() -> None:
    catalogue = load_catalogue()
    big = catalogue.get("groq", "openai/gpt-oss-120b")
    small = catalogue.get("groq", "openai/gpt-oss-20b")
    assert big is not None and small is not None
    assert big.status == "production" and not big.retired
    assert (big.context_window, big.max_completion_tokens) == (131072, 65536)
    assert big.reasoning and big.reasoning_tokens > 0
    assert big.tokens_per_s == 500 and small.tokens_per_s == 1000
    for model in ("qwen/qwen3.8-27b", "openai/gpt-oss-safeguard-20b", "minimaxai/minimax-m2.7"):
        info = catalogue.get("groq", model)
        assert info is not None and info.status == "preview"
    # The seed's 70B claim (500+) was replaced by measured figures, and says so.
    seed70 = catalogue.get("groq", "llama-3.1-70b-versatile")
    assert seed70 is not None and 250 <= seed70.tokens_per_s <= 300 and "500" in (seed70.note or "")


def test_comparison_models() -> None:
    catalogue = load_catalogue()
    turbo = catalogue.get("openai", "gpt-4-turbo")
    assert turbo is not None and 200 <= turbo.ttft_ms <= 300 and 50 <= turbo.tokens_per_s <= 100
    reasoning = [m.id for m in catalogue.models("openai") if m.reasoning]
    assert "gpt-5.1" in reasoning and "gpt-5-mini" in reasoning
    for model in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"):
        assert catalogue.get("anthropic", model) is not None
    for model in ("claude-3-opus-20240229", "claude-3-5-sonnet-20240620"):
        info = catalogue.get("anthropic", model)
        assert info is not None and info.retired and 300 <= info.ttft_ms <= 400 and 40 <= info.tokens_per_s <= 80


def test_lookups_and_defaults() -> None:
    catalogue = load_catalogue()
    assert load_catalogue() is catalogue  # cached
    assert catalogue.get("groq", "no-such-model") is None
    assert catalogue.get("openai", "openai/gpt-oss-120b") is None  # per provider
    assert {m.provider for m in catalogue.models()} == {"groq", "openai", "anthropic"}
    assert all(m.provider == "anthropic" for m in catalogue.models("anthropic"))
    assert catalogue.models("openai-compatible") == []
    compatible = catalogue.default_profile("openai-compatible")
    openai = catalogue.default_profile("openai")
    assert compatible.provider == "openai-compatible" and compatible.id == "*"
    assert (compatible.ttft_ms, compatible.tokens_per_s) == (openai.ttft_ms, openai.tokens_per_s)
    assert catalogue.default_profile("groq").ttft_ms < catalogue.default_profile("anthropic").ttft_ms
    with pytest.raises(KeyError, match="unknown provider"):
        catalogue.default_profile("mistral")


def test_every_entry_is_well_formed() -> None:
    for info in load_catalogue().models():
        assert info.status in STATUSES and info.provider in PROVIDERS
        assert info.ttft_ms > 0 and info.tokens_per_s > 0 and 0 <= info.jitter <= 1
        assert (info.decommissioned_on is not None) == info.retired, info.id


def _data() -> dict[str, Any]:
    text = resources.files("bench").joinpath("data/models.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(mistral={"defaults": {}}), "unknown provider section"),
        (lambda d: d["groq"].pop("defaults"), r"needs \[groq.defaults\]"),
        (lambda d: d["groq"].update(extra=1), "unknown"),
        (lambda d: d["groq"]["defaults"].pop("ttft_ms"), "ttft_ms and tokens_per_s are required"),
        (lambda d: d["groq"]["defaults"].update(speed=1), "unknown key 'speed'"),
        (lambda d: d["groq"]["models"][0].update(status="gone"), "status must be one of"),
        (lambda d: d["groq"]["models"][0].pop("status"), "id and status are required"),
        (lambda d: d["groq"]["models"][0].update(context_window="big"), "context_window must be int"),
        (lambda d: d["groq"]["models"][0].update(reasoning_tokens=True), "reasoning_tokens must be int"),
        (lambda d: d["groq"]["models"][0].update(tokens_per_s=0), "tokens_per_s > 0"),
        (lambda d: d["groq"]["models"][0].update(jitter=2.0), "jitter must be in"),
        (lambda d: d["groq"]["models"].append(dict(d["groq"]["models"][0])), "listed twice"),
        (lambda d: d.pop("openai"), r"\[openai.defaults\] is required"),
    ],
)
def test_malformed_data_is_refused_by_name(mutate: Any, message: str) -> None:
    data = _data()
    mutate(data)
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(data)


def test_deprecation_warning_when_the_date_is_past_or_within_30_days() -> None:
    from datetime import date

    from bench.scenario.catalogue import deprecation_warning

    # gpt-5-mini: deprecation date 2026-12-11 in the price source.
    assert deprecation_warning("openai", "gpt-5-mini", date(2026, 11, 1)) is None  # 40 days away
    near = deprecation_warning("openai", "gpt-5-mini", date(2026, 12, 4))
    assert near is not None and "2026-12-11, in 7 days" in near and "litellm 1.110.2" in near
    assert "today" in (deprecation_warning("openai", "gpt-5-mini", date(2026, 12, 11)) or "")
    past = deprecation_warning("openai", "gpt-5-mini", date(2026, 12, 21))
    assert past is not None and "10 days ago" in past and "may no longer answer" in past
    assert deprecation_warning("groq", "openai/gpt-oss-120b", date(2030, 1, 1)) is None  # no date: no warning
    assert deprecation_warning("openai", "no-such-model", date(2030, 1, 1)) is None


def test_a_malformed_deprecation_date_is_refused_by_name() -> None:
    data = {
        "openai": {
            "defaults": {"ttft_ms": 1.0, "tokens_per_s": 1.0},
            "models": [{"id": "m", "status": "production", "deprecation_date": "soon"}],
        }
    }
    with pytest.raises(CatalogueError, match=r"\[\[openai.models\]\] m: deprecation_date must be an ISO date"):
        parse_catalogue(data)
