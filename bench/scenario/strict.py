"""The base of every scenario table: strict, frozen, no unknown keys.

Strict because TOML has real types: "yes" for a bool or "16" for a number is a mistake to
report, not to coerce (pydantic would happily turn true into max_tokens = 1). docs/scenarios.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
