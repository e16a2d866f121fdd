"""A whole log judged by the rules, as a replay judges it: for the tests of the rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from events.alerts import Alert
from events.catalogue import EventBase
from projections.risk import RiskState, evaluate, evolve


def evaluate_log(events: Iterable[EventBase], now: datetime | None = None) -> list[Alert]:
    """Fold `events` (one contract's log, in order) and collect every event alert they raise:
    what a replay of the log produces. `now` defaults to each event's own occurred_at."""
    state: RiskState | None = None
    alerts: list[Alert] = []
    for event in events:
        alerts += evaluate(state, event, now or event.occurred_at)
        state = evolve(state, event)
    return alerts
