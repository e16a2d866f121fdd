"""The contract-risk rules of DESIGN.md "Contract-risk rules", one module per rule (or family of
rules), the wording and the exposure arithmetic in modules of their own, and the registries here.

An event rule is `(state_before, event, now) -> list[Alert]`: `state_before` is the contract's
`RiskState` BEFORE the event is applied (a rule that needs the after-state calls `evolve`).
Alerts raised by an event carry event time (`raised_at` = the event's `occurred_at`), so `now`
is not read by event rules and a replay raises identical alerts. The timer rule
(RELATIONSHIP_NEGLECT) is `(state, now) -> list[Alert]`, judged at `now`: the timer's clock in
event time (e.g. the latest event time seen), never the wall clock read here.

Every amount is exact (`Decimal`, never a float); messages round money to cents with
`margin.round_money`. Each rule's choices where DESIGN is silent are in its docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from events.alerts import Alert
from events.catalogue import EventBase
from events.dispatch import unhandled
from projections.risk.rules.below_floor import below_floor
from projections.risk.rules.bypass_threat import bypass_threat
from projections.risk.rules.client_health import client_health_falling
from projections.risk.rules.commitment_shortfall import commitment_shortfall
from projections.risk.rules.constants import (
    BYPASS_END_REASONS,
    EARLY_END_REASONS,
    EROSION_CUTS_WINDOW,
    EROSION_POINTS,
    EROSION_POINTS_WINDOW,
    NEGLECT_AFTER,
)
from projections.risk.rules.exposure import non_solicit_until
from projections.risk.rules.hours_shortfall import hours_shortfall
from projections.risk.rules.loss_position import loss_position
from projections.risk.rules.margin_erosion import margin_erosion
from projections.risk.rules.ot_margin_leak import ot_margin_leak
from projections.risk.rules.raise_absorbed import raise_absorbed
from projections.risk.rules.relationship import relationship_neglect, relationship_strain
from projections.risk.rules.triggers import RULES_ON
from projections.risk.state import RiskState

__all__ = [
    "BYPASS_END_REASONS",
    "EARLY_END_REASONS",
    "EROSION_CUTS_WINDOW",
    "EROSION_POINTS",
    "EROSION_POINTS_WINDOW",
    "NEGLECT_AFTER",
    "RULES",
    "RULES_BY_TYPE",
    "TIMER_RULES",
    "Rule",
    "TimerRule",
    "below_floor",
    "bypass_threat",
    "client_health_falling",
    "commitment_shortfall",
    "evaluate",
    "evaluate_timers",
    "hours_shortfall",
    "loss_position",
    "margin_erosion",
    "non_solicit_until",
    "ot_margin_leak",
    "raise_absorbed",
    "relationship_neglect",
    "relationship_strain",
]

Rule = Callable[[RiskState, EventBase, datetime], list[Alert]]


TimerRule = Callable[[RiskState, datetime], list[Alert]]


RULES: Final[dict[str, Rule]] = {
    "LOSS_POSITION": loss_position,
    "BELOW_FLOOR": below_floor,
    "RAISE_ABSORBED": raise_absorbed,
    "BYPASS_THREAT": bypass_threat,
    "COMMITMENT_SHORTFALL": commitment_shortfall,
    "MARGIN_EROSION": margin_erosion,
    "RELATIONSHIP_STRAIN": relationship_strain,
    "OT_MARGIN_LEAK": ot_margin_leak,
    "HOURS_SHORTFALL": hours_shortfall,
    "CLIENT_HEALTH_FALLING": client_health_falling,
}


# The rules an event of each type can make fire (`triggers.RULES_ON`), in RULES's order: the
# order their alerts are raised in.
RULES_BY_TYPE: Final[dict[type[EventBase], tuple[Rule, ...]]] = {
    kind: tuple(rule for name, rule in RULES.items() if name in names)
    for kind, names in RULES_ON.items()
}
_unknown = {name for names in RULES_ON.values() for name in names} - RULES.keys()
if _unknown:
    raise TypeError(f"the risk rules' triggers name no event rule {', '.join(sorted(_unknown))}")


TIMER_RULES: Final[dict[str, TimerRule]] = {"RELATIONSHIP_NEGLECT": relationship_neglect}


def evaluate(state_before: RiskState | None, event: EventBase, now: datetime) -> list[Alert]:
    """Every alert `event` raises, given the contract's state before it.

    An event the state has already applied (stream_version ≤ state.version) raises nothing:
    its alerts were raised when it was first evaluated, with the same ids. Nothing precedes a
    ContractSigned, which raises nothing. ValueError for another contract's event or an event
    without a stream_version (not from the log).
    """
    if state_before is None:
        return []
    if event.contract_id != state_before.contract_id:
        raise ValueError(
            f"event {event.event_id} is for contract {event.contract_id}, "
            f"not {state_before.contract_id}"
        )
    if event.stream_version is None:
        raise ValueError(f"{event.type} {event.event_id} has no stream_version: not from the log")
    if event.stream_version <= state_before.version:
        return []
    rules = RULES_BY_TYPE.get(type(event))
    if rules is None:
        unhandled("the risk rules", event)
    alerts: list[Alert] = []
    for rule in rules:
        alerts += rule(state_before, event, now)
    return alerts


def evaluate_timers(state: RiskState | None, now: datetime) -> list[Alert]:
    """Every timer alert due at `now` (event time) and not yet raised for `state`."""
    if state is None:
        return []
    alerts: list[Alert] = []
    for rule in TIMER_RULES.values():
        alerts += rule(state, now)
    return alerts
