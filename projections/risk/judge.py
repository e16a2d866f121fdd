"""One event judged: what the risk agent does with each event of a contract, as a pure step."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from events.alerts import Alert
from events.catalogue import EventBase
from projections.risk.rules import evaluate, evaluate_timers
from projections.risk.state import RiskState, evolve, record_timer_alerts


def judge(before: RiskState | None, event: EventBase) -> tuple[list[Alert], RiskState]:
    """The alerts `event` raises on the contract's state `before`, and the state after it.

    The event rules at the event's own time; then the timer rules at the contract's latest
    event time (same ids as the timer's, remembered in the state so that they are raised once).
    Folding a contract's events through it gives every alert a lone agent raises for it, apart
    from the timer's at a later watermark.
    """
    raised = evaluate(before, event, event.occurred_at)
    state = evolve(before, event)
    due = evaluate_timers(state, state.last_event_at)
    if due:
        state = record_timer_alerts(state, (a.alert_id for a in due))
    return raised + due, state


def timer_clock(states: Iterable[RiskState], wall: datetime) -> datetime | None:
    """The time the timer rules judge every contract at: the latest event time among `states`
    (event time, so that a replay raises what the live run raised), never past `wall`, the
    service's clock. Without the bound, one contract's event dated ahead (a typo the API lets
    through up to a day, or an event written before it refused any) would age every other
    contract at once. None when there is no state."""
    latest = max((s.last_event_at for s in states), default=None)
    return None if latest is None else min(latest, wall)


def judge_timers(
    states: Sequence[RiskState], wall: datetime
) -> tuple[list[Alert], list[RiskState]]:
    """The risk agent's timer over `states` (a worker's, or a bulk pass's): the timer rules at
    `timer_clock(states, wall)`; the alerts due, and the states that recorded them (only those
    changed)."""
    now = timer_clock(states, wall)
    if now is None:
        return [], []
    alerts: list[Alert] = []
    recorded: list[RiskState] = []
    for state in states:
        due = evaluate_timers(state, now)
        if due:
            alerts += due
            recorded.append(record_timer_alerts(state, (a.alert_id for a in due)))
    return alerts, recorded
