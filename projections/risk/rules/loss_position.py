"""LOSS_POSITION: margin per hour below zero after a change, or if a proposal were granted."""

from __future__ import annotations

from datetime import date, datetime

from events.alerts import Alert
from events.catalogue import (
    AssignmentStarted,
    ContractAmended,
    EventBase,
    MarkupProposed,
    RaiseRequested,
)
from projections import margin
from projections.risk import pricing
from projections.risk.rules.building import new_alert
from projections.risk.rules.changes import applied_changes
from projections.risk.rules.exposure import remaining_days_from
from projections.risk.rules.wording import fmt_weeks, money, pct, raise_asked
from projections.risk.state import AssignmentState, RiskState


def loss_position(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """Margin per hour < 0 after a change (critical, applied), or if a proposal or raise request
    were granted as asked (high, proposed). Exposure: −remaining gross profit after it, counted
    from the change's effective date (a proposal or request: the day it was made) to the
    expected end.

    Applied changes: AssignmentStarted, RatesAdjusted, RaiseApproved, MarkupAgreed (bill rate
    pay × (1 + markup/100) in cents), and, beyond DESIGN's list, a ContractAmended whose
    burden or MSP fee changes an assignment's margin. A raise request "as asked": at the
    client's `client_max_bill_rate` when given, else passed on at today's markup.
    """
    if isinstance(e, MarkupProposed):
        day = e.occurred_at.date()
        alerts = []
        for a in s.negotiated(e.negotiation_id):
            bill = margin.bill_rate_for_markup(a.pay_rate, e.markup_pct)
            proposer = s.client_name if e.proposed_by == "client" else "The agency"
            opening = (
                f"{proposer} proposes a {pct(e.markup_pct)} markup on {a.who}, billing "
                f"{money(bill)} against pay {money(a.pay_rate)}"
            )
            alerts += _loss(s, e, a, s.rates(a, bill_rate=bill), day, opening, "do not agree to it")
        return alerts
    if isinstance(e, RaiseRequested):
        asg = s.assignments.get(e.assignment_id)
        if asg is None or not asg.active:
            return []
        pay = e.requested_pay_rate
        if e.client_max_bill_rate is not None:
            bill = e.client_max_bill_rate
            asked = f"within a bill rate of {money(bill)}"
        else:
            today = margin.markup_pct(s.rates(asg))
            bill = margin.bill_rate_for_markup(pay, today)
            asked = f"at today's {pct(today)} markup (bill rate {money(bill)})"
        opening = raise_asked(e.requested_by, s.client_name, asg.who, pay, asked)
        return _loss(
            s,
            e,
            asg,
            s.rates(asg, pay_rate=pay, bill_rate=bill),
            e.occurred_at.date(),
            opening,
            "decline or renegotiate the bill rate",
        )
    alerts = []
    for c in applied_changes(s, e):
        r = c.rates_after
        if isinstance(e, AssignmentStarted):
            opening = (
                f"{c.after.who} started at {s.client_name} billing {money(r.bill_rate)} "
                f"against pay {money(r.pay_rate)}"
            )
        elif isinstance(e, ContractAmended):
            opening = (
                f"{s.client_name}'s amended terms (burden {pct(r.burden_pct)}, MSP fee "
                f"{pct(r.msp_fee_pct)}) from {c.effective} leave {c.after.who} billing "
                f"{money(r.bill_rate)} against pay {money(r.pay_rate)}"
            )
        else:
            opening = (
                f"{c.after.who} at {s.client_name} bills {money(r.bill_rate)} against pay "
                f"{money(r.pay_rate)} from {c.effective}"
            )
        alerts += _loss(s, e, c.after, r, c.effective, opening, "reprice it now", applied=True)
    return alerts


def _loss(
    s: RiskState,
    e: EventBase,
    a: AssignmentState,
    r: margin.Rates,
    counted_from: date,
    opening: str,
    action: str,
    *,
    applied: bool = False,
) -> list[Alert]:
    per_hour = pricing.margin_per_hour(r)
    if per_hour >= 0:
        return []
    loss = -margin.remaining_gross_profit(r, a.term, counted_from)
    weeks = fmt_weeks(remaining_days_from(a, counted_from))
    verb = "is" if applied else "would fall to"
    message = (
        f"{opening}: margin {verb} {money(per_hour)}/h, a loss of {money(loss)} over the "
        f"remaining {weeks}; {action}."
    )
    return [
        new_alert(
            "LOSS_POSITION",
            "critical" if applied else "high",
            "applied" if applied else "proposed",
            s,
            [e],
            message,
            loss,
            a,
        )
    ]
