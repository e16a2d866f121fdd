"""Which assignments an applied event changes (or ends), and their rates before and after."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date

from events.catalogue import (
    AssignmentEnded,
    AssignmentStarted,
    ContractAmended,
    EventBase,
    MarkupAgreed,
    RaiseApproved,
    RatesAdjusted,
)
from projections import margin
from projections.risk import pricing
from projections.risk.state import AssignmentState, RiskState, evolve


@dataclass(frozen=True, slots=True)
class Change:
    """An applied change to one assignment's pricing: its rates before (None: it just started)
    and after, and the date the change counts from."""

    before: AssignmentState | None
    after: AssignmentState
    rates_before: margin.Rates | None
    rates_after: margin.Rates
    effective: date


# The last (state, event, changes) answered: three rules ask for the same event's changes in a
# row, and the answer depends on nothing else (compared by identity: both are immutable).
_last: tuple[RiskState, EventBase, tuple[Change, ...]] | None = None


def applied_changes(s: RiskState, e: EventBase) -> list[Change]:
    """The active assignments whose pricing `e` sets (rate events) or changes (amendments)."""
    global _last
    last = _last
    if last is not None and last[0] is s and last[1] is e:
        return list(last[2])
    changes = _applied_changes(s, e)
    _last = (s, e, tuple(changes))
    return changes


def _applied_changes(s: RiskState, e: EventBase) -> list[Change]:
    if not isinstance(
        e, AssignmentStarted | RatesAdjusted | RaiseApproved | MarkupAgreed | ContractAmended
    ):
        return []
    after = evolve(s, e)
    if isinstance(e, AssignmentStarted):
        if e.assignment_id in s.assignments:
            return []
        ids, effective = [e.assignment_id], e.start_date
    elif isinstance(e, RatesAdjusted):
        ids, effective = [e.assignment_id], e.effective_date
    elif isinstance(e, RaiseApproved):
        request = s.raise_requests.get(e.raise_request_id)
        ids = [request.assignment_id] if request is not None else []
        effective = e.effective_date
    elif isinstance(e, MarkupAgreed):
        ids, effective = [a.assignment_id for a in s.negotiated(e.negotiation_id)], e.effective_date
    else:
        ids, effective = [a.assignment_id for a in s.active_assignments()], e.effective_date
    changes: list[Change] = []
    for assignment_id in ids:
        a_after = after.assignments.get(assignment_id)
        if a_after is None or not a_after.active:
            continue
        a_before = s.assignments.get(assignment_id)
        rates_before = s.rates(a_before) if a_before is not None else None
        rates_after = after.rates(a_after)
        if isinstance(e, ContractAmended) and (
            rates_before is None
            or pricing.margin_per_hour(rates_before) == pricing.margin_per_hour(rates_after)
        ):
            continue  # an amendment that leaves this assignment's margin as it was
        changes.append(Change(a_before, a_after, rates_before, rates_after, effective))
    return changes


def ended_active(
    s: RiskState, e: EventBase, reasons: Container[str]
) -> tuple[AssignmentEnded, AssignmentState] | None:
    """`e` and the assignment it ends, when `e` ends an assignment active until then for one
    of `reasons`; else None."""
    if not isinstance(e, AssignmentEnded) or e.reason not in reasons:
        return None
    a = s.assignments.get(e.assignment_id)
    if a is None or not a.active:
        return None
    return e, a
