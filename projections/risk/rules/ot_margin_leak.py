"""OT_MARGIN_LEAK: an overtime or double-time hour earns less margin than a regular one, or
loses money (DESIGN "Overtime, hours worked and client health")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from events.alerts import Alert
from events.catalogue import EventBase, HoursReported, MarkupProposed
from projections import margin
from projections.risk import pricing
from projections.risk.rules.building import new_alert
from projections.risk.rules.changes import applied_changes
from projections.risk.rules.constants import EXACT, OT_LEAK_TOLERANCE, ZERO
from projections.risk.rules.exposure import per_hour_over_days, remaining_days_from
from projections.risk.rules.wording import fmt_weeks, money
from projections.risk.state import RiskState


def _leak(r: margin.Rates) -> tuple[Decimal, Decimal, Decimal | None, Decimal | None] | None:
    """(regular, OT margin per hour, OT leak per hour, DT leak per hour) when an OT or DT hour
    earns less than a regular hour by more than OT_LEAK_TOLERANCE, or loses money; None when
    neither does (or the assignment is ot_exempt). A leak is regular − that kind's margin,
    floored at that kind's loss when the regular hour itself loses money."""
    regular = pricing.margin_per_hour(r)
    ot, dt = margin.margin_per_ot_hour(r), margin.margin_per_dt_hour(r)
    if ot is None or dt is None:
        return None

    def leak(kind: Decimal) -> Decimal | None:
        short = EXACT.subtract(max(regular, ZERO), kind)
        if kind < 0 or short > OT_LEAK_TOLERANCE:
            return short
        return None

    ot_leak, dt_leak = leak(ot), leak(dt)
    if ot_leak is None and dt_leak is None:
        return None
    return regular, ot, ot_leak, dt_leak


def ot_margin_leak(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """On a change of an assignment's pricing (its start, a rate change, a raise approved, a
    markup agreed, an amendment of the contract's multipliers, burden or fee): high, applied,
    when its OT or DT hour leaks; exposure: the OT leak × planned OT hours × the remaining
    weeks from the change (0 when no OT is planned: the rate is still worth fixing before OT is
    worked). On reported hours (HoursReported with OT or DT hours): medium, applied, exposure
    the margin those hours lost against as many regular hours. MarkupProposed is left to
    LOSS_POSITION and BELOW_FLOOR: a proposal sets no OT rate of its own.

    Where DESIGN is silent: the tolerance is OT_LEAK_TOLERANCE (0.00 an hour) for every
    contract, since no contract term names one yet; and a change that leaves the regular hour
    losing money raises no OT_MARGIN_LEAK unless OT is planned (LOSS_POSITION covers it). With
    the default multipliers (bill 1.5x, pay 1.5x) an OT hour earns 1.5 times a regular hour's
    margin, so the rule speaks only of OT or DT priced thinner than the regular hour.
    """
    if isinstance(e, MarkupProposed):
        return []
    if isinstance(e, HoursReported):
        return _reported(s, e)
    alerts = []
    for c in applied_changes(s, e):
        found = _leak(c.rates_after)
        if found is None:
            continue
        regular, ot, ot_leak, dt_leak = found
        a = c.after
        days = remaining_days_from(a, c.effective)
        planned = c.rates_after.planned_ot_hours_per_week
        if regular < 0 and not planned:
            # Every hour loses money: LOSS_POSITION says so; at the default multipliers an OT
            # hour then loses 1.5 times as much, which is no news while none is planned.
            continue
        exposure = per_hour_over_days(ot_leak or ZERO, planned, days)
        r = c.rates_after
        ot_r, dt_r = margin.ot_rates(r), margin.dt_rates(r)
        assert ot_r is not None and dt_r is not None
        kinds = []
        if ot_leak is not None:
            kinds.append(
                f"an overtime hour earns {money(ot)} (pay {money(ot_r.pay_rate)}, bill "
                f"{money(ot_r.bill_rate)})"
            )
        if dt_leak is not None:
            kinds.append(
                f"a double-time hour earns {money(margin.margin_per_hour(dt_r))} (pay "
                f"{money(dt_r.pay_rate)}, bill {money(dt_r.bill_rate)})"
            )
        plan = (
            f"; with {planned} OT hours planned a week that is {money(exposure)} over the "
            f"remaining {fmt_weeks(days)}"
            if planned and ot_leak is not None
            else ""
        )
        message = (
            f"From {c.effective} {a.who} at {s.client_name}: {' and '.join(kinds)} against "
            f"{money(regular)} a regular hour{plan}; negotiate the OT/DT bill rate or "
            "multiplier, or keep the overtime off this assignment."
        )
        alerts.append(new_alert("OT_MARGIN_LEAK", "high", "applied", s, [e], message, exposure, a))
    return alerts


def _reported(s: RiskState, e: HoursReported) -> list[Alert]:
    a = s.assignments.get(e.assignment_id)
    if a is None or not (e.ot_hours or e.dt_hours):
        return []
    r = s.rates(a)
    found = _leak(r)
    if found is None:
        return []
    _, _, ot_leak, dt_leak = found
    lost = ZERO
    if ot_leak is not None:
        lost = EXACT.add(lost, EXACT.multiply(ot_leak, e.ot_hours))
    if dt_leak is not None:
        lost = EXACT.add(lost, EXACT.multiply(dt_leak, e.dt_hours))
    if lost <= 0:
        return []
    message = (
        f"{a.who} at {s.client_name} worked {e.ot_hours} OT and {e.dt_hours} DT hours in the "
        f"week of {e.week}, earning {money(lost)} less than as many regular hours; move the "
        "overtime to a better-priced assignment or renegotiate its bill rate."
    )
    return [new_alert("OT_MARGIN_LEAK", "medium", "applied", s, [e], message, lost, a)]
