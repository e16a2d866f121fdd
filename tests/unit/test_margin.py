"""Margin math (projections.margin) against DESIGN.md "Money and margin: the formulas"."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.margin import (
    Figures,
    Rates,
    Term,
    bill_rate_for_markup,
    break_even_markup_pct,
    burdened_cost,
    conversion_fee_due,
    figures,
    hours_worked,
    impact,
    margin_pct,
    margin_per_hour,
    markup_pct,
    remaining_days,
    remaining_gross_profit,
    remaining_weeks,
    round_money,
    round_pct,
    spread,
    weekly_gross_profit,
    weighted_markup_pct,
)

D = Decimal

# --- the worked example of DESIGN ------------------------------------------------------------

BEFORE = Rates(pay_rate=D("30.00"), bill_rate=D("37.50"), burden_pct=D("20"))
AFTER = Rates(pay_rate=D("32.00"), bill_rate=D("37.50"), burden_pct=D("20"))
EFFECTIVE = date(2025, 3, 3)
# The assignment started before the raise and is expected to end 30 weeks after it.
TERM = Term(start_date=date(2025, 1, 6), expected_end_date=EFFECTIVE + timedelta(weeks=30))


def test_worked_example_before_the_raise() -> None:
    assert markup_pct(BEFORE) == D("25")
    assert spread(BEFORE) == D("7.50")
    assert burdened_cost(BEFORE) == D("36.00")
    assert margin_per_hour(BEFORE) == D("1.50")
    assert margin_pct(BEFORE) == D("4.00")
    assert weekly_gross_profit(BEFORE) == D("60.00")
    assert break_even_markup_pct(D("20")) == D("20")


def test_worked_example_the_raise_is_a_loss_position() -> None:
    assert markup_pct(AFTER) == D("17.1875")
    assert burdened_cost(AFTER) == D("38.40")
    assert margin_per_hour(AFTER) == D("-0.90")
    assert weekly_gross_profit(AFTER) == D("-36.00")


def test_worked_example_impact() -> None:
    result = impact(BEFORE, AFTER, TERM, counted_from=EFFECTIVE)
    assert result.delta.pay_rate == D("2.00")
    assert result.delta.bill_rate == D("0")
    assert result.delta.markup_pct == D("-7.8125")  # 17.1875 − 25
    assert result.delta.margin_per_hour == D("-2.40")  # −0.90 − 1.50
    assert result.delta.weekly_gross_profit == D("-96.00")  # −36.00 − 60.00
    # 30 weeks remain from the effective date (210 days):
    #   before  1.50 × 40 × 210 / 7 =   60.00 × 30 =  1800.00
    #   after  −0.90 × 40 × 210 / 7 =  −36.00 × 30 = −1080.00
    #   delta  −1080.00 − 1800.00 = −2880.00   (= −96.00 a week × 30 weeks)
    assert result.before.remaining_gross_profit == D("1800.00")
    assert result.after.remaining_gross_profit == D("-1080.00")
    assert result.delta.remaining_gross_profit == D("-2880.00")
    assert result.before.markup_pct == D("25")
    assert result.after.margin_per_hour == D("-0.90")


def test_worked_example_figures_as_of_the_effective_date() -> None:
    f = figures(AFTER, TERM, EFFECTIVE)
    assert f.remaining_weeks == D("30")
    assert f.remaining_gross_profit == D("-1080.00")
    # 8 weeks worked from 2025-01-06 to 2025-03-03: 40 × 56 / 7
    assert f.hours_worked == D("320")
    assert f.conversion_fee_due == D("0")
    assert f.break_even_markup_pct == D("20")


# --- an MSP fee, by hand ---------------------------------------------------------------------
#
# P 40.00, B 52.00, b 18, f 3, H 37.5:
#   markup        (52 / 40 − 1) × 100                    = 30
#   spread        52 − 40                                = 12.00
#   burdened      40 × 1.18                              = 47.20
#   MSP fee/hour  52 × 0.03                              =  1.56
#   margin/hour   52 − 47.20 − 1.56                      =  3.24
#   margin %      3.24 / 52 × 100 = 81/13                =  6.2307… → 6.23
#   weekly GP     3.24 × 37.5                            = 121.50
#   break-even    1.18 / 0.97 × 100 − 100 = 2100/97      = 21.6494… → 21.65
#     check: at B = 40 × (1 + (2100/97)/100) = 40 × 118/97, margin = B × 0.97 − 47.20 = 0
#   13 weeks left (91 days): 121.50 × 13                 = 1579.50
#   10 days left: 3.24 × 37.5 × 10 / 7 = 1215/7          = 173.5714… → 173.57
#   conversion fee 20 %: 0.20 × 40 × 37.5 × 52           = 15600.00,
#     waived after 480 hours = 12.8 weeks = 89.6 days: due on day 89 (3337.5 h·days/7 < 480),
#     waived on day 90 (37.5 × 90 / 7 = 482.14… ≥ 480)

MSP = Rates(
    pay_rate=D("40.00"),
    bill_rate=D("52.00"),
    burden_pct=D("18"),
    msp_fee_pct=D("3"),
    hours_per_week=D("37.5"),
)
MSP_START = date(2025, 1, 1)


def test_msp_fee_example() -> None:
    assert markup_pct(MSP) == D("30")
    assert spread(MSP) == D("12.00")
    assert burdened_cost(MSP) == D("47.20")
    assert margin_per_hour(MSP) == D("3.24")
    assert round_pct(margin_pct(MSP)) == D("6.23")
    assert margin_pct(MSP) == D("6.230769230769230769230769230769231")  # 81/13, 34 digits
    assert weekly_gross_profit(MSP) == D("121.50")
    assert round_pct(break_even_markup_pct(D("18"), D("3"))) == D("21.65")
    at_break_even = dataclasses.replace(MSP, bill_rate=D(40) * D(118) / D(97))
    assert abs(margin_per_hour(at_break_even)) < D("1e-20")


def test_msp_fee_example_over_time() -> None:
    thirteen_weeks = Term(MSP_START, MSP_START + timedelta(days=91))
    assert remaining_weeks(thirteen_weeks, MSP_START) == D("13")
    assert remaining_gross_profit(MSP, thirteen_weeks, MSP_START) == D("1579.50")
    ten_days = Term(MSP_START, MSP_START + timedelta(days=10))
    assert round_money(remaining_gross_profit(MSP, ten_days, MSP_START)) == D("173.57")

    year = Term(MSP_START, MSP_START + timedelta(days=365))
    waiver = D("480")
    day_89 = MSP_START + timedelta(days=89)
    day_90 = MSP_START + timedelta(days=90)
    assert conversion_fee_due(MSP, year, day_89, D("20"), waiver) == D("15600.00")
    assert conversion_fee_due(MSP, year, day_90, D("20"), waiver) == D("0")
    assert conversion_fee_due(MSP, year, day_90, D("20"), None) == D("15600.00")
    assert round_money(hours_worked(MSP, year, day_90)) == D("482.14")


# --- dates -----------------------------------------------------------------------------------


def test_remaining_and_worked_around_the_term() -> None:
    t = Term(date(2025, 1, 1), date(2025, 1, 29))  # four weeks
    r = Rates(D("20"), D("25"), D("15"), hours_per_week=D("40"))
    # before the start: the whole term remains, nothing is worked
    assert remaining_days(t, date(2024, 12, 1)) == 28
    assert remaining_weeks(t, date(2024, 12, 1)) == D("4")
    assert hours_worked(r, t, date(2024, 12, 1)) == D("0")
    # half-way
    assert remaining_weeks(t, date(2025, 1, 15)) == D("2")
    assert hours_worked(r, t, date(2025, 1, 15)) == D("80")
    # after the expected end: nothing remains; hours worked stop at the expected end
    assert remaining_weeks(t, date(2025, 3, 1)) == D("0")
    assert remaining_gross_profit(r, t, date(2025, 3, 1)) == D("0")
    assert hours_worked(r, t, date(2025, 3, 1)) == D("160")


def test_end_before_start_is_a_term_of_zero_length() -> None:
    t = Term(date(2025, 2, 1), date(2025, 1, 1))
    r = Rates(D("20"), D("25"), D("15"))
    assert remaining_weeks(t, date(2025, 1, 15)) == D("0")
    assert hours_worked(r, t, date(2025, 3, 1)) == D("0")


def test_datetimes_are_not_dates() -> None:
    with pytest.raises(TypeError):
        Term(datetime(2025, 1, 1), date(2025, 2, 1))
    with pytest.raises(TypeError):
        remaining_days(TERM, datetime(2025, 1, 1))


# --- rounding and the bill rate of MarkupAgreed -----------------------------------------------


def test_bill_rate_for_markup_rounds_to_cents_half_up() -> None:
    assert bill_rate_for_markup(D("30.00"), D("25")) == D("37.50")
    assert bill_rate_for_markup(D("33.33"), D("17.5")) == D("39.16")  # 39.16275
    assert bill_rate_for_markup(D("10.03"), D("50")) == D("15.05")  # 15.045: half-up, not even
    assert bill_rate_for_markup(D("30.00"), D("-100")) == D("0.00")


def test_round_money_and_pct() -> None:
    assert round_money(D("2.345")) == D("2.35")
    assert round_money(D("-2.345")) == D("-2.35")  # ties away from zero
    assert round_money(D("2.3449999")) == D("2.34")
    assert str(round_money(D("-0.001"))) == "0.00"  # never "-0.00"
    assert str(round_money(D("60"))) == "60.00"
    assert round_pct(D("17.1875")) == D("17.19")
    assert str(round_pct(D("25"))) == "25.00"


def test_break_even_without_a_break_even() -> None:
    with pytest.raises(ValueError):
        break_even_markup_pct(D("20"), D("100"))
    with pytest.raises(ValueError):
        break_even_markup_pct(D("20"), D("150"))


def test_rates_refuse_floats_and_nonsense() -> None:
    with pytest.raises(TypeError):
        Rates(30.0, D("37.50"), D("20"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Rates(D("30"), D("37.50"), D("20"), hours_per_week=40.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Rates(D("0"), D("37.50"), D("20"))
    with pytest.raises(ValueError):
        Rates(D("NaN"), D("37.50"), D("20"))
    with pytest.raises(ValueError):
        margin_pct(Rates(D("30"), D("0"), D("20")))
    # an int is exact: accepted, and stored as a Decimal
    assert isinstance(Rates(30, D("37.50"), 20).pay_rate, Decimal)  # type: ignore[arg-type]


def test_weighted_markup() -> None:
    assert weighted_markup_pct([]) is None
    assert weighted_markup_pct([Rates(D("30"), D("40"), D("20"), hours_per_week=D(0))]) is None
    items = [
        Rates(D("30.00"), D("37.50"), D("20"), hours_per_week=D("40")),  # 300 of 1200
        Rates(D("20.00"), D("30.00"), D("20"), hours_per_week=D("20")),  # 200 of  400
    ]
    assert weighted_markup_pct(items) == D("31.25")  # 500 / 1600 × 100
    assert weighted_markup_pct(iter(items)) == D("31.25")


def test_independent_of_the_callers_decimal_context() -> None:
    with localcontext(prec=3):
        f = figures(MSP, Term(MSP_START, MSP_START + timedelta(days=10)), MSP_START)
    assert f.burdened_cost == D("47.20")
    assert f.remaining_gross_profit == D("173.5714285714285714285714285714286")


# --- properties ------------------------------------------------------------------------------

pay_rates = st.decimals(min_value=D("0.01"), max_value=D("10000"), places=4)
bill_rates_in_cents = st.decimals(min_value=D("0"), max_value=D("50000"), places=2)
bill_rates = st.decimals(min_value=D("0.01"), max_value=D("50000"), places=4)
burdens = st.decimals(min_value=D("0"), max_value=D("100"), places=4)
msp_fees = st.decimals(min_value=D("0"), max_value=D("99"), places=4)
hours = st.decimals(min_value=D("0.25"), max_value=D("168"), places=2)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@st.composite
def rates(draw: st.DrawFn) -> Rates:
    return Rates(
        pay_rate=draw(pay_rates),
        bill_rate=draw(bill_rates),
        burden_pct=draw(burdens),
        msp_fee_pct=draw(msp_fees),
        hours_per_week=draw(hours),
    )


@st.composite
def terms(draw: st.DrawFn) -> Term:
    start = draw(dates)
    return Term(start, start + timedelta(days=draw(st.integers(0, 3000))))


@given(pay_rates, bill_rates_in_cents)
def test_markup_and_bill_rate_round_trip(pay: Decimal, bill: Decimal) -> None:
    m = markup_pct(Rates(pay, bill, D(0)))
    assert bill_rate_for_markup(pay, m) == bill


@given(pay_rates, burdens)
def test_margin_is_exactly_zero_at_the_break_even_markup_without_msp_fee(
    pay: Decimal, burden: Decimal
) -> None:
    be = break_even_markup_pct(burden)
    with localcontext(prec=200):
        bill = pay * (1 + be / 100)
    assert margin_per_hour(Rates(pay, bill, burden)) == 0


@given(pay_rates, burdens, msp_fees)
def test_margin_is_zero_at_the_break_even_markup(
    pay: Decimal, burden: Decimal, fee: Decimal
) -> None:
    be = break_even_markup_pct(burden, fee)
    with localcontext(prec=200):
        bill = pay * (1 + be / 100)
    assert abs(margin_per_hour(Rates(pay, bill, burden, fee))) < D("1e-20")


@given(rates(), rates(), terms(), dates)
def test_a_change_and_its_reverse_sum_to_zero(
    a: Rates, b: Rates, t: Term, counted_from: date
) -> None:
    there = impact(a, b, t, counted_from).delta
    back = impact(b, a, t, counted_from).delta
    for field in dataclasses.fields(there):
        assert getattr(there, field.name) + getattr(back, field.name) == 0, field.name


@given(terms(), dates, dates)
def test_remaining_weeks_never_negative_and_never_increasing(t: Term, d1: date, d2: date) -> None:
    early, late = min(d1, d2), max(d1, d2)
    assert remaining_weeks(t, early) >= remaining_weeks(t, late) >= 0


@given(rates(), terms(), dates)
def test_worked_and_remaining_make_the_whole_term(r: Rates, t: Term, as_of: date) -> None:
    worked = hours_worked(r, t, as_of)
    left = r.hours_per_week * remaining_weeks(t, as_of)
    whole = r.hours_per_week * remaining_weeks(t, t.start_date)
    assert D(0) <= worked <= whole + D("1e-20")
    if t.start_date <= as_of <= t.expected_end_date:
        assert abs(worked + left - whole) < D("1e-20")


@given(rates(), terms(), dates, dates, st.decimals(min_value=0, max_value=50, places=2))
def test_conversion_fee_is_waived_once_hours_reach_the_waiver(
    r: Rates, t: Term, d1: date, d2: date, fee_pct: Decimal
) -> None:
    reached, later = min(d1, d2), max(d1, d2)
    waiver = hours_worked(r, t, reached)
    assert conversion_fee_due(r, t, reached, fee_pct, waiver) == 0
    assert conversion_fee_due(r, t, later, fee_pct, waiver) == 0
    # and it is the full fee while the hours have not reached it
    above = waiver + D("0.01")
    if hours_worked(r, t, later) < above:
        full = fee_pct / 100 * r.pay_rate * r.hours_per_week * 52
        assert conversion_fee_due(r, t, later, fee_pct, above) == full


@given(rates(), terms(), dates, st.decimals(min_value=0, max_value=50, places=2))
def test_no_figure_is_a_float(r: Rates, t: Term, as_of: date, fee_pct: Decimal) -> None:
    f = figures(r, t, as_of, fee_pct, D("480"))
    for field in dataclasses.fields(Figures):
        value = getattr(f, field.name)
        if field.name == "ot_exempt":
            assert isinstance(value, bool)
            continue
        assert isinstance(value, Decimal) and not isinstance(value, float), field.name
    result = impact(r, dataclasses.replace(r, pay_rate=r.pay_rate + 1), t, as_of)
    for side in (result.before, result.after, result.delta):
        for field in dataclasses.fields(side):
            assert isinstance(getattr(side, field.name), Decimal), field.name
    assert isinstance(remaining_weeks(t, as_of), Decimal)
    assert isinstance(remaining_days(t, as_of), int)
    assert isinstance(bill_rate_for_markup(r.pay_rate, markup_pct(r)), Decimal)
    assert isinstance(weighted_markup_pct([r]), Decimal)
