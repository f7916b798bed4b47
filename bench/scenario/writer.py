"""Scenarios written back as TOML.

A run must be repeatable from its own directory: every
run directory keeps ``scenario.toml``, the scenario exactly as it ran, which ``bench run``
accepts to repeat it.

TOML has no null: fields left unset (``None``) are left out, which reads back as the same
default. Empty tables are left out too.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from bench.scenario.model import Scenario

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: Top-level tables in the order a person would read them; unknown ones follow.
_ORDER = ("scenario", "target", "request", "prompts", "load", "slo", "report")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    """One TOML value (strings as JSON strings, which are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_key(str(k))} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _prune(value: Any) -> Any:
    """Drop unset values and empty tables, at any depth (TOML cannot say null)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in pruned.items() if not (isinstance(v, dict) and not v)}
    if isinstance(value, list):
        return [_prune(v) for v in value if v is not None]
    return value


def _section(header: str, table: dict[str, Any], lines: list[str]) -> None:
    """``header`` and its keys; nested maps (faults, extra_body) stay inline tables."""
    lines.append(header)
    lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    lines.append("")


def scenario_to_toml(scenario: Scenario, *, emulate: bool | None = None) -> str:
    """The scenario as TOML; ``load_scenario`` on the text gives back an equal scenario."""
    data = scenario.model_dump(mode="python", exclude={"source_path"})
    data["scenario"]["name"] = scenario.name
    if emulate is not None:
        data["scenario"]["emulate"] = emulate
    prompt_file = scenario.prompt_file()
    if prompt_file is not None:
        # A path relative to the original file would not resolve beside the run.
        data["prompts"]["path"] = str(prompt_file.resolve())
    data = _prune(data)
    classes = data.pop("slo_class", {})
    lines = [
        "# The scenario exactly as this run used it (command-line overrides applied).",
        "# Repeat the run with:  bench run <this file>",
        "",
    ]
    for key in [k for k in _ORDER if k in data] + [k for k in data if k not in _ORDER]:
        value = data[key]
        if isinstance(value, list):  # [[target]]: its own keys, then each sub-table
            for item in value:
                _section(f"[[{_key(key)}]]", {k: v for k, v in item.items() if not isinstance(v, dict)}, lines)
                for sub_key, sub in item.items():
                    if isinstance(sub, dict):
                        _section(f"[{_key(key)}.{_key(sub_key)}]", sub, lines)
        elif isinstance(value, dict):
            _section(f"[{_key(key)}]", value, lines)
        if key == "slo" or (key == "load" and "slo" not in data):  # [slo.class.NAME] as written
            for name, table in classes.items():
                _section(f"[slo.class.{_key(name)}]", table, lines)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
