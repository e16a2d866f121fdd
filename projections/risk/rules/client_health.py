"""CLIENT_HEALTH_FALLING: the client's health score drops below 50, or by 20 points within 30
days (DESIGN "Overtime, hours worked and client health"), judged on the contract's own facts
(`projections.risk.health_watch` says why and how)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from events.alerts import Alert, Severity
from events.catalogue import EventBase
from projections.health import HealthPart, PartName
from projections.risk import health_watch
from projections.risk.rules.building import new_alert
from projections.risk.rules.constants import ZERO
from projections.risk.rules.exposure import contract_remaining_gp
from projections.risk.rules.wording import fmt_count, money
from projections.risk.state import RiskState, evolve, health_of, health_score_of

# What to do, by the most urgent part that takes points off (in this order): the sentence's
# last clause.
ACTIONS: Final[dict[PartName, str]] = {
    "legal_threats": "have a manager call the client today about the legal threat",
    "bypass_threats": "meet the client about the staffers they want to hire direct",
    "complaints": "have the account manager settle the open complaints with the client",
    "hours_shortfall": "ask the client why hours are down before assignments end",
    "contact_response": "stop chasing and reach the decision maker another way",
    "gross_profit_trend": "review the rate cuts and ended assignments behind the falling profit",
    "raise_and_markup_pressure": "close the open raise requests and markup negotiations",
    "contact_recency": "call the client this week; nobody has spoken with them for a while",
}
PARTS_NAMED: Final = 3


def _part(p: HealthPart) -> str:
    return f"{p.name.replace('_', ' ')} −{p.points} ({p.why})"


def client_health_falling(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """When the score crosses below 50 (high), or drops 20 points under its highest of the last
    30 days (medium, or high when it is below 50 too): a drop raises once, when it begins, and
    a crossing once each time the score goes from 50 or more to under 50. Nothing on a
    contract's first measure (its signing, or a state written before the rule): there is
    nothing to fall from. Exposure: the remaining gross profit of the contract's active
    assignments, as of the event's day (0 when they lose money: no profit to lose)."""
    after = evolve(s, e)
    day = after.last_event_at.date()
    fall = health_watch.fall(s.health, day, health_score_of(after, day))
    if fall is None:
        return []
    new_drop = after.health_falling and not s.health_falling
    if not (fall.crossed_below or new_drop):
        return []
    health = health_of(after, day)  # its parts worded: only when it raises
    worst = sorted((p for p in health.parts if p.points), key=lambda p: -p.points)
    why = "; ".join(_part(p) for p in worst[:PARTS_NAMED])
    gp = max(contract_remaining_gp(after, day), ZERO)  # a losing contract risks no profit
    n = len(after.active_assignments())
    below = health.score < health_watch.FALLING_BELOW
    drop = (
        f"fell from {fall.peak} to {health.score} within 30 days"
        if new_drop
        else f"fell from {fall.before} to {health.score}"
    )
    if below:
        drop += f", below {health_watch.FALLING_BELOW}"
    taking = {p.name for p in worst}
    action = next((a for name, a in ACTIONS.items() if name in taking), "call the client")
    message = (
        f"{s.client_name}'s health (contract {s.contract_id}) {drop}: {why}. "
        f"{money(gp)} of remaining gross profit on {fmt_count(n, 'active assignment')} is at "
        f"risk; {action}."
    )
    severity: Severity = "high" if below else "medium"
    return [new_alert("CLIENT_HEALTH_FALLING", severity, "applied", s, [e], message, gp)]
