"""COMMITMENT_SHORTFALL: an assignment ended early on a contract with a minimum commitment."""

from __future__ import annotations

from datetime import datetime, timedelta

from events.alerts import Alert
from events.catalogue import EventBase
from projections import margin
from projections.risk.rules.building import new_alert
from projections.risk.rules.changes import ended_active
from projections.risk.rules.constants import EARLY_END_REASONS
from projections.risk.rules.wording import END_WORDS, fmt_weeks, money
from projections.risk.state import RiskState


def commitment_shortfall(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """An assignment on a contract with `min_assignment_weeks` ends before serving them, by the
    client (ended_early_by_client, converted_to_client_hire: the client's choice too) or by a
    move (moved_to_other_agency): high. Not staffer_left nor completed. Weeks served run from
    start_date to end_date (calendar days / 7). Exposure: weekly gross profit at the rates in
    force × (min weeks − weeks served).
    """
    weeks = s.terms.min_assignment_weeks
    ended = ended_active(s, e, EARLY_END_REASONS)
    if weeks is None or ended is None:
        return []
    e, a = ended
    committed = margin.Term(a.start_date, a.start_date + timedelta(weeks=weeks))
    short_days = margin.remaining_days(committed, e.end_date)
    if short_days <= 0:
        return []
    r = s.rates(a)
    exposure = margin.remaining_gross_profit(r, committed, e.end_date)
    served = weeks * 7 - short_days
    message = (
        f"{a.who} at {s.client_name} {END_WORDS[e.reason]} on {e.end_date} after "
        f"{fmt_weeks(served)} of the {weeks} committed: {fmt_weeks(short_days)} short at "
        f"{money(margin.weekly_gross_profit(r))} a week, {money(exposure)} of the gross profit "
        "the low markup was priced on; claim it under the commitment or reprice the contract."
    )
    return [new_alert("COMMITMENT_SHORTFALL", "high", "applied", s, [e], message, exposure, a)]
