"""BELOW_FLOOR: a markup agreed or proposed below the contract's markup floor."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext

from events.alerts import Alert, Basis
from events.catalogue import EventBase, MarkupAgreed, MarkupProposed, RaiseRequested
from projections import margin
from projections.risk.rules.building import new_alert
from projections.risk.rules.constants import EXACT, HUNDREDTH, ONE
from projections.risk.rules.exposure import per_hour_over_days, remaining_days_from
from projections.risk.rules.wording import fmt_weeks, money, pct, raise_asked
from projections.risk.state import AssignmentState, RiskState


def below_floor(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """A markup agreed (applied) or proposed (proposed) below the contract's floor: high.
    A raise request with a `client_max_bill_rate` proposes the markup that `requested_pay_rate`
    → `client_max_bill_rate` implies (seed 003: the client asking the agency to cut its markup
    to fund the raise), and is judged like a proposal. A markup exactly at the floor is not
    below it. Exposure, per assignment covered: (pay × (1 + floor/100) − bill) × H × remaining
    weeks, the bill being pay × (1 + markup/100) in cents (as MarkupAgreed bills it), or the
    client's budget for a raise request, counted from the effective date (a proposal or
    request: its day).
    """
    floor = s.terms.markup_floor_pct
    below: list[tuple[AssignmentState, Decimal, Decimal, str, str]] = []
    if isinstance(e, MarkupAgreed | MarkupProposed):
        if e.markup_pct >= floor:
            return []
        for a in s.negotiated(e.negotiation_id):
            bill = margin.bill_rate_for_markup(a.pay_rate, e.markup_pct)
            if isinstance(e, MarkupAgreed):
                opening = (
                    f"The agency agreed a {pct(e.markup_pct)} markup on {a.who} at {s.client_name}"
                )
                action = "get it approved or reopen the negotiation"
            elif e.proposed_by == "client":
                opening = f"{s.client_name} proposes a {pct(e.markup_pct)} markup on {a.who}"
                action = "hold to the floor"
            else:
                opening = (
                    f"The agency proposed a {pct(e.markup_pct)} markup on {a.who} at "
                    f"{s.client_name}"
                )
                action = "withdraw it or get it approved"
            below.append((a, a.pay_rate, bill, opening, action))
    elif isinstance(e, RaiseRequested) and e.client_max_bill_rate is not None:
        asg = s.assignments.get(e.assignment_id)
        if asg is None or not asg.active:
            return []
        pay, bill = e.requested_pay_rate, e.client_max_bill_rate
        implied = margin.markup_pct(s.rates(asg, pay_rate=pay, bill_rate=bill))
        if implied >= floor:
            return []
        terms = f"within a bill rate of {money(bill)}"
        opening = raise_asked(e.requested_by, s.client_name, asg.who, pay, terms)
        opening += f", a {pct(implied)} markup"
        below.append((asg, pay, bill, opening, "hold to the floor"))
    else:
        return []
    basis: Basis = "applied" if isinstance(e, MarkupAgreed) else "proposed"
    counted_from = e.effective_date if isinstance(e, MarkupAgreed) else e.occurred_at.date()
    alerts = []
    for a, pay, bill, opening, action in below:
        with localcontext(EXACT):
            floor_bill = pay * (ONE + floor * HUNDREDTH)
            short = floor_bill - bill
        days = remaining_days_from(a, counted_from)
        exposure = per_hour_over_days(short, a.hours_per_week, days)
        message = (
            f"{opening}, below the contract floor of {pct(floor)}: billing {money(bill)} "
            f"instead of at least {money(floor_bill)} an hour forgoes {money(exposure)} over "
            f"the remaining {fmt_weeks(days)}; {action}."
        )
        alerts.append(new_alert("BELOW_FLOOR", "high", basis, s, [e], message, exposure, a))
    return alerts
