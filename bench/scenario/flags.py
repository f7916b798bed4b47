"""A scenario built from command-line flags (``bench run --provider P --model M``).

The flags are turned into the same table a file would hold and validated by the same
pydantic model, so their errors read like a file's ("command line: target[0].base_url: …").
"""

from __future__ import annotations

import re
from typing import Any

from bench.scenario.model import Scenario, parse_scenario

#: Source name for scenarios built from flags (errors read "command line: field: problem").
FLAGS_SOURCE = "command line"


#: Defaults for a flags-only run: small enough to finish in seconds, enough for a median.
FLAGS_REQUESTS = 20


def scenario_from_flags(
    *,
    provider: str,
    model: str,
    base_url: str | None = None,
    concurrency: list[int] | None = None,
    rate: list[float] | None = None,
    requests: int | None = None,
    max_tokens: int | None = None,
    input_tokens: int | None = None,
    stream: bool = True,
    emulate: bool = False,
) -> Scenario:
    """The one-target scenario that ``bench run --provider P --model M …`` stands for.

    Built as the table a file would hold and validated by the same model, so a bad value
    reads exactly as it would in a file ("command line: target[0].base_url: …").
    """
    target: dict[str, Any] = {"provider": provider, "model": model}
    if base_url is not None:
        target["base_url"] = base_url
    request: dict[str, Any] = {"stream": stream}
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    prompts: dict[str, Any] = {"source": "synthetic"}
    if input_tokens is not None:
        prompts["input_tokens"] = input_tokens
    load: dict[str, Any] = {"requests": requests if requests is not None else FLAGS_REQUESTS}
    if rate is not None:
        load["rate"] = rate
    else:
        load["concurrency"] = concurrency if concurrency is not None else [1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{provider}-{model}").strip("-.") or "flags"
    raw = {
        "scenario": {"name": name, "emulate": emulate},
        "target": [target],
        "request": request,
        "prompts": prompts,
        "load": load,
    }
    return parse_scenario(raw, FLAGS_SOURCE)
