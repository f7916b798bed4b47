"""Model names, when the run names the target's provider kind in ``x-bench-emulator``: a groq,
openai or anthropic model the catalogue does not know gets that provider's own 404
``model_not_found`` (a retired one its 400 ``model_decommissioned``), as the unmodified SDKs
parse it, unless the override gives the model a profile ([target.emulator]); openai-compatible
targets take any name; requests that do not name a provider are served as before.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import groq
import openai
import pytest

from bench.emulator import EmulatorHandle, start_emulator
from bench.emulator.faults import FAULT_KINDS
from bench.emulator.profiles import PROFILE_KEYS, Override, parse_override
from tests.emulator_clients import MESSAGES, clients, fast, run


def as_run(provider: str, **profile: Any) -> dict[str, str]:
    """The header a run sends for a target without [target.emulator] (plus any profile keys)."""
    return {"x-bench-emulator": json.dumps({"faults": {}, "seed": 7, "provider": provider, **profile})}


def test_unknown_models_get_each_providers_own_404(emu: EmulatorHandle) -> None:
    async def go() -> None:
        async with clients(emu) as c:
            with pytest.raises(openai.NotFoundError) as o:
                await c.openai.chat.completions.create(
                    model="gpt-4.2", messages=MESSAGES, max_completion_tokens=3, extra_headers=as_run("openai")
                )
            assert o.value.code == "model_not_found" and o.value.type == "invalid_request_error"
            assert o.value.body == {
                "message": "The model `gpt-4.2` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
            with pytest.raises(groq.NotFoundError) as g:
                await c.groq.chat.completions.create(
                    model="llama-9-instant", messages=MESSAGES, max_tokens=3, stream=True, extra_headers=as_run("groq")
                )
            assert g.value.body["error"]["code"] == "model_not_found"  # type: ignore[index]
            assert "`llama-9-instant`" in g.value.body["error"]["message"]  # type: ignore[index]
            with pytest.raises(anthropic.NotFoundError) as a:
                await c.anthropic.messages.create(
                    model="claude-sonnet-9", messages=MESSAGES, max_tokens=3, extra_headers=as_run("anthropic")
                )
            assert a.value.type == "not_found_error" and "claude-sonnet-9" in a.value.message
            assert a.value.request_id and a.value.request_id.startswith("req_")

    run(go())


def test_retired_models_get_the_decommissioned_answer(emu: EmulatorHandle) -> None:
    async def go() -> None:
        async with clients(emu) as c:
            with pytest.raises(groq.BadRequestError) as g:
                await c.groq.chat.completions.create(
                    model="llama-3.1-70b-versatile", messages=MESSAGES, max_tokens=3, extra_headers=as_run("groq")
                )
            assert g.value.body["error"]["code"] == "model_decommissioned"  # type: ignore[index]
            with pytest.raises(anthropic.BadRequestError) as a:
                await c.anthropic.messages.create(
                    model="claude-3-opus-20240229", messages=MESSAGES, max_tokens=3, extra_headers=as_run("anthropic")
                )
            assert a.value.error_code == "model_decommissioned"

    run(go())


def test_a_profile_of_its_own_serves_any_name(emu: EmulatorHandle) -> None:
    """[target.emulator] with any profile key: the scenario describes the model itself."""

    async def go() -> list[int]:
        async with clients(emu) as c:
            made = await c.openai.chat.completions.create(
                model="gpt-4.2", messages=MESSAGES, max_completion_tokens=3, extra_headers=as_run("openai", ttft_ms=5)
            )
            retired = await c.groq.chat.completions.create(
                model="llama-3.1-70b-versatile", messages=MESSAGES, max_tokens=3,
                extra_headers=as_run("groq", tokens_per_s=3000, ttft_ms=5),
            )  # fmt: skip
            return [made.usage.completion_tokens if made.usage else 0, retired.usage.completion_tokens if retired.usage else 0]

    assert all(1 <= n <= 3 for n in run(go()))


def test_faults_alone_are_not_a_profile(emu: EmulatorHandle) -> None:
    async def go() -> None:
        async with clients(emu) as c:
            header = {"x-bench-emulator": json.dumps({"faults": {"rate_limited": 0.0}, "provider": "openai", "omit_usage": True})}
            with pytest.raises(openai.NotFoundError):
                await c.openai.chat.completions.create(
                    model="gpt-4.2", messages=MESSAGES, max_completion_tokens=3, extra_headers=header
                )

    run(go())


def test_known_models_and_openai_compatible_names_are_served(emu: EmulatorHandle) -> None:
    async def go() -> list[str]:
        async with clients(emu) as c:
            known = await c.openai.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, max_completion_tokens=2, extra_headers=as_run("openai")
            )
            # The same /v1 route: a local server's own name, and a name OpenAI does not have.
            local = await c.openai.chat.completions.create(
                model="my-finetune", messages=MESSAGES, max_tokens=2, extra_headers=as_run("openai-compatible")
            )
            odd = await c.openai.chat.completions.create(
                model="gpt-4.2", messages=MESSAGES, max_tokens=2, extra_headers=as_run("openai-compatible")
            )
            return [known.model, local.model, odd.model]

    assert run(go()) == ["gpt-4.1", "my-finetune", "gpt-4.2"]


def test_without_a_provider_every_name_is_served_as_before(emu: EmulatorHandle) -> None:
    async def go() -> str:
        async with clients(emu) as c:
            reply = await c.openai.chat.completions.create(
                model="gpt-4.2", messages=MESSAGES, max_completion_tokens=2, extra_headers=fast()
            )
            return reply.model

    assert run(go()) == "gpt-4.2"


def test_server_wide_settings_do_not_make_a_profile_for_the_model() -> None:
    """``--set ttft_ms=…`` slows every target; it does not vouch for a model name."""

    async def go(emu: EmulatorHandle) -> None:
        async with clients(emu) as c:
            with pytest.raises(openai.NotFoundError):
                await c.openai.chat.completions.create(
                    model="gpt-4.2", messages=MESSAGES, max_completion_tokens=2, extra_headers=as_run("openai")
                )

    with start_emulator(settings={"ttft_ms": 5, "tokens_per_s": 4000}) as emu:
        run(go(emu))


def test_provider_must_be_a_known_kind() -> None:
    with pytest.raises(ValueError, match="provider must be one of"):
        parse_override({"provider": "mistral"}, FAULT_KINDS)
    assert parse_override({"provider": "openai-compatible"}, FAULT_KINDS).provider == "openai-compatible"
    assert not Override(faults={"auth": 0.1}, seed=3, provider="groq", capacity=2).gives_profile
    for key in PROFILE_KEYS:
        assert Override(**{key: 1}).gives_profile, key
