"""Prompt sets: seeded synthetic prompts of a given length, or a JSONL file of message lists.

Every request gets a unique prompt (a short seeded marker first) so that a provider's prompt
cache cannot flatter first-token times: with caching, repeated prompts skip prefill and TTFT
drops. A scenario that wants to measure the cache says so (``shared_prefix_tokens`` and
``cache = "warm"``): then every request opens with the same prefix, marked for Anthropic's
explicit cache, and the marker follows it; cold keeps the marker first, so the same prefix is
never a cached one (docs/scenarios.md).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from bench.errors import ScenarioError
from bench.scenario.lengths import Length, LengthDistribution, length_for
from bench.scenario.trace import BLOCK_TOKENS

#: Common short English words: each is about one token in the GPT/Llama tokenizers, so
#: ``input_tokens`` words make a prompt of roughly that many tokens.
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "was",
    "with",
    "as",
    "be",
    "at",
    "by",
    "this",
    "had",
    "not",
    "are",
    "but",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "one",
    "you",
    "were",
    "all",
    "we",
    "her",
    "she",
    "there",
    "would",
    "their",
    "will",
    "when",
    "who",
    "him",
    "been",
    "has",
    "more",
    "if",
    "no",
    "out",
    "do",
    "so",
    "can",
    "what",
    "up",
    "said",
    "about",
    "other",
    "into",
    "than",
    "its",
    "time",
    "only",
    "could",
    "new",
    "them",
    "man",
    "some",
    "these",
    "then",
    "two",
    "first",
    "may",
    "any",
    "like",
    "now",
    "my",
    "such",
    "make",
    "over",
    "our",
    "even",
    "most",
    "me",
    "state",
    "after",
    "also",
    "made",
    "many",
    "did",
    "must",
    "before",
    "back",
    "see",
    "through",
    "way",
    "where",
    "get",
    "much",
    "go",
    "well",
    "your",
    "know",
    "should",
    "down",
    "work",
    "year",
    "because",
    "come",
    "people",
    "just",
    "say",
    "each",
    "those",
    "take",
    "day",
    "good",
    "how",
    "long",
    "little",
    "use",
    "very",
    "great",
    "world",
    "own",
    "under",
    "last",
    "right",
    "still",
    "old",
    "while",
    "might",
]

PROMPT_NOTE = (
    "every request's prompt starts with a unique seeded prefix, so provider prompt caches cannot "
    "shorten prefill and flatter first-token times"
)

#: What a run says instead when its prompts share text a cache can reuse, on purpose.
SHARED_NOTE = (
    "requests share prompt text on purpose (a warm shared prefix, or a replayed trace's shared blocks), so a "
    "provider's prompt cache may serve part of each prompt: cached_input_tokens says how much"
)

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class PromptSet:
    """Base message lists; ``for_request`` makes each one unique.

    ``lengths`` (synthetic prompts drawn from a distribution): each request's text is made for
    it, at its own seeded length, instead of taken from ``bases``. ``input_tokens`` is the
    length every synthetic prompt asks for when it is one number.
    """

    bases: tuple[tuple[dict[str, Any], ...], ...]
    seed: int
    lengths: LengthDistribution | None = None
    input_tokens: int | None = None
    #: Text every request's first user message opens with (after the marker when cold).
    shared_prefix: str = ""
    #: The prefix comes first, marked for caching, and a primer sends it before the level.
    warm: bool = False

    @cached_property
    def prefix_tokens(self) -> int:
        """The shared prefix's length in bench's words (about a token each); counted once, not
        per request."""
        return len(self.shared_prefix.split())

    def asked(self, key: str) -> int | None:
        """The prompt length request ``key`` asks for (None for a prompt file's own messages)."""
        if self.lengths is not None:
            return length_for(self.lengths, self.seed, key)
        return self.input_tokens

    def for_request(self, key: str, length: int | None = None) -> Messages:
        """A unique prompt for the request identified by ``key`` (deterministic); with drawn
        lengths, ``length`` words long (default: the draw for ``key``)."""
        rng = random.Random(f"{self.seed}:{key}")
        if self.lengths is not None:
            own = (length or length_for(self.lengths, self.seed, key)) - self.prefix_tokens - 8
            words = " ".join(rng.choices(_WORDS, k=max(1, own)))
            return self._opened([{"role": "user", "content": f"Continue this text: {words}"}], f"[{rng.getrandbits(48):012x}] ")
        base = self.bases[rng.randrange(len(self.bases))]
        return self._opened([dict(m) for m in base], f"[{rng.getrandbits(48):012x}] ")

    def for_trace(self, hash_ids: tuple[int, ...], length: int, key: str) -> Messages:
        """A replayed trace line's prompt: its blocks' seeded text (the same text wherever the
        trace names the same block, so shared prefixes are shared), cut to ``length`` words,
        then a unique marker at the end so no two prompts are the same whole."""
        # A replay builds each prompt as its request is due, so all of this can be start lag
        # (docs/scale.md, "Trace replay start lag"): whole blocks are cached strings, the last,
        # partial one is a slice of its cached text, and the prompt is one join.
        want = max(1, length - 1)
        parts = [_block_text(self.seed, block) for block in hash_ids[: want // BLOCK_TOKENS]]
        missing = want - len(parts) * BLOCK_TOKENS
        if missing and len(hash_ids) > len(parts):
            cut = min(missing, BLOCK_TOKENS)
            parts.append(_block_head(self.seed, hash_ids[len(parts)], cut))
            missing -= cut
        if missing:  # the trace names fewer blocks than its length needs: seeded words for the rest
            rng = random.Random(f"{self.seed}:{key}:tail")
            parts.append(" ".join(rng.choices(_WORDS, k=missing)))
        parts.append(f"[{random.Random(f'{self.seed}:{key}').getrandbits(48):012x}]")
        return [{"role": "user", "content": " ".join(parts)}]

    def follow_up(self, key: str) -> dict[str, Any]:
        """The next user message of a conversation (seeded, about 32 tokens)."""
        rng = random.Random(f"{self.seed}:follow-up:{key}")
        words = " ".join(rng.choices(_WORDS, k=24))
        return {"role": "user", "content": f"[{rng.getrandbits(48):012x}] Thank you. Now go on from there: {words}"}

    def primer(self) -> Messages:
        """A request that puts the shared prefix in the provider's cache (sent off the record)."""
        return self._opened([{"role": "user", "content": "Say OK."}], "[primer] ")

    def _opened(self, messages: Messages, marker: str) -> Messages:
        """``messages`` with the first user message opened by the marker and the shared prefix:
        warm, the prefix first as a block of its own marked ``cache_control`` (Anthropic caches
        only what is marked; the chat wire sends the blocks as one string, as OpenAI and Groq
        cache any identical opening); cold, the unique marker first."""
        for message in messages:
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                break
        else:
            message = {"role": "user", "content": ""}
            messages.insert(0, message)
        text = str(message["content"])
        if not self.shared_prefix:
            message["content"] = (marker + text) if text else marker.strip()
        elif self.warm:
            message["content"] = [
                {"type": "text", "text": self.shared_prefix + "\n\n", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": marker + text},
            ]
        else:
            message["content"] = marker + self.shared_prefix + "\n\n" + text
        return messages


def synthetic(
    input_tokens: Length, seed: int, variants: int = 16, *, shared_prefix_tokens: int = 0, warm: bool = False
) -> PromptSet:
    shared = shared_prefix(shared_prefix_tokens, seed)
    if isinstance(input_tokens, LengthDistribution):
        return PromptSet((), seed, lengths=input_tokens, shared_prefix=shared, warm=warm)
    rng = random.Random(seed)
    bases = []
    for _ in range(variants):
        words = " ".join(rng.choice(_WORDS) for _ in range(max(1, input_tokens - shared_prefix_tokens - 8)))
        text = f"Continue this text: {words}"
        bases.append(({"role": "user", "content": text},))
    return PromptSet(tuple(bases), seed, input_tokens=input_tokens, shared_prefix=shared, warm=warm)


@lru_cache(maxsize=8192)
def _block_text(seed: int, block: int) -> str:
    """One trace block's text: 512 seeded words (about a token each), the same for every request
    naming it.

    Cached as the string alone: the words were also cached as a tuple of 512 strings, which
    every young-generation collection traversed, ~1 ms a collection on a 2-core box during a
    replay (docs/scale.md, "Trace replay start lag")."""
    return " ".join(random.Random(f"{seed}:block:{block}").choices(_WORDS, k=BLOCK_TOKENS))


def _block_head(seed: int, block: int, words: int) -> str:
    """A block's first ``words`` words: a slice of its cached text (the split to find where
    they end runs in C; nothing of it is kept)."""
    text = _block_text(seed, block)
    if words >= BLOCK_TOKENS:
        return text
    cut = text.split(" ", words)  # ``words`` words and the rest, in C
    return text[: sum(map(len, cut[:words])) + words - 1]


def shared_prefix(tokens: int, seed: int) -> str:
    """``tokens`` seeded words every request of a scenario shares ("" for none)."""
    if tokens <= 0:
        return ""
    rng = random.Random(f"{seed}:shared-prefix")
    return "Read this first: " + " ".join(rng.choices(_WORDS, k=max(1, tokens - 3)))


ROLES = ("system", "developer", "user", "assistant")


def _message_problem(messages: list[dict[str, Any]]) -> str | None:
    """What a provider would reject with a 400 on every request, caught before any is sent."""
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role not in ROLES:
            return f"message {i}: role {role!r} is not one of {', '.join(ROLES)}"
        if isinstance(content, str):
            if not content.strip():
                return f"message {i}: content is empty"
        elif not (isinstance(content, list) and content):  # content parts (text/image blocks)
            return f"message {i}: content must be a string or a non-empty list of content parts"
    if not any(m["role"] == "user" for m in messages):
        return "no user message (providers need at least one)"
    return None


def read_prompt_file(path: Path, scenario_path: str = "") -> PromptSet:
    """One JSON list of ``{"role", "content"}`` messages per line; blank lines are skipped."""
    where = scenario_path or str(path)
    bases = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, "prompts.path", f"cannot read {path}: {exc}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScenarioError(where, "prompts.path", f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if isinstance(messages, dict) and "messages" in messages:
            messages = messages["messages"]
        if not (
            isinstance(messages, list)
            and messages
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages)
        ):
            raise ScenarioError(
                where, "prompts.path", f'{path}:{lineno}: expected a JSON list of {{"role": ..., "content": ...}} messages'
            )
        problem = _message_problem(messages)
        if problem:
            raise ScenarioError(where, "prompts.path", f"{path}:{lineno}: {problem}")
        bases.append(tuple(messages))
    if not bases:
        raise ScenarioError(where, "prompts.path", f"{path}: no prompts in file")
    return PromptSet(tuple(bases), 0)


def prompt_set(
    source: str, input_tokens: Length, seed: int, path: Path | None, *, shared_prefix_tokens: int = 0, cache: str = "cold"
) -> PromptSet:
    warm = cache == "warm"
    if source == "file" and path is not None:
        ps = read_prompt_file(path)
        return PromptSet(ps.bases, seed, shared_prefix=shared_prefix(shared_prefix_tokens, seed), warm=warm)
    return synthetic(input_tokens, seed, shared_prefix_tokens=shared_prefix_tokens, warm=warm)
