"""Whether two sides measure the same thing, and which client's groups pair with which.

A comparison is refused, unless forced, when the request shape, the emulation or the clients
differ (docs/ci.md: exit status 2, "runs not comparable"; docs/method.md, "Comparing runs"). That
decision is made before any statistics, and on the groups' keys alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.analysis.metrics import GroupKey
from bench.errors import BenchError
from bench.gate.sides import Group, SideInfo
from bench.results.run_file import split_fingerprint


def check_comparable(baseline: SideInfo, candidate: SideInfo, *, force: bool, clients: str = "") -> list[str]:
    """Raise BenchError when the two sides measure different things (unless ``force``).

    ``clients`` is :func:`client_mismatch_text` of the two sides' groups ("" when they agree).
    Returns notes to print: what was forced, or what could not be checked.
    """
    problems: list[str] = [clients] if clients else []
    # The fingerprint's first part is the request shape; its client part is checked group by
    # group (:func:`client_mismatches`), where it can say which target and level differ.
    b_shape = split_fingerprint(baseline.fingerprint)[0] if baseline.fingerprint else None
    c_shape = split_fingerprint(candidate.fingerprint)[0] if candidate.fingerprint else None
    if b_shape and c_shape and b_shape != c_shape:
        problems.append(
            f"scenario fingerprints differ ({baseline.fingerprint} vs {candidate.fingerprint}): "
            "request settings, prompts or load mode changed"
        )
    if baseline.emulated is not None and candidate.emulated is not None and baseline.emulated != candidate.emulated:
        kinds = {True: "emulated", False: "live"}
        problems.append(f"{kinds[baseline.emulated]} baseline against {kinds[candidate.emulated]} candidate")
    notes: list[str] = []
    if problems:
        if not force:
            raise BenchError(f"runs are not comparable: {'; '.join(problems)} (--force compares anyway)")
        notes.extend(f"compared with --force although {p}" for p in problems)
    if not (baseline.fingerprint and candidate.fingerprint):
        notes.append("a scenario fingerprint is missing: could not check that both runs measure the same thing")
    return notes


#: Where a group is, whatever client measured it: (target, load mode, load level, shape).
Place = tuple[str, str, float, str]


def client_mismatches(
    baseline: Iterable[GroupKey], candidate: Iterable[GroupKey]
) -> list[tuple[Place, tuple[str, ...], tuple[str, ...]]]:
    """Target levels both sides measured, but with no client in common: (place, baseline's
    clients, candidate's clients). A level measured with both clients on one side and one of
    them on the other is no mismatch: the shared client's groups compare."""
    mine: dict[Place, set[str]] = {}
    theirs: dict[Place, set[str]] = {}
    for keys, into in ((baseline, mine), (candidate, theirs)):
        for k in keys:
            into.setdefault((k.target, k.load_mode, k.load_level, k.shape), set()).add(k.client)
    return [
        (place, tuple(sorted(mine[place])), tuple(sorted(theirs[place])))
        for place in mine
        if place in theirs and mine[place].isdisjoint(theirs[place])
    ]


def client_mismatch_text(mismatches: list[tuple[Place, tuple[str, ...], tuple[str, ...]]], limit: int = 3) -> str:
    """'measured by different clients (sdk in the baseline, fast in the candidate)'; the target
    levels are named when they do not all differ the same way."""
    if not mismatches:
        return ""

    def names(clients: tuple[str, ...]) -> str:
        return ",".join(c or "an unrecorded client" for c in clients)

    pairs = {(b, c) for _, b, c in mismatches}
    if len(pairs) == 1:
        ((b, c),) = pairs
        return f"measured by different clients ({names(b)} in the baseline, {names(c)} in the candidate)"
    items = [f"{_at(place).label}: {names(b)} in the baseline, {names(c)} in the candidate" for place, b, c in mismatches[:limit]]
    more = len(mismatches) - limit
    return "measured by different clients (" + "; ".join(items) + (f"; {more} more" if more > 0 else "") + ")"


def across_clients(groups: dict[GroupKey, Group], places: set[Place]) -> dict[GroupKey, Group]:
    """``groups`` with the client left out of the key at ``places`` (a forced comparison of
    one client's groups with the other's)."""
    out: dict[GroupKey, Group] = {}
    for key, group in groups.items():
        place = (key.target, key.load_mode, key.load_level, key.shape)
        out[_at(place) if place in places else key] = group
    return out


def _at(place: Place) -> GroupKey:
    """The group at ``place`` with no client named."""
    target, mode, level, shape = place
    return GroupKey(target, mode, level, "", shape)
