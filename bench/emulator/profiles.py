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

Token times are offsets from the moment the request was read; the server sleeps until each
absolute deadline, so sleep overshoot never accumulates into the rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
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
    half the TTFT). Randomness: ``seed`` (this request's draws; without it the server's seeded
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
            raise OverrideError(f"x-bench-emulator: {key} must be in [{low}, {high}]")
    faults = raw.get("faults", {})
    for kind, share in faults.items():
        if kind not in fault_kinds:
            raise OverrideError(f"x-bench-emulator: unknown fault kind {kind!r}")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise OverrideError(f"x-bench-emulator: fault share {kind} must be in [0, 1]")
    if sum(faults.values()) > 1 + 1e-9:
        raise OverrideError("x-bench-emulator: fault shares add up to more than 1")
    return Override(**{**raw, "faults": {k: float(v) for k, v in faults.items()}})


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
) -> Plan:
    """Decide timing, length and words of one response.

    ``budget`` is the request's max_tokens (None: no limit). ``think`` says whether this
    response reasons first; ``stream_reasoning`` whether those tokens are sent (Groq, Anthropic
    thinking) or only counted and paid for in time (OpenAI). Reasoning takes at most half the
    budget, so any request with a budget of two or more gets an answer: the real service may
    spend it all on thinking, which only makes a benchmark's numbers empty.
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
    first_s = ttft_s + hidden_s
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
    )


def prompt_tokens(text_chars: int) -> int:
    """Groq-style estimate of input tokens: about four characters each, at least one."""
    return max(1, round(text_chars / 4))
