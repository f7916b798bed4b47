"""``[prompts]``: what each request's prompt is — synthetic text of a length (or drawn lengths),
a prompt file, a shared prefix cold or warm, conversations of several turns. docs/scenarios.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from bench.scenario.lengths import MAX_TOKENS_ASKED, Length, LengthDistribution, as_length_or_ladder
from bench.scenario.strict import Strict

CacheState = Literal["cold", "warm"]


class Prompts(Strict):
    source: Literal["synthetic", "file"] = "synthetic"
    #: A number, a ladder (a list: each rung its own group, bench/scenario/shapes.py), or
    #: ``{ mean, stdev, min, max }`` drawn per request (bench/scenario/lengths.py).
    input_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_ASKED)] | list[int] | LengthDistribution = 128
    seed: int = 42
    path: str | None = None
    #: Tokens every request's prompt opens with, the same text for all (bench/scenario/prompts.py).
    shared_prefix_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS_ASKED)] = 0
    #: "warm": the shared prefix first, primed before each level, so the provider may serve it
    #: from its prompt cache; "cold": a unique marker first, so it never can.
    #: Both (``["cold", "warm"]``): each state is its own group of requests.
    cache: CacheState | list[CacheState] = "cold"
    #: Lower edges of the groups drawn (or replayed) prompt lengths fall in: ``[0, 1000, 8000]``.
    bins: list[Annotated[int, Field(ge=0, le=MAX_TOKENS_ASKED)]] | None = None
    #: Turns per conversation: each turn sends the history with the real reply and a new user
    #: message; ``requests`` then counts conversations (docs/scenarios.md).
    turns: Annotated[int, Field(ge=1, le=100)] = 1
    #: Seconds between a reply's end and the next turn (a user reading and typing).
    think_time_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 0.0

    _ladder = field_validator("input_tokens", mode="before")(as_length_or_ladder)

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_states(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if not value or len(set(map(str, value))) != len(value):
            raise ValueError(f'give "cold", "warm" or both once each as ["cold", "warm"] (got {value})')
        return value if len(value) > 1 else value[0]

    @field_validator("bins")
    @classmethod
    def _ascending(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(a >= b for a, b in zip(value, value[1:], strict=False))):
            raise ValueError(f"lower edges in ascending order, at least one (got {value})")
        return value

    @property
    def length(self) -> Length:
        """``input_tokens`` at one request shape (``Scenario.at``): a number or a distribution;
        a ladder's first rung if asked of a scenario with one."""
        spec = self.input_tokens
        return spec[0] if isinstance(spec, list) else spec

    @property
    def caches(self) -> tuple[str, ...]:
        """The cache states this scenario runs (one, or both)."""
        return tuple(self.cache) if isinstance(self.cache, list) else (self.cache,)

    @model_validator(mode="after")
    def _file_needs_path(self) -> Prompts:
        if self.source == "file" and not self.path:
            raise ValueError('path: required when source = "file"')
        if self.think_time_s and self.turns == 1:
            raise ValueError("think_time_s: only between the turns of a conversation; set turns = N (2 or more) or leave it out")
        if "warm" in self.caches and not self.shared_prefix_tokens:
            raise ValueError(
                'cache: "warm" needs shared_prefix_tokens = N (the prefix every request shares and the cache can keep)'
            )
        shortest = self.shortest
        if self.shared_prefix_tokens and self.source == "synthetic" and shortest < self.shared_prefix_tokens + 16:
            raise ValueError(
                f"shared_prefix_tokens: {self.shared_prefix_tokens} leaves no room in a {shortest}-token prompt "
                f"(input_tokens counts the whole prompt: make it at least {self.shared_prefix_tokens + 16})"
            )
        return self

    @property
    def shortest(self) -> int:
        """The shortest prompt asked for."""
        spec = self.input_tokens
        return spec if isinstance(spec, int) else min(spec) if isinstance(spec, list) else spec.min
