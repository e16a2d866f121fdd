"""Making an Alert: deterministic id, event time, exposure rounded like every figure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from events.alerts import Alert, Basis, RuleName, Severity, alert_id
from events.catalogue import EventBase
from projections.risk.state import AssignmentState, RiskState


def new_alert(
    rule: RuleName,
    severity: Severity,
    basis: Basis,
    s: RiskState,
    trigger: Sequence[EventBase],
    message: str,
    exposure: Decimal | None,
    assignment: AssignmentState | None = None,
    staffer_id: str | None = None,
) -> Alert:
    """An alert raised by `trigger` (the last of which is the event that made the rule fire)."""
    event_ids = tuple(e.event_id for e in trigger)
    return build_alerts(
        rule,
        severity,
        basis,
        s,
        event_ids,
        trigger[-1].occurred_at,
        trigger[-1].stream_version,
        message,
        exposure,
        assignment,
        staffer_id,
    )


def build_alerts(
    rule: RuleName,
    severity: Severity,
    basis: Basis,
    s: RiskState,
    event_ids: tuple[UUID, ...],
    raised_at: datetime,
    stream_version: int | None,
    message: str,
    exposure: Decimal | None,
    assignment: AssignmentState | None = None,
    staffer_id: str | None = None,
) -> Alert:
    assignment_id = assignment.assignment_id if assignment is not None else None
    if staffer_id is None and assignment is not None:
        staffer_id = assignment.staffer_id
    return Alert(
        alert_id=alert_id(rule, s.contract_id, assignment_id, event_ids),
        rule=rule,
        severity=severity,
        basis=basis,
        contract_id=s.contract_id,
        client_name=s.client_name,
        assignment_id=assignment_id,
        staffer_id=staffer_id,
        exposure=exposure,
        message=message,
        event_ids=event_ids,
        raised_at=raised_at,
        stream_version=stream_version,
    )
