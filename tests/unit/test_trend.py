"""The weekly trend (projections/trend.py) equals the roll-up of each day's assignment margins,
and the margin status follows DESIGN's red / amber / green."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.rollup import assignment_margin, margin_status, roll_up
from projections.trend import RatePoint, TrendAssignment, weekly_trend
from tests.support.portfolio import D0, assignments, facts_on, offset, pct, terms, terms_on


@settings(max_examples=60, deadline=None)
@given(
    a1=assignments("C1"),
    a2=assignments("C2"),
    amendments=st.lists(st.tuples(offset, pct, pct), max_size=3),
    end=offset,
)
def test_each_point_is_the_roll_up_of_that_day(
    a1: TrendAssignment,
    a2: TrendAssignment,
    amendments: list[tuple[int, Decimal, Decimal]],
    end: int,
) -> None:
    history = {"C1": terms("C1", amendments), "C2": terms("C2", [])}
    days = [D0 + timedelta(days=end + 7 * k) for k in range(8)]
    points = weekly_trend([a1, a2], history, days)
    for p, day in zip(points, days, strict=True):
        margins = [
            assignment_margin(facts_on(a, terms_on(history[a.contract_id], day), day), day)
            for a in (a1, a2)
        ]
        r = roll_up(m.for_roll_up for m in margins)
        assert (p.day, p.weekly_gross_profit, p.active_assignments) == (
            day,
            r.weekly_gross_profit,
            r.active_assignments,
        )


def test_designs_worked_example_in_the_trend() -> None:
    a = TrendAssignment("C1", D0, None, None, Decimal(40), None,
                        (RatePoint(D0, 2, Decimal("30.00"), Decimal("37.50")),),
                        D0 + timedelta(400), False)  # fmt: skip
    [before, on] = weekly_trend([a], {"C1": terms("C1", [])}, [D0 - timedelta(7), D0])
    assert (before.weekly_gross_profit, before.active_assignments) == (Decimal(0), 0)
    assert (on.weekly_gross_profit, on.active_assignments) == (Decimal("60.00"), 1)


def test_margin_status() -> None:
    assert margin_status(Decimal("-0.01"), Decimal(30), Decimal(15)) == "red"
    assert margin_status(Decimal("1.50"), Decimal("14.99"), Decimal(15)) == "amber"
    assert margin_status(Decimal("1.50"), Decimal(15), Decimal(15)) == "green"
    assert margin_status(Decimal("1.50"), Decimal(5), None) == "green"
