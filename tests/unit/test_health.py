"""A client's health score (projections.health): parts by hand, and monotone in each part."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from projections.health import HealthFacts, Relationship, change_pct, client_health, facts_from

HEALTHY = HealthFacts(3, 0, 0, 0, 0, 0, Decimal(5), 0)


def test_a_healthy_client_scores_100() -> None:
    h = client_health(HEALTHY)
    assert h.score == 100 and all(p.points == 0 for p in h.parts)


def test_each_part_by_hand() -> None:
    f = HealthFacts(
        days_since_two_way_contact=30,  # 16 days past the 14 of grace
        unanswered_outbound_in_a_row=2,  # 10
        complaints_90d=1,  # 5
        legal_threats_90d=1,  # 15
        bypass_threats_90d=1,  # 10
        open_pressure=2,  # 8
        gross_profit_change_pct=Decimal("-21"),  # 10.5 rounds half up to 11
        short_weeks=2,  # 6
    )
    h = client_health(f)
    assert {p.name: p.points for p in h.parts} == {
        "contact_recency": 16,
        "contact_response": 10,
        "complaints": 5,
        "legal_threats": 15,
        "bypass_threats": 10,
        "raise_and_markup_pressure": 8,
        "gross_profit_trend": 11,
        "hours_shortfall": 6,
    }
    assert h.score == 100 - 81
    assert h.parts[0].why == "last two-way contact 30 days ago"


def test_never_in_contact_and_every_cap_gives_zero_not_less() -> None:
    worst = HealthFacts(None, 9, 9, 9, 9, 9, Decimal(-100), 9)
    h = client_health(worst)
    assert h.score == 0
    assert {p.name: p.points for p in h.parts}["contact_recency"] == 20


def _at(day: str, kind: str, **flags: bool) -> Relationship:
    return Relationship(datetime.fromisoformat(f"{day}T10:00:00+00:00"), kind, **flags)


def test_facts_from_the_relationship_events() -> None:
    events = [
        _at("2026-01-05", "ClientContactLogged", outbound=True, responded=True),
        _at("2026-02-02", "ClientContactLogged", outbound=True),
        _at("2026-02-09", "ClientContactLogged", outbound=True),
        _at("2025-10-01", "ClientComplaintLogged", legal_threat=True),  # older than 90 days
        _at("2026-01-20", "ClientComplaintLogged", legal_threat=True),
        _at("2026-01-21", "ClientComplaintLogged"),
        _at("2026-01-22", "BypassThreatReported"),
        _at("2026-03-01", "BypassThreatReported"),  # after the day asked about
    ]
    f = facts_from(events, date(2026, 2, 15), 1, change_pct(Decimal(100), Decimal(80)), 0)
    assert f == HealthFacts(41, 2, 1, 1, 1, 1, Decimal(-20), 0)


_facts = st.builds(
    HealthFacts,
    st.none() | st.integers(0, 400),
    st.integers(0, 10),
    st.integers(0, 10),
    st.integers(0, 10),
    st.integers(0, 10),
    st.integers(0, 10),
    st.none() | st.decimals(min_value=-100, max_value=100, places=1),
    st.integers(0, 10),
)
_COUNTS = (
    "unanswered_outbound_in_a_row",
    "complaints_90d",
    "legal_threats_90d",
    "bypass_threats_90d",
    "open_pressure",
    "short_weeks",
)


@given(_facts, st.sampled_from(_COUNTS), st.integers(1, 5))
def test_more_of_anything_bad_never_raises_the_score(f: HealthFacts, name: str, more: int) -> None:
    worse = dataclasses.replace(f, **{name: getattr(f, name) + more})
    assert client_health(worse).score <= client_health(f).score
    assert 0 <= client_health(worse).score <= 100


@given(_facts, st.integers(1, 60), st.decimals(min_value=0, max_value=50, places=1))
def test_a_longer_silence_and_a_steeper_fall_never_raise_the_score(
    f: HealthFacts, days: int, fall: Decimal
) -> None:
    silent = dataclasses.replace(
        f,
        days_since_two_way_contact=None
        if f.days_since_two_way_contact is None
        else f.days_since_two_way_contact + days,
    )
    assert client_health(silent).score <= client_health(f).score
    never = dataclasses.replace(f, days_since_two_way_contact=None)
    assert client_health(never).score <= client_health(f).score
    base = f.gross_profit_change_pct if f.gross_profit_change_pct is not None else Decimal(0)
    steeper = dataclasses.replace(f, gross_profit_change_pct=base - fall)
    assert (
        client_health(steeper).score
        <= client_health(dataclasses.replace(f, gross_profit_change_pct=base)).score
    )
