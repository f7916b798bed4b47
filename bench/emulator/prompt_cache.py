"""The emulator's prompt cache: which part of a prompt was read before, and what usage says.

Real providers cache the prompt by exact prefix; so does the emulator, with a simple rule per
wire format (docs/emulator.md, "Prompt cache"):

* **OpenAI, Groq, openai-compatible** (automatic): the prompt is cut into blocks of 128 tokens
  (512 characters, the emulator's four characters a token); a request is served from the
  longest run of leading blocks that an earlier request of the same model already sent, counted
  only from ``cache_min_tokens`` (1,024 by default: OpenAI caches from 1,024 tokens, in 128-token
  steps). Every request stores its own blocks for the next ones.
* **Anthropic** (explicit): ``cache_control`` on a content block (a tool, a system block or a
  message block; at most four) marks the prefix up to and including it. A request reads the
  longest marked prefix seen before — also one that ends at any of the 20 content blocks before
  one of its own marks, as Anthropic looks back for a hit — and writes the prefix up to its last
  mark when that was not cached (``cache_creation_input_tokens``). Prefixes shorter than
  ``cache_min_tokens`` are not cached.

A prefix is identified by a hash of everything before it — each piece's kind (tool, system,
role, block type) and its text — so two prompts share a block only when they are identical up
to its end. ``cache_hit_rate`` is the chance that a request finds what is cached (real caches
are best-effort: another replica may serve it); a miss still stores its prefix. Entries never
expire; the least recently used go beyond :data:`MAX_ENTRIES`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

#: Characters per token in the emulator's estimate (``profiles.prompt_tokens``).
CHARS_PER_TOKEN: Final = 4
#: Tokens per cache block (OpenAI's increment) and the characters that make one.
BLOCK_TOKENS: Final = 128
BLOCK_CHARS: Final = BLOCK_TOKENS * CHARS_PER_TOKEN
#: Content blocks Anthropic looks back from a breakpoint for an earlier cached prefix.
LOOKBACK_BLOCKS: Final = 20
#: Anthropic allows this many ``cache_control`` marks per request.
MAX_BREAKPOINTS: Final = 4
#: Prefixes kept per emulator (about 100 bytes each: ~7 MB; 8M tokens of 128-token blocks).
MAX_ENTRIES: Final = 65_536


def tokens_of(chars: int) -> int:
    """The emulator's token count for ``chars`` characters of prompt text."""
    return round(chars / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Mark:
    """A point in the prompt: ``chars`` of text before it, and the hash of everything before it."""

    chars: int
    digest: bytes
    #: Anthropic's ``cache_control.ttl`` at a breakpoint ("5m" or "1h"); "" elsewhere.
    ttl: str = ""


@dataclass(frozen=True)
class PromptShape:
    """What the cache needs from one prompt: its length, and its prefixes' hashes.

    ``blocks``: one mark every :data:`BLOCK_CHARS` characters; ``boundaries``: one at the end
    of every content block; ``breakpoints``: the content blocks marked with ``cache_control``.
    """

    chars: int = 0
    blocks: tuple[Mark, ...] = ()
    boundaries: tuple[Mark, ...] = ()
    breakpoints: tuple[Mark, ...] = ()


class PrefixHasher:
    """Builds a :class:`PromptShape` from the prompt's pieces, in the order the model reads them."""

    def __init__(self) -> None:
        # SHA-256, not BLAKE2: CPUs hash it in hardware (~2x faster here on a 128 KB prompt).
        self._hash = hashlib.sha256()
        self._chars = 0
        self._blocks: list[Mark] = []
        self._boundaries: list[Mark] = []
        self._breakpoints: list[Mark] = []

    def kind(self, name: str) -> None:
        """A piece's kind (a role, a block type): part of the prefix, but no text of its own."""
        self._hash.update(b"\x00" + name.encode() + b"\x00")

    def text(self, text: str) -> None:
        """Prompt text: counted, hashed, and cut into blocks."""
        # One slice per block: the first fills the block already begun, the rest are whole.
        # Runs on the emulator's loop for every request (a 32k-token prompt is 250 blocks).
        update, blocks, size = self._hash.update, self._blocks, len(text)
        first = min(size, BLOCK_CHARS - self._chars % BLOCK_CHARS)
        for start in (0, *range(first, size, BLOCK_CHARS)):
            end = first if start == 0 else min(size, start + BLOCK_CHARS)
            if end <= start:
                continue
            update(text[start:end].encode())
            self._chars += end - start
            if self._chars % BLOCK_CHARS == 0:
                blocks.append(Mark(self._chars, self._hash.copy().digest()[:16]))

    def end_block(self, cache_control: object = None) -> None:
        """A content block ends here; ``cache_control`` (Anthropic) makes it a breakpoint."""
        self._boundaries.append(self._mark())
        if isinstance(cache_control, dict):
            ttl = "1h" if cache_control.get("ttl") == "1h" else "5m"
            self._breakpoints.append(self._mark(ttl))

    def _mark(self, ttl: str = "") -> Mark:
        return Mark(self._chars, self._hash.copy().digest()[:16], ttl)

    def shape(self) -> PromptShape:
        return PromptShape(self._chars, tuple(self._blocks), tuple(self._boundaries), tuple(self._breakpoints))


@dataclass(frozen=True)
class CacheUse:
    """How one request's prompt met the cache, in tokens.

    ``read``: served from the cache (OpenAI/Groq ``cached_tokens``, Anthropic
    ``cache_read_input_tokens``); ``written_5m`` / ``written_1h``: Anthropic's
    ``cache_creation_input_tokens``, by the breakpoint's ttl (0 for the automatic caches,
    which bill no writes).
    """

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h


class PromptCache:
    """The prefixes seen so far, per (wire format, model), least recently used evicted first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._seen: OrderedDict[tuple[str, str, bytes], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _has(self, key: tuple[str, str, bytes]) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        return False

    def _store(self, key: tuple[str, str, bytes]) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def automatic(self, scope: tuple[str, str], shape: PromptShape, *, hit: bool, min_tokens: int) -> CacheUse:
        """OpenAI's rule: the longest cached run of whole blocks, from ``min_tokens`` on."""
        eligible = [m for m in shape.blocks if tokens_of(m.chars) >= min_tokens]
        read = 0
        if hit:
            for mark in reversed(eligible):
                if self._has((*scope, mark.digest)):
                    read = tokens_of(mark.chars)
                    break
        for mark in eligible:
            self._store((*scope, mark.digest))
        return CacheUse(read=read)

    def explicit(self, scope: tuple[str, str], shape: PromptShape, *, hit: bool, min_tokens: int) -> CacheUse:
        """Anthropic's rule: marked prefixes, read with a look-back, the last one written."""
        marks = [m for m in shape.breakpoints if tokens_of(m.chars) >= min_tokens]
        if not marks:
            return CacheUse()
        read = 0
        if hit:
            candidates: dict[bytes, int] = {}
            for mark in marks:
                before = [b for b in shape.boundaries if b.chars <= mark.chars][-LOOKBACK_BLOCKS - 1 :]
                candidates.update((b.digest, b.chars) for b in before if tokens_of(b.chars) >= min_tokens)
                candidates[mark.digest] = mark.chars
            found = [chars for digest, chars in candidates.items() if self._has((*scope, digest))]
            read = tokens_of(max(found)) if found else 0
        last = marks[-1]
        written = max(0, tokens_of(last.chars) - read)
        for mark in marks:
            self._store((*scope, mark.digest))
        return CacheUse(read=read, written_1h=written if last.ttl == "1h" else 0, written_5m=0 if last.ttl == "1h" else written)
