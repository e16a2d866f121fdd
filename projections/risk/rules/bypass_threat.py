"""BYPASS_THREAT: a threat to move a staffer elsewhere, or a move inside the non-solicit window."""

from __future__ import annotations

from datetime import datetime

from events.alerts import Alert
from events.catalogue import BypassThreatReported, EventBase
from projections import margin
from projections.risk.rules.building import new_alert
from projections.risk.rules.changes import ended_active
from projections.risk.rules.constants import BYPASS_END_REASONS, ZERO
from projections.risk.rules.exposure import conversion_fee_due, non_solicit_until, remaining_gp
from projections.risk.rules.wording import THREAT_WORDS, fmt_names, money
from projections.risk.state import AssignmentState, RiskState


def _threatened(s: RiskState, e: BypassThreatReported) -> list[AssignmentState]:
    """The assignments a threat concerns: the one it names (even if ended: a move after the end
    is a bypass too); else the named staffer's active assignments (none active: the staffer's
    latest, for the conversion fee); else every active assignment."""
    if e.assignment_id is not None:
        a = s.assignments.get(e.assignment_id)
        return [a] if a is not None else []
    if e.staffer_id is not None:
        theirs = [a for a in s.assignments.values() if a.staffer_id == e.staffer_id]
        active = [a for a in theirs if a.active]
        if active or not theirs:
            return active
        return [max(theirs, key=lambda a: (a.start_date, a.assignment_id))]
    return s.active_assignments()


def bypass_threat(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """BypassThreatReported, or an assignment ended as moved_to_other_agency or
    converted_to_client_hire inside the non-solicit window (see `non_solicit_until`): critical.
    Exposure: remaining gross profit of the assignments concerned (as of the threat's day or
    the end date; 0 for an ended one) + the conversion fee due on them as of that day. One
    alert per event, about the one assignment concerned, else about the contract.
    """
    if isinstance(e, BypassThreatReported):
        day = e.occurred_at.date()
        concerned = _threatened(s, e)
        gp = sum((remaining_gp(s, a, day) for a in concerned), ZERO)
        fee = sum((conversion_fee_due(s, a, day) for a in concerned), ZERO)
        exposure = gp + fee
        if concerned:
            who = fmt_names(concerned)
        elif e.staffer_id is not None:
            who = f"staffer {e.staffer_id}"
        else:
            who = "its staffers"
        message = (
            f"{s.client_name} {THREAT_WORDS[e.kind].format(who=who)} in breach of the contract: "
            f"{money(exposure)} at stake ({money(gp)} remaining gross profit plus a "
            f"{money(fee)} conversion fee); call the client now and hold them to the "
            "non-solicit clause."
        )
        one = concerned[0] if len(concerned) == 1 else None
        return [
            new_alert(
                "BYPASS_THREAT", "critical", "applied", s, [e], message, exposure, one, e.staffer_id
            )
        ]
    ended = ended_active(s, e, BYPASS_END_REASONS)
    if ended is None:
        return []
    e, a = ended
    until = non_solicit_until(s)
    if until is not None and e.end_date > until:
        return []
    gp = margin.remaining_gross_profit(s.rates(a), a.term, e.end_date)
    fee = conversion_fee_due(s, a, e.end_date)
    exposure = gp + fee
    how = "for another agency" if e.reason == "moved_to_other_agency" else "to be hired directly"
    window = f"until {until}" if until is not None else "while the contract runs"
    message = (
        f"{a.who} left {s.client_name} on {e.end_date} {how}, inside the non-solicit window "
        f"({window}): {money(exposure)} at stake ({money(gp)} remaining gross profit plus a "
        f"{money(fee)} conversion fee); invoice the conversion fee and enforce the non-solicit "
        "clause."
    )
    return [new_alert("BYPASS_THREAT", "critical", "applied", s, [e], message, exposure, a)]
