"""``[request]`` and ``[target.request]``: what each request asks the provider for.

A target's own table overrides the scenario's key by key (``extra_body`` tables merge, the
target's keys winning), so one scenario can give an OpenAI model its ``reasoning_effort`` and
a Claude model its thinking budget, or each its tools in its own wire format. docs/scenarios.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from bench.scenario.lengths import MAX_TOKENS_ASKED, Length, LengthDistribution, as_length, as_length_or_ladder
from bench.scenario.strict import Strict


class RequestSettings(Strict):
    stream: bool = True
    #: A number, a ladder (a list: each rung its own group, bench/scenario/shapes.py), or
    #: ``{ mean, stdev, min, max }`` drawn per request (bench/scenario/lengths.py).
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_ASKED)] | list[int] | LengthDistribution = 256
    temperature: Annotated[float, Field(ge=0, le=2)] | None = 0.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 0
    include_usage: bool = True
    system: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    #: Passed into the request body as written, in the target's own wire format (OpenAI's
    #: ``{type = "function", function = {...}}``, Anthropic's ``{name, input_schema}``): a
    #: streamed tool call is the answer, timed as content (docs/metrics.md).
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    #: Structured output (chat APIs only: Anthropic has none).
    response_format: dict[str, Any] | None = None

    _ladder = field_validator("max_tokens", mode="before")(as_length_or_ladder)

    @property
    def length(self) -> Length:
        """``max_tokens`` at one request shape (``Scenario.at``): a number or a distribution;
        a ladder's first rung if asked of a scenario with one."""
        spec = self.max_tokens
        return spec[0] if isinstance(spec, list) else spec

    def body_extras(self) -> dict[str, Any]:
        """``extra_body`` with the tool and output fields that are set (what joins the body)."""
        extras = dict(self.extra_body)
        for name in ("tools", "tool_choice", "response_format"):
            value = getattr(self, name)
            if value is not None:
                extras[name] = value
        return extras


class RequestOverride(Strict):
    """``[target.request]``: any ``[request]`` key, for one target; unset keys are the scenario's
    (``extra_body`` tables merge, the target's keys winning)."""

    stream: bool | None = None
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_ASKED)] | LengthDistribution | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_retries: Annotated[int, Field(ge=0, le=10)] | None = None
    include_usage: bool | None = None
    system: str | None = None
    extra_body: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _length(cls, value: Any) -> Any:
        return None if value is None else as_length(value)

    def over(self, base: RequestSettings) -> RequestSettings:
        """``base`` with this target's keys in place of its own."""
        own = self.model_dump(exclude_none=True)
        if "extra_body" in own:
            own["extra_body"] = {**base.extra_body, **own["extra_body"]}
        if isinstance(self.max_tokens, LengthDistribution):
            own["max_tokens"] = self.max_tokens
        return base.model_copy(update=own)
