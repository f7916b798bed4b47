"""Before a run: does the catalogue know each target's model (all runs), and does the provider
list it (live runs)?

Advisory only: every finding is a warning, and a provider whose models list cannot be read
(an auth error, a server without /models) does not stop the run — its requests will say more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anyio

from bench.providers import ClientSettings, make_provider
from bench.providers.classify import classify
from bench.scenario.catalogue import load_catalogue, model_warning
from bench.scenario.model import Scenario

#: The largest of Anthropic's per-model minimum cacheable prompt lengths.
ANTHROPIC_CACHE_MAX_MIN = 4_096


def model_warnings(scenario: Scenario) -> list[str]:
    """Every target whose model the catalogue does not know or knows as retired, said as a
    warning (see :func:`bench.scenario.catalogue.model_warning`), for live and emulated runs alike."""
    catalogue = load_catalogue()
    out = []
    for target in scenario.target:
        found = model_warning(target.provider, target.model, catalogue)
        if found is not None:
            out.append(f"target {target.name!r}: {found}")
    prefix = scenario.prompts.shared_prefix_tokens
    if scenario.prompts.cache == "warm" and prefix < ANTHROPIC_CACHE_MAX_MIN:
        out += [
            f"target {t.name!r}: Anthropic caches a prefix only from 1,024 to 4,096 tokens depending on the model; "
            f"with {prefix:,} shared tokens a live run may see no cache hits (cache_read_input_tokens 0)"
            for t in scenario.target
            if t.provider == "anthropic"
        ]
    return out


async def preflight(
    scenario: Scenario,
    base_urls: Mapping[str, str | None],
    keys: Mapping[str, str | None],
    secrets: tuple[str, ...],
    warn: Callable[[str], None],
) -> None:
    """Check each model against the provider's own list (the catalogue's word comes first:
    :func:`model_warnings`, for every run)."""
    for target in scenario.target:
        timeout_s = scenario.load.timeout_s  # a slow models list must not cost more than a request may
        settings = ClientSettings(base_urls[target.name], keys[target.name], 1, timeout_s, 0)
        provider = make_provider(target.provider, settings)
        try:
            with anyio.fail_after(timeout_s):
                available = await provider.list_models()
        except Exception as exc:  # noqa: BLE001 - a models list is advisory
            hint = ""
            if target.base_url and "404" in str(exc):
                hint = "; does base_url point at the API root (e.g. .../v1 for OpenAI-compatible servers)?"
            what = classify(exc, streaming_started=False, secrets=secrets).message  # with its cause and proxy
            warn(f"target {target.name!r}: could not list models ({what}){hint}")
            continue
        finally:
            await provider.aclose()
        if available and target.model not in available:
            shown = ", ".join(available[:30]) + (" …" if len(available) > 30 else "")
            warn(f"target {target.name!r}: {target.provider} does not list model {target.model!r}; it lists: {shown}")
