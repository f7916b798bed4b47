"""A scenario's validation error as the one line a user reads: the field's dotted path and the
problem in words, with the nearest valid key or value where one is close (docs/scenarios.md).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails


def suggest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _field_path(loc: tuple[Any, ...]) -> str:
    if loc and loc[0] == "slo_class":  # [slo.class.NAME], kept apart from [slo]'s numbers
        loc = ("slo", "class", *loc[1:])
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of ``loc`` (for key suggestions)."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        ann = field.annotation
        for candidate in getattr(ann, "__args__", ()) or (ann,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
            inner = getattr(candidate, "__args__", ())
            found = [c for c in inner if isinstance(c, type) and issubclass(c, BaseModel)]
            if found:
                model = found[0]
                break
        else:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def describe_error(
    root: type[BaseModel], error: ErrorDetails, *, providers: tuple[str, ...], orders: tuple[str, ...]
) -> tuple[str | None, str]:
    """(field, problem) of one validation error of ``root``, as the one line a user reads
    (``providers`` and ``orders``: the values to suggest from)."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    # pydantic puts a validator's location on the model; its message may start with "field: ".
    field = _field_path(loc) or None
    msg = str(error.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "extra_forbidden":
        model = _model_at(root, loc)
        choices = [n for n in (model.model_fields if model else {}) if n != "source_path"]
        if field == str(loc[-1]) and loc[-1] == "targets":
            choices.append("target")
        return field, f"unknown key{suggest(str(loc[-1]), choices)}" + (
            f"; valid keys here: {', '.join(choices)}" if choices else ""
        )
    if kind == "missing":
        return field, "required field is missing"
    if kind == "literal_error" and loc and loc[-1] == "provider":
        return (
            field,
            f"unknown provider {error.get('input')!r}{suggest(str(error.get('input')), providers)}; expected one of {', '.join(providers)}",
        )
    if kind == "literal_error" and loc and loc[-1] == "order":
        given = error.get("input")
        if isinstance(given, str):
            return field, f"unknown order {given!r}{suggest(given, orders)}; expected {' or '.join(orders)}"
        return field, f"expected {' or '.join(repr(o) for o in orders)} (got {type(given).__name__} {given!r})"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return field, f"{msg} (got {type(error.get('input')).__name__} {error.get('input')!r})"
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head and re.sub(r"[_.\[\]]", "", head).isalnum():
        return (f"{field}.{head}" if field else head), rest
    return field, msg
