"""HOURS_SHORTFALL: reported hours under 60 % of plan for 3 reported weeks in a row (DESIGN
"Overtime, hours worked and client health"): gross profit at risk, and often the first sign that
an assignment is ending or moving."""

from __future__ import annotations

from datetime import datetime

from events.alerts import Alert
from events.catalogue import EventBase, HoursReported
from projections import margin
from projections.risk.rules.building import new_alert
from projections.risk.rules.constants import EXACT, ZERO
from projections.risk.rules.exposure import remaining_gp
from projections.risk.rules.wording import money
from projections.risk.state import (
    SHORTFALL_SHARE,
    SHORTFALL_WEEKS,
    RiskState,
    evolve,
    planned_hours,
)


def hours_shortfall(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """High, applied, when an HoursReported makes the last SHORTFALL_WEEKS reported weeks (by
    week) each fall under SHORTFALL_SHARE of the planned week, and the run of short weeks was
    not already under way (one alert per run; a week at plan ends the run). Exposure: the
    planned weekly gross profit not earned in those weeks (planned − actual, at the rates in
    force now) plus, as DESIGN puts it, the gross profit at risk: the remaining gross profit
    of the assignment from the reported week on."""
    if not isinstance(e, HoursReported):
        return []
    before = s.assignments.get(e.assignment_id)
    if before is None or before.shortfall_raised:
        return []
    after = evolve(s, e).assignments.get(e.assignment_id)
    if after is None or not after.shortfall_raised:
        return []
    weeks = after.reported[-SHORTFALL_WEEKS:]
    r = s.rates(before)
    planned_week = margin.weekly_gross_profit(r)
    missed = ZERO
    for w in weeks:
        actual = margin.hour_margin(
            r,
            w.regular_hours,
            ZERO if r.ot_exempt else w.ot_hours,
            ZERO if r.ot_exempt else w.dt_hours,
        )
        missed = EXACT.add(missed, EXACT.subtract(planned_week, actual))
    at_risk = remaining_gp(s, before, e.week)
    exposure = EXACT.add(max(missed, ZERO), max(at_risk, ZERO))
    plan = planned_hours(before)
    hours = ", ".join(f"{w.hours} h ({w.week})" for w in weeks)
    message = (
        f"{before.who} at {s.client_name} has worked under {SHORTFALL_SHARE:.0%} of the "
        f"planned {plan} h a week for {len(weeks)} reported weeks in a row ({hours}): "
        f"{money(max(missed, ZERO))} of gross profit missed and {money(max(at_risk, ZERO))} "
        "still planned is at risk; ask the client whether the assignment is winding down or "
        "moving."
    )
    return [new_alert("HOURS_SHORTFALL", "high", "applied", s, [e], message, exposure, before)]
