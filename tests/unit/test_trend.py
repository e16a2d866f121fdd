"""The weekly trend (projections/trend.py) equals the roll-up of each day's assignment margins,
and the margin status follows DESIGN's red / amber / green."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import margin
from projections.read_model import TermsRow, terms_in_force
from projections.rollup import AssignmentFacts, assignment_margin, margin_status, roll_up
from projections.trend import RatePoint, TrendAssignment, weekly_trend

D0 = date(2026, 1, 5)
money = st.decimals(min_value=Decimal("10"), max_value=Decimal("60"), places=2)
pct = st.decimals(min_value=Decimal("0"), max_value=Decimal("30"), places=1)
offset = st.integers(min_value=0, max_value=300)


@st.composite
def assignments(draw: st.DrawFn, contract_id: str) -> TrendAssignment:
    start = D0 + timedelta(days=draw(offset))
    end = draw(st.none() | offset.map(lambda n: start + timedelta(days=n)))
    changes = draw(st.lists(st.tuples(offset, money, money), min_size=1, max_size=4))
    rates = tuple(
        RatePoint(start + timedelta(days=n if i else 0), i + 2, pay, bill)
        for i, (n, pay, bill) in enumerate(changes)
    )
    return TrendAssignment(
        contract_id=contract_id,
        start_date=start,
        end_date=end,
        contract_terminated_on=draw(st.none() | offset.map(lambda n: D0 + timedelta(days=n))),
        hours_per_week=Decimal(draw(st.integers(min_value=1, max_value=60))),
        own_burden_pct=draw(st.none() | pct),
        rates=rates,
    )


def _terms(contract_id: str, amendments: list[tuple[int, Decimal, Decimal]]) -> list[TermsRow]:
    rows = [TermsRow(contract_id, D0, 1, "signed", Decimal(20), Decimal(0), Decimal(15),
                     Decimal(10), None)]  # fmt: skip
    for i, (n, burden, fee) in enumerate(amendments):
        rows.append(TermsRow(contract_id, D0 + timedelta(days=n), 10 + i, "amended", burden, fee,
                             None, None, None))  # fmt: skip
    return rows


def _reference(a: TrendAssignment, history: list[TermsRow], day: date) -> AssignmentFacts:
    """The facts one day's read gives (services/api/read/margin_facts.py): the rates in force,
    else the first recorded; the terms in force."""
    ordered = sorted(a.rates, key=lambda p: (p.effective_date, p.stream_version))
    in_force = [p for p in ordered if p.effective_date <= day]
    r = in_force[-1] if in_force else ordered[0]
    t = terms_in_force(history, day)
    assert t is not None
    return AssignmentFacts(
        contract_id=a.contract_id, assignment_id="A", staffer_id="S", staffer_name=None,
        job_title="x", start_date=a.start_date, expected_end_date=a.start_date + timedelta(400),
        end_date=a.end_date, end_reason=None,
        rates=margin.Rates(r.pay_rate, r.bill_rate,
                           a.own_burden_pct if a.own_burden_pct is not None else t.burden_pct,
                           t.msp_fee_pct, a.hours_per_week),
        rates_effective=r.effective_date, conversion_fee_pct=t.conversion_fee_pct,
        conversion_fee_waived_after_hours=None, contract_terminated_on=a.contract_terminated_on,
        stream_version=1,
    )  # fmt: skip


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
    history = {"C1": _terms("C1", amendments), "C2": _terms("C2", [])}
    days = [D0 + timedelta(days=end + 7 * k) for k in range(8)]
    points = weekly_trend([a1, a2], history, days)
    for p, day in zip(points, days, strict=True):
        margins = [assignment_margin(_reference(a, history[a.contract_id], day), day)
                   for a in (a1, a2)]  # fmt: skip
        r = roll_up(margins)
        assert (p.day, p.weekly_gross_profit, p.active_assignments) == (
            day,
            r.weekly_gross_profit,
            r.active_assignments,
        )


def test_designs_worked_example_in_the_trend() -> None:
    a = TrendAssignment("C1", D0, None, None, Decimal(40), None,
                        (RatePoint(D0, 2, Decimal("30.00"), Decimal("37.50")),))  # fmt: skip
    [before, on] = weekly_trend([a], {"C1": _terms("C1", [])}, [D0 - timedelta(7), D0])
    assert (before.weekly_gross_profit, before.active_assignments) == (0, 0)
    assert (on.weekly_gross_profit, on.active_assignments) == (Decimal("60.00"), 1)


def test_margin_status() -> None:
    assert margin_status(Decimal("-0.01"), Decimal(30), Decimal(15)) == "red"
    assert margin_status(Decimal("1.50"), Decimal("14.99"), Decimal(15)) == "amber"
    assert margin_status(Decimal("1.50"), Decimal(15), Decimal(15)) == "green"
    assert margin_status(Decimal("1.50"), Decimal(5), None) == "green"
