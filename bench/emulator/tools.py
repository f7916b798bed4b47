"""Tool calls: which tool a response calls, and its arguments, streamed token by token.

A request that carries ``tools`` is answered with a call to one of them when its
``tool_choice`` asks for one (OpenAI ``required`` or a named function; Anthropic ``any`` or a
named tool: always; ``auto`` or unset: with the profile's ``tool_call_share``; ``none``: never).
The called tool is the named one, else the first. Its arguments are a JSON object with the
schema's required properties (or its first property when none is required): the first string
property holds the response's answer words, the others a plain value of their type. Each
planned answer token becomes one fragment of the arguments' JSON text (the first fragment also
opens the object, the last closes it), so the streamed arguments arrive at the planned token
times and usage counts them as output. A response cut by its budget (``length``) ends with the
JSON unclosed, as the real services send it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from bench.emulator.profiles import Plan

#: Placeholder values by JSON-schema type, for the properties that do not carry the words.
_FILLERS: Final[dict[str, Any]] = {
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


@dataclass(frozen=True)
class Tool:
    """A callable tool as the request declares it: its name and its arguments' JSON schema."""

    name: str
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolChoice:
    """What the request allows: ``mode`` is "none", "auto" or "force"; ``name`` a forced tool."""

    mode: str = "none"
    name: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """One call, decided with the plan: which tool, its id, and its arguments' fragments."""

    id: str
    name: str
    fragments: tuple[str, ...]
    #: The arguments as an object (Anthropic's non-streamed ``input``), whole even when cut.
    arguments: dict[str, Any]
    complete: bool

    @property
    def arguments_text(self) -> str:
        """The arguments as streamed: all the fragments (unclosed JSON when cut short)."""
        return "".join(self.fragments)


def choose_tool(tools: tuple[Tool, ...], choice: ToolChoice, share: float, draw: float) -> Tool | None:
    """The tool this response calls, or None for a text answer (``draw`` uniform on [0, 1))."""
    if not tools or choice.mode == "none":
        return None
    if choice.mode == "auto" and draw >= share:
        return None
    if choice.name is not None:
        return next(t for t in tools if t.name == choice.name)
    return tools[0]


def make_call(tool: Tool, plan: Plan, call_id: str) -> ToolCall:
    """The call's arguments, one fragment per planned answer token."""
    words = list(plan.texts[plan.n_streamed_reasoning :])
    complete = plan.finish == "stop"
    slot, values = _arguments(tool.schema)
    if slot is None:  # no string property to carry the words: split the fixed JSON instead
        text = json.dumps(values, separators=(",", ":"))
        return ToolCall(call_id, tool.name, tuple(_split(text if complete else text[:-1], len(words))), values, complete)
    values[slot] = "".join(words)
    marker = "\x00"
    before, after = json.dumps({**values, slot: marker}, separators=(",", ":")).split(json.dumps(marker))
    escaped = [json.dumps(w)[1:-1] for w in words]
    escaped[0] = before + '"' + escaped[0]
    if complete:
        escaped[-1] += '"' + after
    return ToolCall(call_id, tool.name, tuple(escaped), values, complete)


def _arguments(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The properties to fill and which one carries the words (None when no string is wanted)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties:
        return None, {}
    required = [p for p in schema.get("required", []) if isinstance(p, str) and p in properties]
    names = required or [next(iter(properties))]
    values: dict[str, Any] = {}
    slot = None
    for name in names:
        spec = properties[name] if isinstance(properties[name], dict) else {}
        kind = spec.get("type")
        enum = spec.get("enum")
        if isinstance(enum, list) and enum:
            values[name] = enum[0]
        elif kind == "string" and slot is None:
            slot, values[name] = name, ""
        elif kind == "string":
            values[name] = "emulated"
        else:
            values[name] = _FILLERS.get(kind) if isinstance(kind, str) else None
    return slot, values


def _split(text: str, n: int) -> list[str]:
    """``text`` in ``n`` consecutive pieces (empty ones at the end when it is shorter)."""
    n = max(1, n)
    size = -(-len(text) // n)
    return [text[i * size : (i + 1) * size] for i in range(n)]
