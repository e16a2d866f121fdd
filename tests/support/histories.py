"""The generator of valid histories (simulation/histories.py) as a hypothesis strategy, and its
names as the tests import them."""

from __future__ import annotations

from hypothesis import strategies as st

from events.catalogue import Event
from simulation.histories import (
    CENT,
    EVERY_TYPE,
    REALISTIC,
    Generator,
    Log,
    generate,
    history,
    money,
    produce,
)

__all__ = [
    "CENT",
    "EVERY_TYPE",
    "REALISTIC",
    "Generator",
    "Log",
    "generate",
    "histories",
    "history",
    "money",
    "produce",
]


def histories(contracts: int = 1, events: int = 30) -> st.SearchStrategy[list[Event]]:
    """Logs of `contracts` contracts of 2 to `events` events each, of every type, every event
    accepted by the writer's `decide`; drawn from hypothesis' own random source, so a failing
    log is shrunk and replayed like any other example."""
    return st.randoms(use_true_random=False).map(lambda rng: history(rng, contracts, events))
