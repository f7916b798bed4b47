"""``[prompts]``: what each request's prompt is — synthetic text of a length (or drawn lengths),
a prompt file, a shared prefix cold or warm, conversations of several turns. docs/scenarios.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from bench.scenario.lengths import MAX_TOKENS_ASKED, LengthDistribution, as_length
from bench.scenario.strict import Strict


class Prompts(Strict):
    source: Literal["synthetic", "file"] = "synthetic"
    #: A number, or ``{ mean, stdev, min, max }`` drawn per request (bench/scenario/lengths.py).
    input_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_ASKED)] | LengthDistribution = 128
    seed: int = 42
    path: str | None = None
    #: Tokens every request's prompt opens with, the same text for all (bench/scenario/prompts.py).
    shared_prefix_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS_ASKED)] = 0
    #: "warm": the shared prefix first, primed before each level, so the provider may serve it
    #: from its prompt cache; "cold": a unique marker first, so it never can.
    cache: Literal["cold", "warm"] = "cold"
    #: Turns per conversation: each turn sends the history with the real reply and a new user
    #: message; ``requests`` then counts conversations (docs/scenarios.md).
    turns: Annotated[int, Field(ge=1, le=100)] = 1
    #: Seconds between a reply's end and the next turn (a user reading and typing).
    think_time_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 0.0

    _no_ladder = field_validator("input_tokens", mode="before")(as_length)

    @field_validator("cache", mode="before")
    @classmethod
    def _one_cache_state(cls, value: Any) -> Any:
        if isinstance(value, list):
            raise ValueError(
                'one state per run: "cold" or "warm" (both in one run is not supported; run the scenario '
                "once with each and put the two runs in one report: bench report RUN_COLD RUN_WARM)"
            )
        return value

    @model_validator(mode="after")
    def _file_needs_path(self) -> Prompts:
        if self.source == "file" and not self.path:
            raise ValueError('path: required when source = "file"')
        if self.think_time_s and self.turns == 1:
            raise ValueError("think_time_s: only between the turns of a conversation; set turns = N (2 or more) or leave it out")
        if self.cache == "warm" and not self.shared_prefix_tokens:
            raise ValueError(
                'cache: "warm" needs shared_prefix_tokens = N (the prefix every request shares and the cache can keep)'
            )
        shortest = self.input_tokens if isinstance(self.input_tokens, int) else self.input_tokens.min
        if self.shared_prefix_tokens and self.source == "synthetic" and shortest < self.shared_prefix_tokens + 16:
            raise ValueError(
                f"shared_prefix_tokens: {self.shared_prefix_tokens} leaves no room in a {shortest}-token prompt "
                f"(input_tokens counts the whole prompt: make it at least {self.shared_prefix_tokens + 16})"
            )
        return self
