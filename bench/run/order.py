"""In what order a scenario's targets, load levels and client paths run (docs/scenarios.md, "Order").

Sequential: every level of the first target, then the second's … — a provider measured in the
morning is compared with one measured at noon, so network drift and time-of-day load land on
one of them. Interleaved (the default with several targets): each level is run by every
target at once, each with its own streams or arrivals, so whatever the network does in those
minutes it does to all of them alike. The cost is one client process carrying every target's
streams at once, which the level's single health sample watches (docs/method.md).

Within a level, client paths stay one after the other in either order: neither's CPU and
event-loop time may land in the other's figures. Interleaved, the targets measured by one
client run side by side, then those measured by the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.scenario.model import Scenario
from bench.scenario.shapes import Shape


@dataclass(frozen=True)
class Step:
    """One block of the run: these targets (by index) run ``level`` with ``client``, side by
    side; the step ends when every one of them has finished its level."""

    level: float
    client: str
    t_indices: tuple[int, ...]
    #: The request shape (a ladder's rung, a cache state) the step sends; one per step.
    shape: Shape = Shape()


def steps(scenario: Scenario) -> list[Step]:
    """The run's steps in the order they run, for the order ``scenario.order`` says. Request
    shapes run within each level, like the clients: every rung (or cache state) is measured at a
    level before the next level starts, so a drift over the run lands on levels, not on rungs."""
    levels = scenario.load.levels
    targets = scenario.target
    shapes = scenario.shapes()
    if scenario.order == "sequential":
        return [
            Step(level, client, (t_index,), shape)
            for t_index, target in enumerate(targets)
            for level in levels
            for shape in shapes
            for client in target.clients
        ]
    # Clients in the order the targets first name them (the first target's first).
    clients = list(dict.fromkeys(client for target in targets for client in target.clients))
    out = []
    for level in levels:
        for shape in shapes:
            for client in clients:
                side_by_side = tuple(i for i, target in enumerate(targets) if client in target.clients)
                out.append(Step(level, client, side_by_side, shape))
    return out


def targets_at_once(scenario: Scenario) -> int:
    """The most targets that hold their streams (or arrivals) at the same moment: every one of
    them interleaved, one sequentially."""
    return len(scenario.target) if scenario.order == "interleaved" else 1
