"""Request shapes: the groups a scenario's ladders, cache states and length bins make.

First-token time depends on the prompt as much as on the load, so a ladder of prompt lengths
(``input_tokens = [128, 2000, 8000]``), of response lengths (``max_tokens = [64, 512]``) or
both cache states (``cache = ["cold", "warm"]``) makes each combination a group of its own,
like a load level: ``requests`` of each, judged and reported apart. Drawn or replayed lengths
are grouped by the ``bins`` a scenario declares. docs/scenarios.md, "Request shapes".

A group's shape is one short label (``input 2000, warm``; ``input 1000-7999``), written with
every record (the ``shape`` column) so that results, reports and the gate group by it without
the scenario. The label is also what a ``[slo.class.NAME]`` selects by: :func:`parse` reads it
back, here beside the one function that writes it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Shape:
    """One combination of a scenario's ladders and cache states. A dimension the scenario does
    not vary is ``None``: a scenario with no ladder and one cache state has one shape, whose
    label is empty, so its groups are the plain (target, level) groups they always were."""

    input_tokens: int | None = None
    max_tokens: int | None = None
    cache: str | None = None

    @property
    def label(self) -> str:
        parts = []
        if self.input_tokens is not None:
            parts.append(f"input {self.input_tokens}")
        if self.max_tokens is not None:
            parts.append(f"output {self.max_tokens}")
        if self.cache is not None:
            parts.append(self.cache)
        return ", ".join(parts)

    @property
    def changes_prompts(self) -> bool:
        """Whether requests of this shape need prompts of their own (another length or cache)."""
        return self.input_tokens is not None or self.cache is not None

    def with_bin(self, bins: Sequence[int], length: int | None) -> str:
        """This shape's label with the bin ``length`` falls in (``bins`` empty: the label)."""
        if not bins or length is None:
            return self.label
        return ", ".join(part for part in (bin_label(bins, length), self.label) if part)


def shapes(input_tokens: Any, max_tokens: Any, cache: Any) -> list[Shape]:
    """Every shape a scenario runs, in the order they run: input rungs outermost, then output
    rungs, then cache states (cold before warm, as written). A dimension that is not a list
    varies nothing and stays out of the labels."""
    ins = input_tokens if isinstance(input_tokens, list) else [None]
    outs = max_tokens if isinstance(max_tokens, list) else [None]
    caches = cache if isinstance(cache, list) else [None]
    return [Shape(i, o, c) for i in ins for o in outs for c in caches]


def bin_label(bins: Sequence[int], length: int) -> str:
    """``input 1000-7999`` for the bin of ``bins`` (ascending lower edges) ``length`` is in;
    the last bin is open (``input 8000+``); below the first edge, ``input <1000``."""
    i = bisect.bisect_right(bins, length) - 1
    if i < 0:
        return f"input <{bins[0]}"
    if i == len(bins) - 1:
        return f"input {bins[i]}+"
    return f"input {bins[i]}-{bins[i + 1] - 1}"


class ShapeParts(NamedTuple):
    """A label read back: the input and output ranges it covers (inclusive; ``None`` when the
    label does not say) and its cache state."""

    input_range: tuple[float, float] | None = None
    output_range: tuple[float, float] | None = None
    cache: str | None = None


def _range(text: str) -> tuple[float, float]:
    if text.startswith("<"):
        return (0.0, float(text[1:]) - 1)
    if text.endswith("+"):
        return (float(text[:-1]), math.inf)
    low, _, high = text.partition("-")
    return (float(low), float(high or low))


def parse(label: str) -> ShapeParts:
    """What :attr:`Shape.label` and :meth:`Shape.with_bin` wrote; parts it does not know are
    skipped, so a label from a newer version still selects by what it shares."""
    parts = ShapeParts()
    for part in filter(None, (p.strip() for p in label.split(","))):
        kind, _, value = part.partition(" ")
        try:
            if kind == "input" and value:
                parts = parts._replace(input_range=_range(value))
            elif kind == "output" and value:
                parts = parts._replace(output_range=_range(value))
        except ValueError:
            continue
        if kind in ("cold", "warm") and not value:
            parts = parts._replace(cache=kind)
    return parts


def split_rung(label: str) -> tuple[int | None, str]:
    """(the input rung a label names, the rest of the label): ``input 2000, warm`` gives
    ``(2000, "warm")``; a label with no single input length gives ``(None, label)``. Groups
    that differ only by their rung are one ladder, which a prefill fit pools."""
    rung, rest = None, []
    for part in filter(None, (p.strip() for p in label.split(","))):
        kind, _, value = part.partition(" ")
        if kind == "input" and value.isdigit() and rung is None:
            rung = int(value)
        else:
            rest.append(part)
    return (rung, ", ".join(rest)) if rung is not None else (None, label)


def span_label(low: int, high: int, rest: str) -> str:
    """The label of a ladder's rungs pooled: ``input 128-32000, warm``."""
    return ", ".join(part for part in (f"input {low}-{high}", rest) if part)
