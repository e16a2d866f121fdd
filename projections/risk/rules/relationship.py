"""RELATIONSHIP_STRAIN (complaints, unanswered contacts) and RELATIONSHIP_NEGLECT (timer)."""

from __future__ import annotations

from datetime import datetime

from events.alerts import Alert, Severity, alert_id
from events.catalogue import ClientComplaintLogged, ClientContactLogged, EventBase
from projections.risk.rules.building import build_alerts, new_alert
from projections.risk.rules.constants import NEGLECT_AFTER
from projections.risk.rules.exposure import contract_remaining_gp
from projections.risk.rules.wording import COMPLAINT_WORDS, fmt_count, fmt_names, money
from projections.risk.state import RiskState, evolve


def relationship_strain(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """ClientComplaintLogged (high with a legal threat, else medium), or the 3rd outbound
    contact in a row without response, the three within 14 days (seed 001: medium). Exposure:
    the remaining gross profit of the contract's active assignments, as of the event's day.

    "In a row": in log order; an answered outbound contact or any inbound contact ends the run.
    A run raises one alert: further unanswered contacts in the same run raise no more.
    """
    day = e.occurred_at.date()
    if isinstance(e, ClientComplaintLogged):
        gp = contract_remaining_gp(s, day)
        n = len(s.active_assignments())
        threat = " and threatened legal action" if e.legal_threat else ""
        action = (
            "have a manager call them today and stop all other contact until then"
            if e.legal_threat
            else "call them back today and fix the cause"
        )
        message = (
            f"{s.client_name} complained about {COMPLAINT_WORDS[e.about]}{threat}: "
            f"{money(gp)} of remaining gross profit on {fmt_count(n, 'active assignment')} is at "
            f"risk; {action}."
        )
        severity: Severity = "high" if e.legal_threat else "medium"
        return [new_alert("RELATIONSHIP_STRAIN", severity, "applied", s, [e], message, gp)]
    if not isinstance(e, ClientContactLogged):
        return []
    after = evolve(s, e)
    if s.strain_raised_in_run or not after.strain_raised_in_run:
        return []
    run = after.unanswered_run
    span = (max(c.occurred_at for c in run) - min(c.occurred_at for c in run)).days
    gp = contract_remaining_gp(s, day)
    message = (
        f"{s.client_name} has not answered the last {len(run)} outbound contacts "
        f"(within {fmt_count(span, 'day')}): {money(gp)} of remaining gross profit is at risk; "
        "stop chasing and have the account manager reach the decision maker another way."
    )
    return [
        build_alerts(
            "RELATIONSHIP_STRAIN",
            "medium",
            "applied",
            s,
            tuple(c.event_id for c in run),
            e.occurred_at,
            e.stream_version,
            message,
            gp,
        )
    ]


def relationship_neglect(s: RiskState, now: datetime) -> list[Alert]:
    """A contract, not terminated, with active assignments and no ClientContactLogged for 30
    days or more before `now` (counted from the last contact, else from the signing): low, no
    exposure. Its id is made from the contract and the event the silence is counted from, so
    a silence raises one alert however often the timer runs (the state also remembers it, see
    `record_timer_alerts`); the next contact starts a new silence.
    """
    # Judged after every event: the cheapest test first (most contracts are not silent).
    since = s.silence_since
    silence = now - since.occurred_at
    if silence < NEGLECT_AFTER or s.terminated:
        return []
    active = s.active_assignments()
    if not active:
        return []
    event_ids = (since.event_id,)
    if alert_id("RELATIONSHIP_NEGLECT", s.contract_id, None, event_ids) in s.timer_alerts_raised:
        return []
    what = "the last logged contact" if s.last_contact is not None else "the contract was signed"
    message = (
        f"No contact with {s.client_name} has been logged for {fmt_count(silence.days, 'day')} "
        f"(since {what} on {since.occurred_at.date()}) while {fmt_names(active)} "
        f"{'is' if len(active) == 1 else 'are'} placed there; call the client before the "
        "relationship goes cold."
    )
    return [
        build_alerts(
            "RELATIONSHIP_NEGLECT",
            "low",
            "applied",
            s,
            event_ids,
            now,
            since.stream_version,
            message,
            None,
        )
    ]
