"""``[slo.class.NAME]``: SLOs for some request shapes only — long prompts may take longer.

One first-token bound for a 128-token and a 32,000-token prompt is wrong for one of them, so
a class names the rungs, bins or cache state it covers (``input_tokens = [8000, 32000]``,
``cache = "warm"``) and the rules that hold there instead, over the scenario's and the
target's own. docs/scenarios.md, "SLOs per request shape".
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bench.scenario.errors_text import suggest
from bench.scenario.slo import SELECTORS, classes_from_tables, parse_key, valid_keys


def check_slo_table(table: dict[str, Any]) -> dict[str, Any]:
    """Every key known and every bound a positive number (a rate between 0 and 1)."""
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key}: must be a number")
        if key == "error_rate_max":
            if not 0 <= value <= 1:
                raise ValueError(f"{key}: must be between 0 and 1")
            continue
        if parse_key(key, value) is None:
            raise ValueError(f"{key}: unknown SLO key{suggest(key, [*valid_keys(), *SELECTORS])}")
        if value <= 0:
            raise ValueError(f"{key}: must be greater than 0")
    return table


def _lengths(value: Any) -> Any:
    if value is None:
        return value
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(f"a number of tokens or a list of them (got {value!r})")
    return tuple(values)


class SloClassTable(BaseModel):
    """One ``[slo.class.NAME]`` table: which shapes (by any of ``SELECTORS``) and its rules."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    input_tokens: tuple[int, ...] | None = None
    max_tokens: tuple[int, ...] | None = None
    cache: Literal["cold", "warm"] | None = None

    _lengths = field_validator("input_tokens", "max_tokens", mode="before")(_lengths)

    @model_validator(mode="after")
    def _selects_and_rules(self) -> SloClassTable:
        if self.input_tokens is None and self.max_tokens is None and self.cache is None:
            raise ValueError(f"say which requests the class covers: {', '.join(SELECTORS)}")
        rules = dict(self.model_extra or {})
        if not rules:
            raise ValueError("no SLO in the class: add a rule such as ttft_p95_ms = 2000")
        check_slo_table(rules)
        return self

    def dump(self) -> dict[str, Any]:
        """As run.json records it (a report reads it back with ``slo_for_scenario``)."""
        out: dict[str, Any] = {k: v for k, v in (("input_tokens", self.input_tokens), ("max_tokens", self.max_tokens)) if v}
        out = {k: list(v) for k, v in out.items()}
        if self.cache:
            out["cache"] = self.cache
        return {**out, **(self.model_extra or {})}


def move_classes(raw: Any) -> Any:
    """``[slo.class]`` moved out of ``[slo]`` (whose values are all numbers) into its own key."""
    if isinstance(raw, dict) and isinstance(raw.get("slo"), dict) and "class" in raw["slo"]:
        slo = dict(raw["slo"])
        return {**raw, "slo": slo, "slo_class": slo.pop("class")}
    return raw


def class_problem(classes: dict[str, SloClassTable], labels: list[str]) -> tuple[str, str] | None:
    """(field, problem) when a class covers none of the scenario's groups (``labels``), or two
    cover the same one; None when every group has at most one class."""
    owner: dict[str, str] = {}
    built = classes_from_tables({name: table.dump() for name, table in classes.items()})
    for name, klass in zip(classes, built, strict=True):
        covered = [label for label in labels if klass.covers(label)]
        if not covered:
            shown = ", ".join(repr(label) for label in labels if label) or "none: one plain group per target and level"
            return f"slo.class.{name}", (
                f"covers none of this scenario's request shapes ({shown}); a class selects rungs of a ladder, "
                "bins or one of both cache states"
            )
        for label in covered:
            if label in owner:
                return (
                    f"slo.class.{name}",
                    f"covers {label!r}, which class {owner[label]!r} covers too; give each shape one class",
                )
            owner[label] = name
    return None
