"""Token lengths a scenario asks for: one number, or a seeded distribution drawn per request.

First-token time grows with the prompt (prefill) and a response's time with its length, so a
benchmark at one fixed length says nothing about the rest of the range. A distribution
(``{ mean, stdev, min, max }``: normal, rounded, clipped to ``[min, max]``, as guidellm's
synthetic data draws them) gives every request its own length, seeded by the request's own
key so that two runs of a scenario ask for the same lengths request for request, whatever
order the requests finish in. docs/scenarios.md.
"""

from __future__ import annotations

import random
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: The longest length a scenario may ask for (prompt or response).
MAX_TOKENS_ASKED = 1_000_000


class LengthDistribution(BaseModel):
    """``{ mean = 600, stdev = 300, min = 16, max = 4000 }``: normal, rounded, clipped."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mean: Annotated[float, Field(ge=1, le=MAX_TOKENS_ASKED, allow_inf_nan=False)]
    stdev: Annotated[float, Field(ge=0, le=MAX_TOKENS_ASKED, allow_inf_nan=False)]
    min: Annotated[int, Field(ge=1, le=MAX_TOKENS_ASKED)]
    max: Annotated[int, Field(ge=1, le=MAX_TOKENS_ASKED)]

    @model_validator(mode="before")
    @classmethod
    def _ints_are_numbers(cls, value: Any) -> Any:
        # TOML writes 600 for 600.0: strict mode would refuse an int where a float belongs.
        if isinstance(value, dict):
            return {
                k: float(v) if k in ("mean", "stdev") and isinstance(v, int) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value

    @model_validator(mode="after")
    def _ordered(self) -> LengthDistribution:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        if not self.min <= self.mean <= self.max:
            raise ValueError(f"mean ({self.mean:g}) must lie within min ({self.min}) and max ({self.max})")
        return self

    def draw(self, rng: random.Random) -> int:
        return max(self.min, min(self.max, round(rng.gauss(self.mean, self.stdev))))


#: What a length field of a scenario holds.
Length = int | LengthDistribution

#: The most rungs a ladder may have: each is a group of ``requests`` of its own.
MAX_RUNGS = 16


def as_length_or_ladder(value: Any) -> Any:
    """:func:`as_length`, or a ladder: a list of distinct lengths, each its own group of
    requests like a load level (docs/scenarios.md, "Prompt lengths")."""
    if not isinstance(value, list):
        return as_length(value)
    if not value:
        raise ValueError("a ladder needs at least one length")
    if len(value) > MAX_RUNGS:
        raise ValueError(f"a ladder has at most {MAX_RUNGS} rungs (got {len(value)})")
    rungs = []
    for i, rung in enumerate(value):
        if isinstance(rung, (dict, list)):
            raise ValueError(f"rung {i + 1} of the ladder: a number of tokens (got {type(rung).__name__})")
        try:
            rungs.append(as_length(rung))
        except ValueError as exc:
            raise ValueError(f"rung {i + 1} of the ladder: {exc}") from None
    if len(set(rungs)) != len(rungs):
        raise ValueError(f"a ladder's rungs must differ (got {value})")
    return rungs if len(rungs) > 1 else rungs[0]


def as_length(value: Any) -> Any:
    """A length field's value checked before the ``int | LengthDistribution`` union sees it, so
    a mistake reads as one problem with its own key (``stdev: …``) instead of the union's two
    type errors. A list would read as a ladder of lengths, each its own group: said plainly."""
    if isinstance(value, list):
        raise ValueError(
            "a ladder of lengths belongs in [request] max_tokens or [prompts] input_tokens (each rung is a "
            "group for every target); here give one number or { mean, stdev, min, max }"
        )
    if isinstance(value, dict):
        try:
            return LengthDistribution.model_validate(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error.get("loc", ()))
            kind = error.get("type", "")
            if kind == "missing":
                problem = "required field is missing"
            elif kind == "extra_forbidden":
                problem = f"unknown key; valid keys here: {', '.join(LengthDistribution.model_fields)}"
            else:
                problem = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            raise ValueError(f"{key}: {problem}" if key else problem) from None
    if isinstance(value, bool) or not isinstance(value, (int, LengthDistribution)):
        raise ValueError(f"expected a number of tokens or {{ mean, stdev, min, max }} (got {type(value).__name__} {value!r})")
    if isinstance(value, int) and not 1 <= value <= MAX_TOKENS_ASKED:
        bound = "greater than or equal to 1" if value < 1 else f"less than or equal to {MAX_TOKENS_ASKED:,}"
        raise ValueError(f"Input should be {bound} (got {value})")
    return value


def length_for(spec: Length, seed: int, key: str) -> int:
    """The length request ``key`` asks for: ``spec`` itself, or its seeded draw."""
    if isinstance(spec, int):
        return spec
    return spec.draw(random.Random(f"{seed}:length:{key}"))


def describe(spec: Length | list[int]) -> str:
    """``128``, ``128, 2000, 8000`` or ``mean 600 ± 300 (16–4000)``, for a report's method
    section and a summary."""
    if isinstance(spec, list):
        return ", ".join(map(str, spec))
    if isinstance(spec, int):
        return str(spec)
    return f"mean {spec.mean:g} ± {spec.stdev:g} ({spec.min}–{spec.max})"
