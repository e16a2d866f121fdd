"""Overtime and double time in the margin math (projections.margin) against DESIGN.md
"Overtime, hours worked and client health", its worked example by hand."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.margin import (
    Rates,
    Term,
    burdened_cost,
    dt_rates,
    figures,
    hour_margin,
    hours_worked,
    impact,
    margin_per_dt_hour,
    margin_per_hour,
    margin_per_ot_hour,
    ot_rates,
    remaining_gross_profit,
    weekly_gross_profit,
)
from tests.support.overtime_example import RATES as EXAMPLE

D = Decimal

# EXAMPLE: DESIGN's worked example, continued: P 30.00, B 37.50, b 20, ot_bill_multiplier 1.4,
# H 40, H_ot 5.


def test_worked_example_every_overtime_hour_loses_money() -> None:
    ot = ot_rates(EXAMPLE)
    assert ot is not None
    assert ot.pay_rate == D("45.00")  # 1.5 × 30.00
    assert ot.bill_rate == D("52.50")  # 1.4 × 37.50
    assert burdened_cost(ot) == D("54.00")  # 45.00 × 1.20
    assert margin_per_ot_hour(EXAMPLE) == D("-1.50")  # 52.50 − 54.00
    assert margin_per_hour(EXAMPLE) == D("1.50")  # the regular hour is unchanged


def test_worked_example_the_week_earns_60_less_7_50() -> None:
    # 1.50 × 40 + (−1.50) × 5 = 60.00 − 7.50
    assert weekly_gross_profit(EXAMPLE) == D("52.50")


def test_worked_example_as_figures() -> None:
    term = Term(date(2025, 1, 6), date(2025, 1, 6) + timedelta(weeks=10))
    f = figures(EXAMPLE, term, date(2025, 1, 6))
    assert (f.ot_pay_rate, f.ot_bill_rate, f.ot_burdened_cost) == (D(45), D("52.5"), D(54))
    assert f.ot_markup_pct == D("16.66666666666666666666666666666667")  # 52.50 / 45 − 1
    assert f.margin_per_ot_hour == D("-1.5")
    assert f.weekly_gross_profit == D("52.5")
    assert f.remaining_gross_profit == D("525")  # 10 weeks × 52.50
    assert f.planned_ot_hours_per_week == D(5)
    # Double time by default: pay 2 × 30.00 = 60.00, bill 2 × 37.50 = 75.00 (the contract's
    # default DT multiplier), burdened 72.00, margin 3.00 an hour.
    assert (f.dt_pay_rate, f.dt_bill_rate, f.dt_burdened_cost) == (D(60), D(75), D(72))
    assert f.margin_per_dt_hour == D(3)
    # An OT hour is an hour worked: 45 h a week, 2 weeks in.
    assert hours_worked(EXAMPLE, term, date(2025, 1, 20)) == D(90)


def test_given_rates_win_over_the_multipliers() -> None:
    r = dataclasses.replace(
        EXAMPLE, ot_pay_rate=D("44.00"), ot_bill_rate=D("60.00"), dt_pay_rate=D("58.00")
    )
    # 60.00 − 44.00 × 1.20 = 7.20
    assert margin_per_ot_hour(r) == D("7.20")
    dt = dt_rates(r)
    assert dt is not None and (dt.pay_rate, dt.bill_rate) == (D("58.00"), D("75.000"))
    assert weekly_gross_profit(r) == D("60.00") + D("36.00")  # 1.50 × 40 + 7.20 × 5


def test_the_msp_fee_applies_to_every_bill() -> None:
    r = dataclasses.replace(EXAMPLE, msp_fee_pct=D("2"))
    # 52.50 − 54.00 − 52.50 × 0.02 = −2.55
    assert margin_per_ot_hour(r) == D("-2.55")
    # DT: 75.00 − 72.00 − 1.50 = 1.50
    assert margin_per_dt_hour(r) == D("1.50")


def test_an_ot_exempt_assignment_has_no_overtime() -> None:
    r = dataclasses.replace(EXAMPLE, ot_exempt=True)
    assert ot_rates(r) is None and dt_rates(r) is None
    assert margin_per_ot_hour(r) is None and margin_per_dt_hour(r) is None
    assert weekly_gross_profit(r) == D("60.00")  # planned OT does not count
    f = figures(r, Term(date(2025, 1, 6), date(2025, 3, 3)), date(2025, 1, 6))
    assert f.ot_exempt and f.margin_per_ot_hour is None and f.dt_pay_rate is None
    with pytest.raises(ValueError, match="ot_exempt"):
        hour_margin(r, D(40), D(1), D(0))


def test_a_reported_week_by_hand() -> None:
    # 38 regular, 6 OT, 2 DT: 1.50 × 38 − 1.50 × 6 + 3.00 × 2 = 57 − 9 + 6 = 54.00
    assert hour_margin(EXAMPLE, D(38), D(6), D(2)) == D("54.00")
    assert hour_margin(EXAMPLE, D(0), D(0), D(0)) == D(0)


def test_the_impact_of_a_change_counts_the_planned_overtime() -> None:
    # The client agrees an OT bill multiplier of 1.6: B_ot 60.00, margin 6.00 an OT hour,
    # + 7.50 an OT hour, + 37.50 a week.
    after = dataclasses.replace(EXAMPLE, ot_bill_multiplier=D("1.6"))
    term = Term(date(2025, 1, 6), date(2025, 3, 3))  # 8 weeks
    i = impact(EXAMPLE, after, term, date(2025, 1, 6))
    assert i.before.margin_per_ot_hour == D("-1.50")
    assert i.after.margin_per_ot_hour == D("6.00")
    assert i.delta.margin_per_ot_hour == D("7.50")
    assert i.delta.weekly_gross_profit == D("37.50")
    assert i.delta.remaining_gross_profit == D("300")  # 8 × 37.50
    assert i.delta.margin_per_hour == 0


money = st.decimals(min_value=D("1.00"), max_value=D("200.00"), places=2)
hours = st.decimals(min_value=D(0), max_value=D(60), places=2)
multipliers = st.decimals(min_value=D("1.00"), max_value=D("3.00"), places=2)


@given(money, money, st.decimals(min_value=0, max_value=40, places=1), hours)
def test_without_planned_overtime_the_figures_are_those_before_overtime(
    pay: Decimal, bill: Decimal, burden: Decimal, h: Decimal
) -> None:
    r = Rates(pay_rate=pay, bill_rate=bill, burden_pct=burden, hours_per_week=h)
    term = Term(date(2025, 1, 6), date(2025, 6, 2))
    # The v1 formula exactly, down to the exponent (str), so a v1 log reads as it did.
    v1_weekly = margin_per_hour(r) * h
    assert str(weekly_gross_profit(r)) == str(v1_weekly)
    assert str(hours_worked(r, term, date(2025, 2, 3))) == str(h * 28 / 7)
    assert str(remaining_gross_profit(r, term, date(2025, 1, 6))) == str(v1_weekly * 147 / 7)


@given(money, money, multipliers, multipliers, hours, hours)
def test_the_week_is_regular_plus_overtime(
    pay: Decimal, bill: Decimal, ot_mult: Decimal, dt_mult: Decimal, h: Decimal, h_ot: Decimal
) -> None:
    r = Rates(
        pay_rate=pay,
        bill_rate=bill,
        burden_pct=D(20),
        hours_per_week=h,
        ot_bill_multiplier=ot_mult,
        dt_bill_multiplier=dt_mult,
        planned_ot_hours_per_week=h_ot,
    )
    ot = margin_per_ot_hour(r)
    assert ot is not None
    assert weekly_gross_profit(r) == margin_per_hour(r) * h + ot * h_ot
    assert hour_margin(r, h, h_ot, D(0)) == weekly_gross_profit(r)
    ot_r, dt_r = ot_rates(r), dt_rates(r)
    assert ot_r is not None and (ot_r.pay_rate, ot_r.bill_rate) == (D("1.5") * pay, ot_mult * bill)
    assert dt_r is not None and (dt_r.pay_rate, dt_r.bill_rate) == (2 * pay, dt_mult * bill)


@given(money, money, multipliers, multipliers)
def test_a_higher_ot_bill_multiplier_never_earns_less(
    pay: Decimal, bill: Decimal, m1: Decimal, m2: Decimal
) -> None:
    low, high = sorted((m1, m2))
    r = Rates(pay_rate=pay, bill_rate=bill, burden_pct=D(20), ot_bill_multiplier=low)
    a = margin_per_ot_hour(r)
    b = margin_per_ot_hour(dataclasses.replace(r, ot_bill_multiplier=high))
    assert a is not None and b is not None and a <= b
