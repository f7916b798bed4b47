"""Before a live run: is each target's model retired (the catalogue), and does the provider list it?

Advisory only: every finding is a warning, and a provider whose models list cannot be read
(an auth error, a server without /models) does not stop the run — its requests will say more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anyio

from bench.providers import ClientSettings, make_provider
from bench.providers.classify import classify
from bench.scenario.catalogue import load_catalogue
from bench.scenario.model import Scenario


async def preflight(
    scenario: Scenario,
    base_urls: Mapping[str, str | None],
    keys: Mapping[str, str | None],
    secrets: tuple[str, ...],
    warn: Callable[[str], None],
) -> None:
    """Warn about retired models and check each model against the provider's list."""
    catalogue = load_catalogue()
    for target in scenario.target:
        info = catalogue.get(target.provider, target.model)
        if info is not None and info.retired:
            when = f" on {info.decommissioned_on}" if info.decommissioned_on else ""
            instead = f"; use {info.replacement}" if info.replacement else ""
            warn(f"target {target.name!r}: model {target.model} was {info.status.replace('_', ' ')}{when}{instead}")
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
