"""RAISE_ABSORBED: a raise the agency would fund out of its own markup."""

from __future__ import annotations

from datetime import datetime

from events.alerts import Alert
from events.catalogue import EventBase, RaiseApproved, RaiseRequested, RatesAdjusted
from projections import margin
from projections.risk.rules.building import new_alert
from projections.risk.rules.changes import applied_changes
from projections.risk.rules.exposure import (
    absorbed_exposure,
    pass_through_bill,
    raises_absorbed,
    remaining_days_from,
)
from projections.risk.rules.wording import fmt_weeks, money, pct
from projections.risk.state import RiskState


def raise_absorbed(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """A raise the agency would fund (high).

    Proposed: a RaiseRequested for more pay whose `client_max_bill_rate` is at or below today's
    bill rate (DESIGN's condition; a budget above today's bill rate but short of passing the
    raise on is not flagged until such rates are applied). Applied: a RaiseApproved or
    RatesAdjusted where pay rises and the bill rate rises by less than Δpay × (1 + markup/100),
    markup being the one before the change; a raise passed on at the same markup (to within
    cent rounding) does not fire. Exposure: (Δpay × (1 + markup/100) − Δbill) × H × remaining
    weeks from the effective date (a request: its day).
    """
    if isinstance(e, RaiseRequested):
        a = s.assignments.get(e.assignment_id)
        budget = e.client_max_bill_rate
        if (
            a is None
            or not a.active
            or budget is None
            or budget > a.bill_rate
            or e.requested_pay_rate <= a.pay_rate
        ):
            return []
        before = s.rates(a)
        day = e.occurred_at.date()
        days = remaining_days_from(a, day)
        per_hour, exposure = absorbed_exposure(before, e.requested_pay_rate, budget, days)
        message = (
            f"{s.client_name} asks the agency to fund {a.who}'s raise to "
            f"{money(e.requested_pay_rate)} within a bill rate of {money(budget)}: passing it "
            f"on at today's {pct(margin.markup_pct(before))} markup needs "
            f"{money(pass_through_bill(before, e.requested_pay_rate))}, so the agency would "
            f"absorb {money(per_hour)}/h, {money(exposure)} over the remaining {fmt_weeks(days)}; "
            "decline or ask for the full bill rate."
        )
        return [new_alert("RAISE_ABSORBED", "high", "proposed", s, [e], message, exposure, a)]
    if not isinstance(e, RaiseApproved | RatesAdjusted):
        return []
    alerts = []
    for c in applied_changes(s, e):
        old, new = c.rates_before, c.rates_after
        if old is None or not raises_absorbed(old, new.pay_rate, new.bill_rate):
            continue
        days = remaining_days_from(c.after, c.effective)
        per_hour, exposure = absorbed_exposure(old, new.pay_rate, new.bill_rate, days)
        message = (
            f"{c.after.who}'s pay at {s.client_name} rises from {money(old.pay_rate)} to "
            f"{money(new.pay_rate)} from {c.effective} but the bill rate only from "
            f"{money(old.bill_rate)} to {money(new.bill_rate)} instead of "
            f"{money(pass_through_bill(old, new.pay_rate))}: the agency absorbs "
            f"{money(per_hour)}/h, {money(exposure)} over the remaining {fmt_weeks(days)}; "
            "pass the raise on or reprice the assignment."
        )
        alerts.append(
            new_alert("RAISE_ABSORBED", "high", "applied", s, [e], message, exposure, c.after)
        )
    return alerts
