"""The report's answer first: a short paragraph under the title ranking the targets on first
token, output speed and cost per million output tokens, worded as firmly as the CIs allow
(decided in :mod:`bench.report.analyse_answer`; formatted here)."""

from __future__ import annotations

from bench.report.model import Answer, Ranking
from bench.report.tables import format_value, usd

#: Per figure: what it is called, its unit, and how "better" reads.
FIGURES: dict[str, tuple[str, str, str]] = {
    "ttft": ("First token p50", "ms", "is faster to the first token than"),
    "output_tps": ("Output tokens/s p50", "tokens/s", "streams faster than"),
}


def _speed(r: Ranking) -> str:
    name, unit, better = FIGURES[r.figure]
    values = ", ".join(f"{t} {format_value(v, unit)} {unit}" for t, v in zip(r.targets, r.values, strict=True))
    pairs = []
    for i, clear in enumerate(r.clear):
        a, b = r.targets[i], r.targets[i + 1]
        pairs.append(
            f"{a} {better} {b} (95% CI excludes a tie)" if clear else f"{a} and {b}: no clear difference (95% CI includes a tie)"
        )
    return f"{name}: {values} — " + "; ".join(pairs) + "."


def _cost(r: Ranking) -> str:
    no_price = "; ".join(f"{t}: no price" for t in r.no_price)
    if not r.targets:
        return f"Cost per million output tokens: {no_price}."
    if len(r.targets) == 1:
        text = f"Cost per million output tokens: {r.targets[0]} {usd(r.values[0])}"
    else:
        parts = [f"{r.targets[0]} is cheapest ({usd(r.values[0])})"]
        for i, cheaper in enumerate(r.clear):
            word = "then" if cheaper else "the same as the one before,"
            parts.append(f"{word} {r.targets[i + 1]} ({usd(r.values[i + 1])})")
        text = "Cost per million output tokens: " + ", ".join(parts)
    return text + (f"; {no_price}." if no_price else ".")


def answer_lines(answer: Answer | None) -> list[str]:
    """The paragraph (and its blank line), or nothing when there is no measured request."""
    if answer is None:
        return []
    where = f" in {answer.run_label}, the latest run" if answer.run_label else ""
    if answer.shape:
        # Targets are ranked within one request shape only: the sentence says which.
        where += f", request shape `{answer.shape}`"
        if answer.shapes > 1:
            where += (
                f", the first of {answer.shapes} shapes — targets are ranked within one shape only; "
                "every shape's figures are in the Headline below"
            )
    if len(answer.targets) == 1:
        return [
            f"**The answer first:** one target was measured{where} ({answer.targets[0]}, {answer.level}), so there is "
            "nothing to rank it against; its figures are in the Headline below.",
            "",
        ]
    if not answer.level:
        return [
            f"**The answer first:** the targets{where} share no load level, so they are not ranked against each "
            "other; each one's figures are in the tables below.",
            "",
        ]
    level = answer.level + (", the highest load level every target ran" if answer.highest_of > 1 else "")
    sentences = [_cost(r) if r.figure == "cost" else _speed(r) for r in answer.rankings]
    if not answer.streamed:
        sentences.insert(0, "The requests did not stream, so there is no first-token or output-speed ranking.")
    if not sentences:
        sentences = ["No figure can rank them (no first-token, speed or price figures)."]
    return [f"**The answer first** (at {level}{where}): " + " ".join(sentences), ""]
