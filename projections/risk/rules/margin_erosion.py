"""MARGIN_EROSION: repeated markup cuts on one contract."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from events.alerts import Alert
from events.catalogue import EventBase, MarkupAgreed
from projections.risk.rules.building import build_alerts
from projections.risk.rules.constants import (
    EROSION_CUTS_WINDOW,
    EROSION_POINTS,
    EROSION_POINTS_WINDOW,
    WEEKS_PER_YEAR,
    ZERO,
)
from projections.risk.rules.wording import fmt_count, money, pct
from projections.risk.state import RiskState, evolve


def margin_erosion(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """A MarkupAgreed that cuts a markup (lowers it on some assignment it covers) and is the
    second cut on the contract within 90 days, or brings the cuts within 180 days to 5 points
    or more: medium, about the contract. Erosion is cut after cut: one cut alone, however deep,
    is not erosion (BELOW_FLOOR and LOSS_POSITION judge its depth).

    Days are the days the cuts were agreed (occurred_at), inclusive. A cut's points are the
    largest markup drop among the assignments it covers. The cuts counted are those of the
    180-day window when the points test holds, else those of the 90-day window; exposure is
    the weekly gross profit they lost (at the time of each cut) × 52.
    """
    if not isinstance(e, MarkupAgreed):
        return []
    after = evolve(s, e)
    if not any(c.event_id == e.event_id for c in after.markup_cuts):
        return []
    day = e.occurred_at.date()

    def in_window(window: timedelta) -> dict[UUID, list[Decimal]]:
        by_event: dict[UUID, list[Decimal]] = {}
        for c in after.markup_cuts:
            if c.agreed_on >= day - window:
                by_event.setdefault(c.event_id, []).append(c.points)
        return by_event

    recent = in_window(EROSION_CUTS_WINDOW)
    longer = in_window(EROSION_POINTS_WINDOW)
    points = sum((max(p) for p in longer.values()), ZERO)
    if len(longer) >= 2 and points >= EROSION_POINTS:
        cut_ids, days = list(longer), EROSION_POINTS_WINDOW.days
    elif len(recent) >= 2:
        cut_ids, days = list(recent), EROSION_CUTS_WINDOW.days
        points = sum((max(p) for p in recent.values()), ZERO)
    else:
        return []
    cuts = [c for c in after.markup_cuts if c.event_id in cut_ids]
    weekly = sum((c.weekly_gross_profit_lost for c in cuts), ZERO)
    exposure = weekly * WEEKS_PER_YEAR
    latest = [c.assignment_id for c in cuts if c.event_id == e.event_id]
    message = (
        f"{s.client_name} has won {fmt_count(len(cut_ids), 'markup cut')} within {days} days "
        f"({money(points)} points in all, the latest to {pct(e.markup_pct)} on "
        f"{', '.join(latest)}): {money(weekly)} a week, {money(exposure)} a year of gross "
        "profit lost; stop conceding markup and review the account."
    )
    trigger = tuple(cut_ids)
    return [
        build_alerts(
            "MARGIN_EROSION",
            "medium",
            "applied",
            s,
            trigger,
            e.occurred_at,
            e.stream_version,
            message,
            exposure,
        )
    ]
