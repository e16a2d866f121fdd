"""A client's health: a score 0–100 as of a date, the sum of stated parts, each shown with its
points so that a person sees why (DESIGN "Overtime, hours worked and client health"). Pure: the
caller gathers the facts as of the date (`HealthFacts`, `facts_from`).

The score starts at 100 and each part takes points off, up to its cap:

| part | points off | cap |
|---|---|---|
| contact recency | 1 a day past 14 days since the last two-way contact (never: the cap) | 20 |
| contact response | 5 for each outbound contact in a row without response | 15 |
| complaints | 5 each in the last 90 days | 15 |
| legal threats | 15 each complaint with a legal threat in the last 90 days | 30 |
| bypass threats | 10 each in the last 90 days | 20 |
| raise and markup pressure | 4 each open raise request or markup negotiation | 12 |
| gross profit trend | half the percentage the weekly gross profit fell over 13 weeks | 15 |
| hours shortfall | 3 each reported week under 60 % of plan (the last 4 of each assignment) | 12 |

Every part is monotone: more of what is bad never raises the score (tests/unit/test_health.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

WINDOW: Final = timedelta(days=90)

# The table above, once: each counted part takes min(cap, max(0, n) × each) off 100, written out
# where it is used (the risk agent scores every event; a call per part would cost it).
RECENCY_CAP: Final = 20
RESPONSE_CAP: Final = 15
RESPONSE_EACH: Final = 5
COMPLAINTS_CAP: Final = 15
COMPLAINTS_EACH: Final = 5
LEGAL_CAP: Final = 30
LEGAL_EACH: Final = 15
BYPASS_CAP: Final = 20
BYPASS_EACH: Final = 10
PRESSURE_CAP: Final = 12
PRESSURE_EACH: Final = 4
TREND_CAP: Final = 15
SHORT_WEEKS_CAP: Final = 12
SHORT_WEEKS_EACH: Final = 3


def days_back(day: date, span: timedelta) -> date:
    """`span` before `day`, or the first day there is: an event may be dated in the year 1 (the
    schema allows it), where `day - span` would raise OverflowError (found by Schemathesis: a
    500 from the preview, an event the risk agent could not judge)."""
    try:  # the common case in one subtraction (called several times an event by the risk agent)
        return day - span
    except OverflowError:
        return date.min


CONTACT_GRACE_DAYS: Final = 14
TREND_WEEKS: Final = 13

PartName = Literal[
    "contact_recency",
    "contact_response",
    "complaints",
    "legal_threats",
    "bypass_threats",
    "raise_and_markup_pressure",
    "gross_profit_trend",
    "hours_shortfall",
]


@dataclass(frozen=True, slots=True)
class HealthFacts:
    days_since_two_way_contact: int | None  # None: never a two-way contact
    unanswered_outbound_in_a_row: int
    complaints_90d: int  # without a legal threat
    legal_threats_90d: int
    bypass_threats_90d: int
    open_pressure: int  # open raise requests and markup negotiations
    gross_profit_change_pct: Decimal | None  # weekly GP now against 13 weeks ago; None: no base
    short_weeks: int


@dataclass(frozen=True, slots=True)
class HealthPart:
    name: PartName
    points: int  # taken off (0 or more)
    cap: int
    why: str


@dataclass(frozen=True, slots=True)
class Health:
    score: int
    parts: tuple[HealthPart, ...]


def _n(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def recency_points(days_since_two_way_contact: int | None) -> int:
    """The points the contact recency part takes off (the part that grows with time alone)."""
    days = days_since_two_way_contact
    return RECENCY_CAP if days is None else min(RECENCY_CAP, max(0, days - CONTACT_GRACE_DAYS))


def trend_points(gross_profit_change_pct: Decimal | None) -> int:
    """The points the gross profit trend part takes off: half the percentage it fell."""
    change = gross_profit_change_pct
    if change is None or change >= 0:
        return 0
    return min(TREND_CAP, int((-change / 2).to_integral_value(rounding=ROUND_HALF_UP)))


def _points(f: HealthFacts) -> tuple[int, int, int, int, int, int, int, int]:
    """The points each part takes off, in the order of `client_health`'s parts."""
    return (
        recency_points(f.days_since_two_way_contact),
        min(RESPONSE_CAP, max(0, f.unanswered_outbound_in_a_row) * RESPONSE_EACH),
        min(COMPLAINTS_CAP, max(0, f.complaints_90d) * COMPLAINTS_EACH),
        min(LEGAL_CAP, max(0, f.legal_threats_90d) * LEGAL_EACH),
        min(BYPASS_CAP, max(0, f.bypass_threats_90d) * BYPASS_EACH),
        min(PRESSURE_CAP, max(0, f.open_pressure) * PRESSURE_EACH),
        trend_points(f.gross_profit_change_pct),
        min(SHORT_WEEKS_CAP, max(0, f.short_weeks) * SHORT_WEEKS_EACH),
    )


def health_score(f: HealthFacts) -> int:
    """`client_health(f).score` without the parts' wording (the risk agent measures it at every
    event, and words the parts only when CLIENT_HEALTH_FALLING raises)."""
    return max(0, 100 - sum(_points(f)))


def client_health(f: HealthFacts) -> Health:
    """The score and its parts."""
    days = f.days_since_two_way_contact
    change = f.gross_profit_change_pct
    recency, response, complaints, legal, bypass, pressure, trend, short = _points(f)
    parts = (
        HealthPart(
            "contact_recency",
            recency,
            RECENCY_CAP,
            "no two-way contact logged"
            if days is None
            else f"last two-way contact {days} days ago",
        ),
        HealthPart(
            "contact_response",
            response,
            RESPONSE_CAP,
            f"{_n(f.unanswered_outbound_in_a_row, 'outbound contact')} in a row without response",
        ),
        HealthPart(
            "complaints",
            complaints,
            COMPLAINTS_CAP,
            f"{_n(f.complaints_90d, 'complaint')} in 90 days",
        ),
        HealthPart(
            "legal_threats",
            legal,
            LEGAL_CAP,
            f"{_n(f.legal_threats_90d, 'complaint')} with a legal threat in 90 days",
        ),
        HealthPart(
            "bypass_threats",
            bypass,
            BYPASS_CAP,
            f"{_n(f.bypass_threats_90d, 'bypass threat')} in 90 days",
        ),
        HealthPart(
            "raise_and_markup_pressure",
            pressure,
            PRESSURE_CAP,
            f"{f.open_pressure} open raise requests and markup negotiations",
        ),
        HealthPart(
            "gross_profit_trend",
            trend,
            TREND_CAP,
            "no gross profit 13 weeks ago to compare with"
            if change is None
            else f"weekly gross profit {change:+.1f} % over 13 weeks",
        ),
        HealthPart(
            "hours_shortfall",
            short,
            SHORT_WEEKS_CAP,
            f"{_n(f.short_weeks, 'reported week')} under 60 % of plan",
        ),
    )
    return Health(max(0, 100 - sum(p.points for p in parts)), parts)  # = health_score(f)


@dataclass(frozen=True, slots=True)
class Relationship:
    """One relationship event of the client's contracts, as the score reads it."""

    occurred_at: datetime
    type: str  # ClientContactLogged | ClientComplaintLogged | BypassThreatReported
    outbound: bool = False
    responded: bool = False
    legal_threat: bool = False


def facts_from(
    events: Iterable[Relationship],
    on: date,
    open_pressure: int,
    gross_profit_change_pct: Decimal | None,
    short_weeks: int,
) -> HealthFacts:
    """The facts as of the end of `on` from the client's relationship events (any order)."""
    seen = sorted((e for e in events if e.occurred_at.date() <= on), key=lambda e: e.occurred_at)
    since = days_back(on, WINDOW)
    two_way = [
        e for e in seen if e.type == "ClientContactLogged" and (not e.outbound or e.responded)
    ]
    run = 0
    for e in reversed([e for e in seen if e.type == "ClientContactLogged"]):
        if e.outbound and not e.responded:
            run += 1
        else:
            break
    recent = [e for e in seen if e.occurred_at.date() > since]
    return HealthFacts(
        days_since_two_way_contact=(on - two_way[-1].occurred_at.date()).days if two_way else None,
        unanswered_outbound_in_a_row=run,
        complaints_90d=sum(
            e.type == "ClientComplaintLogged" and not e.legal_threat for e in recent
        ),
        legal_threats_90d=sum(e.type == "ClientComplaintLogged" and e.legal_threat for e in recent),
        bypass_threats_90d=sum(e.type == "BypassThreatReported" for e in recent),
        open_pressure=open_pressure,
        gross_profit_change_pct=gross_profit_change_pct,
        short_weeks=short_weeks,
    )


def change_pct(before: Decimal, now: Decimal) -> Decimal | None:
    """(now − before) / |before| × 100; None when there was nothing before."""
    if before == 0:
        return None
    return (now - before) / abs(before) * 100
