"""The latency model: when each token of one emulated response is written, and what it says.

Everything random about a response (its fault, TTFT, speed, length and words) is drawn from
one ``random.Random`` in a fixed order, so a request carrying a seed is answered the same way
every time, and adding a fault share to a scenario does not change the text of the others.

Timing model, per request (``jitter`` = j):

* TTFT is lognormal around the profile's median: ``ttft_ms · exp(j·N(0,1))``;
* the request's speed is lognormal around ``tokens_per_s`` with half that spread: real
  services vary more between requests than between the tokens of one stream;
* each gap between tokens is the request's mean interval times ``1 + s·U(-1, 1)`` with
  ``s = min(j, 0.95)``: bounded, positive and mean-preserving, so the measured output speed
  is the request's speed.

Prefill (``prefill_tokens_per_s``): the first token also waits for the prompt to be read,
``uncached / prefill + cached / (prefill · cache_speedup)`` seconds, added to the sampled TTFT
without jitter of its own, so TTFT against prompt length is a line whose slope is exactly the
profile's prefill speed. Without ``prefill_tokens_per_s`` the TTFT does not depend on the prompt
(the catalogue's medians were measured on short prompts). Headers still go out at their share
of the sampled TTFT: a server acknowledges a request before it has read the prompt.

Token times are offsets from the moment the request was read; the server sleeps until each
absolute deadline, so sleep overshoot never accumulates into the rate.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from bench.errors import EmulatorRequestError
from bench.scenario.catalogue import ModelInfo

#: Median length a model chooses by itself (it "stops" there when max_tokens allows it).
NATURAL_TOKENS_MEDIAN: Final = 400
#: Output budget when a request sets no limit (OpenAI and Groq allow that).
UNLIMITED_BUDGET: Final = 4096
#: Headers (and the role chunk / message_start) go out at this share of the sampled TTFT,
#: like a real server that acknowledges once the request is scheduled, before the first token.
HEADERS_SHARE_OF_TTFT: Final = 0.5
#: Prompt cache defaults: every lookup of a cached prefix hits, cached tokens are read five
#: times faster than they are prefilled (OpenAI: prompt caching "can reduce time-to-first-token
#: latency by up to 80%"), and nothing shorter than 1,024 tokens is cached (OpenAI's minimum;
#: Anthropic's for most models).
CACHE_HIT_RATE: Final = 1.0
CACHE_SPEEDUP: Final = 5.0
CACHE_MIN_TOKENS: Final = 1024
#: Share of requests carrying ``tools`` (with ``tool_choice`` auto or unset) that answer with a
#: tool call; ``required`` / ``any`` / a named tool always do, ``none`` never does.
TOOL_CALL_SHARE: Final = 1.0
#: The provider kinds a run names in ``provider`` (openai and openai-compatible share ``/v1``).
PROVIDER_KINDS: Final[tuple[str, ...]] = ("groq", "openai", "anthropic", "openai-compatible")

_ANSWER_WORDS: Final = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "we",
    "measure",
    "how",
    "fast",
    "each",
    "token",
    "arrives",
    "at",
    "the",
    "client",
    "and",
    "how",
    "long",
    "the",
    "first",
    "one",
    "takes",
    "to",
    "show",
    "up",
    "on",
    "screen",
    "so",
    "that",
    "numbers",
    "stay",
    "honest",
    "and",
    "repeatable",
    "across",
    "runs",
    "and",
    "machines",
]
_REASONING_WORDS: Final = [
    "the",
    "user",
    "asks",
    "for",
    "a",
    "short",
    "answer",
    "so",
    "we",
    "should",
    "think",
    "about",
    "what",
    "they",
    "need",
    "then",
    "reply",
    "with",
    "a",
    "clear",
    "and",
    "brief",
    "explanation",
]


class OverrideError(EmulatorRequestError, ValueError):
    """A malformed ``x-bench-emulator`` header: the harness sent something it should not."""


@dataclass(frozen=True)
class Override:
    """The per-request ``x-bench-emulator`` JSON, checked. ``None`` means "keep the profile's".

    Profile: ``ttft_ms``, ``tokens_per_s``, ``jitter`` (0-5), ``reasoning_tokens``,
    ``empty_chunk_share`` (share of answer chunks with ``""`` content), ``natural_tokens``
    (median length the model stops at by itself), ``ttfb_ms`` (when headers go out; default
    half the TTFT), ``prefill_tokens_per_s`` (prompt reading speed: TTFT grows with the prompt),
    ``cache_hit_rate`` / ``cache_speedup`` / ``cache_min_tokens`` (the prompt cache, see
    ``prompt_cache``), ``tool_call_share`` (share of requests with ``tools`` that call one).
    Provider: ``provider`` (the target's kind: groq, openai, anthropic, openai-compatible;
    with it, a model the catalogue does not know, or has retired, gets the provider's own
    error unless this override also gives a profile key, see :data:`PROFILE_KEYS`).
    Randomness: ``seed`` (this request's draws; without it the server's seeded
    generator is used). Faults: ``faults`` (kind -> share of requests, see
    ``faults.FAULT_KINDS``), ``retry_after_s`` (the 429's ``retry-after``, default 1),
    ``should_retry`` (send ``x-should-retry``), ``stall_s`` (how long ``timeout`` stalls,
    default 300). Quirks: ``omit_usage`` (no usage in the stream, even when asked),
    ``omit_done`` (end without ``[DONE]`` / ``message_stop``). Queueing: ``capacity`` (how many
    requests the model serves at once; see ``server.SlotPool``: beyond it a request waits in a
    FIFO queue and the wait is added to its whole response, first token included).
    """

    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    jitter: float | None = None
    reasoning_tokens: int | None = None
    empty_chunk_share: float | None = None
    natural_tokens: int | None = None
    ttfb_ms: float | None = None
    faults: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    omit_usage: bool = False
    omit_done: bool = False
    retry_after_s: float | None = None
    should_retry: bool | None = None
    stall_s: float | None = None
    capacity: int | None = None
    prefill_tokens_per_s: float | None = None
    cache_hit_rate: float | None = None
    cache_speedup: float | None = None
    cache_min_tokens: int | None = None
    tool_call_share: float | None = None
    provider: str | None = None

    @property
    def gives_profile(self) -> bool:
        """Whether this override describes the model's behaviour itself (a ``[target.emulator]``
        with any profile key), so a model the catalogue does not know can still be served."""
        return any(getattr(self, key) is not None for key in PROFILE_KEYS)


#: The keys that describe how a model answers (its latency profile, prompt cache and tool
#: use), as opposed to per-request controls (seed, provider), faults and server quirks.
PROFILE_KEYS: Final[tuple[str, ...]] = (
    "ttft_ms",
    "tokens_per_s",
    "jitter",
    "reasoning_tokens",
    "empty_chunk_share",
    "natural_tokens",
    "ttfb_ms",
    "prefill_tokens_per_s",
    "cache_hit_rate",
    "cache_speedup",
    "cache_min_tokens",
    "tool_call_share",
)
#: Keys a server-wide setting (``--set``, ``bench run --emulator-set``) may give: everything
#: but what only makes sense per request.
SETTING_KEYS: Final[tuple[str, ...]] = tuple(f.name for f in fields(Override) if f.name not in ("seed", "provider"))

_OVERRIDE_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "ttft_ms": (int, float),
    "tokens_per_s": (int, float),
    "jitter": (int, float),
    "reasoning_tokens": (int,),
    "empty_chunk_share": (int, float),
    "natural_tokens": (int,),
    "ttfb_ms": (int, float),
    "faults": (dict,),
    "seed": (int,),
    "omit_usage": (bool,),
    "omit_done": (bool,),
    "retry_after_s": (int, float),
    "should_retry": (bool,),
    "stall_s": (int, float),
    "capacity": (int,),
    "prefill_tokens_per_s": (int, float),
    "cache_hit_rate": (int, float),
    "cache_speedup": (int, float),
    "cache_min_tokens": (int,),
    "tool_call_share": (int, float),
    "provider": (str,),
}
_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "ttft_ms": (0, 600_000),
    "tokens_per_s": (1e-3, 1e6),
    "jitter": (0, 5),  # as a scenario allows; the per-token spread is capped below 1 anyway
    "reasoning_tokens": (0, 1_000_000),
    "empty_chunk_share": (0, 1),
    "natural_tokens": (1, 1_000_000),
    "ttfb_ms": (0, 600_000),
    "retry_after_s": (0, 1e9),
    "stall_s": (0, 3_600),
    "capacity": (1, 100_000),
    "prefill_tokens_per_s": (1, 1e9),
    "cache_hit_rate": (0, 1),
    "cache_speedup": (1, 1e6),
    "cache_min_tokens": (1, 1_000_000),
    "tool_call_share": (0, 1),
}


def parse_override(raw: Any, fault_kinds: tuple[str, ...]) -> Override:
    """Check a decoded ``x-bench-emulator`` object; unknown keys and bad values are errors."""
    if not isinstance(raw, dict):
        raise OverrideError("x-bench-emulator must be a JSON object")
    for key, value in raw.items():
        types = _OVERRIDE_TYPES.get(key)
        if types is None:
            raise OverrideError(f"x-bench-emulator: unknown key {key!r}")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise OverrideError(f"x-bench-emulator: {key} has the wrong type")
        low, high = _BOUNDS.get(key, (-math.inf, math.inf))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not low <= value <= high:
            raise OverrideError(f"x-bench-emulator: {key} must be in [{low:g}, {high:g}]")
    if raw.get("provider", PROVIDER_KINDS[0]) not in PROVIDER_KINDS:
        raise OverrideError(f"x-bench-emulator: provider must be one of {', '.join(PROVIDER_KINDS)}")
    faults = raw.get("faults", {})
    for kind, share in faults.items():
        if kind not in fault_kinds:
            raise OverrideError(f"x-bench-emulator: unknown fault kind {kind!r}")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise OverrideError(f"x-bench-emulator: fault share {kind} must be in [0, 1]")
    if sum(faults.values()) > 1 + 1e-9:
        raise OverrideError("x-bench-emulator: fault shares add up to more than 1")
    return Override(**{**raw, "faults": {k: float(v) for k, v in faults.items()}})


def parse_settings(items: Iterable[str], fault_kinds: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` settings for every request (``--set``), checked like the header.

    VALUE is written as in a scenario file (TOML): ``ttft_ms=400``, ``omit_usage=true``,
    ``faults={rate_limited = 0.1}``. Raises OverrideError naming the setting and the problem.
    """
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OverrideError(f"{item!r}: expected KEY=VALUE, e.g. ttft_ms=400")
        if key not in SETTING_KEYS:
            raise OverrideError(f"{item!r}: unknown key {key!r}; known: {', '.join(SETTING_KEYS)}")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise OverrideError(f"{item!r}: {text.strip()!r} is not a value (a number, true/false or {{...}})") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise OverrideError(f"{item!r}: {key} must be a finite number")
        try:
            parse_override({key: value}, fault_kinds)
        except OverrideError as exc:
            raise OverrideError(f"{item!r}: {str(exc).removeprefix('x-bench-emulator: ')}") from None
        settings[key] = value
    return settings


def format_setting(key: str, value: Any) -> str:
    """``KEY=VALUE`` that :func:`parse_settings` reads back to ``value`` (for a child's argv)."""

    def toml(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f'"{k}" = {toml(x)}' for k, x in v.items()) + "}"
        return repr(v)

    return f"{key}={toml(value)}"


def with_settings(override: Override, settings: Mapping[str, Any]) -> Override:
    """The request's override with the server-wide settings on top (they beat the target's
    own ``[target.emulator]``: the command line beats the file)."""
    if not settings:
        return override
    changes = dict(settings)
    if "faults" in changes:
        changes["faults"] = {k: float(v) for k, v in changes["faults"].items()}
    return replace(override, **changes)


@dataclass(frozen=True)
class Profile:
    """The latency profile one request is served with (catalogue entry + override)."""

    ttft_ms: float
    tokens_per_s: float
    jitter: float
    reasoning: bool
    reasoning_tokens: int
    empty_chunk_share: float = 0.0
    natural_tokens: int = NATURAL_TOKENS_MEDIAN
    ttfb_ms: float | None = None
    prefill_tokens_per_s: float | None = None
    cache_hit_rate: float = CACHE_HIT_RATE
    cache_speedup: float = CACHE_SPEEDUP
    cache_min_tokens: int = CACHE_MIN_TOKENS
    tool_call_share: float = TOOL_CALL_SHARE

    def prefill_s(self, prompt_tokens: int, cached_tokens: int) -> float:
        """Seconds spent reading the prompt before the first token (0 without a prefill speed)."""
        if self.prefill_tokens_per_s is None:
            return 0.0
        fresh = max(0, prompt_tokens - cached_tokens)
        return (fresh + cached_tokens / self.cache_speedup) / self.prefill_tokens_per_s


def resolve_profile(info: ModelInfo, override: Override) -> Profile:
    """The catalogue's profile with the override's non-None fields on top."""

    def pick(name: str, default: Any) -> Any:
        value = getattr(override, name)
        return default if value is None else value

    return Profile(
        ttft_ms=float(pick("ttft_ms", info.ttft_ms)),
        tokens_per_s=float(pick("tokens_per_s", info.tokens_per_s)),
        jitter=float(pick("jitter", info.jitter)),
        reasoning=info.reasoning,
        reasoning_tokens=int(pick("reasoning_tokens", info.reasoning_tokens)),
        empty_chunk_share=float(pick("empty_chunk_share", info.empty_chunk_share)),
        natural_tokens=int(pick("natural_tokens", NATURAL_TOKENS_MEDIAN)),
        ttfb_ms=override.ttfb_ms,
        prefill_tokens_per_s=override.prefill_tokens_per_s,
        cache_hit_rate=float(pick("cache_hit_rate", CACHE_HIT_RATE)),
        cache_speedup=float(pick("cache_speedup", CACHE_SPEEDUP)),
        cache_min_tokens=int(pick("cache_min_tokens", CACHE_MIN_TOKENS)),
        tool_call_share=float(pick("tool_call_share", TOOL_CALL_SHARE)),
    )


@dataclass(frozen=True)
class Plan:
    """One response, decided before the first byte is written.

    ``offsets_s[i]`` is when streamed token ``i`` is due, in seconds after the request was read;
    the first ``n_streamed_reasoning`` tokens are reasoning. ``finish`` is ``"stop"`` (the model
    ended by itself) or ``"length"`` (it hit the budget); dialects translate it.
    """

    ttfb_s: float
    offsets_s: tuple[float, ...]
    texts: tuple[str, ...]
    n_streamed_reasoning: int
    reasoning_tokens: int
    answer_tokens: int
    finish: str
    interval_s: float
    queue_s: float
    prefill_s: float = 0.0

    @property
    def completion_tokens(self) -> int:
        """What usage reports: the answer plus every reasoning token, streamed or hidden."""
        return self.reasoning_tokens + self.answer_tokens

    @property
    def end_s(self) -> float:
        """When generation ends: one interval after the last token was due."""
        last = self.offsets_s[-1] if self.offsets_s else self.ttfb_s
        return last + self.interval_s

    @property
    def answer_text(self) -> str:
        return "".join(self.texts[self.n_streamed_reasoning :])

    @property
    def reasoning_text(self) -> str:
        return "".join(self.texts[: self.n_streamed_reasoning])


def _words(rng: random.Random, vocabulary: tuple[str, ...] | list[str], n: int) -> list[str]:
    """``n`` seeded words, the first without a leading space. One ``choices`` call: planning runs
    on the emulator's loop when a request arrives, and other arrivals wait to be stamped."""
    words = [" " + word for word in rng.choices(vocabulary, k=n)]
    if words:
        words[0] = words[0][1:]
    return words


def plan_response(
    profile: Profile,
    rng: random.Random,
    *,
    budget: int | None,
    ignore_eos: bool,
    think: bool,
    stream_reasoning: bool,
    prefill_s: float = 0.0,
) -> Plan:
    """Decide timing, length and words of one response.

    ``budget`` is the request's max_tokens (None: no limit). ``think`` says whether this
    response reasons first; ``stream_reasoning`` whether those tokens are sent (Groq, Anthropic
    thinking) or only counted and paid for in time (OpenAI). Reasoning takes at most half the
    budget, so any request with a budget of two or more gets an answer: the real service may
    spend it all on thinking, which only makes a benchmark's numbers empty. ``prefill_s`` (the
    prompt's reading time, :meth:`Profile.prefill_s`) delays the first token, not the headers;
    it draws nothing, so a seeded response's words and lengths do not depend on it.
    """
    jitter = profile.jitter
    ttft_s = profile.ttft_ms / 1000 * math.exp(jitter * rng.gauss(0.0, 1.0))
    speed = profile.tokens_per_s * math.exp(jitter / 2 * rng.gauss(0.0, 1.0))
    interval_s = 1.0 / speed
    natural = max(1, round(profile.natural_tokens * math.exp(0.5 * rng.gauss(0.0, 1.0))))
    limit = UNLIMITED_BUDGET if budget is None else max(1, budget)

    n_reasoning = min(profile.reasoning_tokens, limit // 2) if think else 0
    room = limit - n_reasoning
    if ignore_eos or natural > room:
        n_answer, finish = room, "length"
    else:
        n_answer, finish = natural, "stop"
    if budget is None and finish == "length":
        finish = "stop"  # no limit was asked for: the model just stopped there

    hidden_s = 0.0 if stream_reasoning else n_reasoning * interval_s
    n_streamed_reasoning = n_reasoning if stream_reasoning else 0
    first_s = ttft_s + prefill_s + hidden_s
    spread = min(jitter, 0.95)
    offsets = [first_s]
    for _ in range(n_streamed_reasoning + n_answer - 1):
        offsets.append(offsets[-1] + interval_s * (1.0 + spread * (2.0 * rng.random() - 1.0)))

    texts = _words(rng, _REASONING_WORDS, n_streamed_reasoning)
    answer = _words(rng, _ANSWER_WORDS, n_answer)
    if profile.empty_chunk_share > 0:
        answer = [("" if rng.random() < profile.empty_chunk_share else t) for t in answer]
    ttfb_s = ttft_s * HEADERS_SHARE_OF_TTFT if profile.ttfb_ms is None else profile.ttfb_ms / 1000
    return Plan(
        ttfb_s=min(ttfb_s, first_s),
        offsets_s=tuple(offsets),
        texts=tuple(texts + answer),
        n_streamed_reasoning=n_streamed_reasoning,
        reasoning_tokens=n_reasoning,
        answer_tokens=n_answer,
        finish=finish,
        interval_s=interval_s,
        queue_s=ttft_s * rng.uniform(0.1, 0.4),
        prefill_s=prefill_s,
    )


def prompt_tokens(text_chars: int) -> int:
    """Groq-style estimate of input tokens: about four characters each, at least one."""
    return max(1, round(text_chars / 4))
