"""The exposure arithmetic of the rules: exact money over a remaining term (never a float)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from projections import margin
from projections.risk.rules.constants import DIVIDE, EXACT, SEVEN, ZERO
from projections.risk.state import AssignmentState, RiskState


def per_hour_over_days(per_hour: Decimal, hours_per_week: Decimal, days: int) -> Decimal:
    """per_hour × H × days / 7, divided once, last (like margin.remaining_gross_profit)."""
    # The contexts' methods: `a * b` under `localcontext(EXACT)` without copying a context.
    return DIVIDE.divide(EXACT.multiply(EXACT.multiply(per_hour, hours_per_week), days), SEVEN)


def remaining_days_from(a: AssignmentState, counted_from: date) -> int:
    return margin.remaining_days(a.term, counted_from)


def remaining_gp(s: RiskState, a: AssignmentState, as_of: date) -> Decimal:
    """Remaining gross profit of `a` at its rates in force; 0 once it has ended."""
    if not a.active:
        return ZERO
    return margin.remaining_gross_profit(s.rates(a), a.term, as_of)


def contract_remaining_gp(s: RiskState, as_of: date) -> Decimal:
    total = ZERO
    for a in s.active_assignments():
        total += remaining_gp(s, a, as_of)
    return total


def absorbed_per_hour_times(
    before: margin.Rates, new_pay: Decimal, new_bill: Decimal
) -> tuple[Decimal, Decimal]:
    """(Δpay × (1 + markup/100) − Δbill) as an exact fraction (numerator, denominator).

    With the markup before the change m = (B − P)/P × 100, Δpay × (1 + m/100) = Δpay × B / P, so
    the absorbed amount per hour is (Δpay × B − Δbill × P) / P: no rounded markup is ever
    multiplied by money.
    """
    x = EXACT
    d_pay = x.subtract(new_pay, before.pay_rate)
    d_bill = x.subtract(new_bill, before.bill_rate)
    absorbed = x.subtract(x.multiply(d_pay, before.bill_rate), x.multiply(d_bill, before.pay_rate))
    return absorbed, before.pay_rate


def absorbed_exposure(
    before: margin.Rates, new_pay: Decimal, new_bill: Decimal, days: int
) -> tuple[Decimal, Decimal]:
    """(absorbed per hour, absorbed × H × days / 7), each divided once."""
    numerator, denominator = absorbed_per_hour_times(before, new_pay, new_bill)
    x = EXACT
    total_numerator = x.multiply(x.multiply(numerator, before.hours_per_week), days)
    total_denominator = x.multiply(denominator, SEVEN)
    return (
        DIVIDE.divide(numerator, denominator),
        DIVIDE.divide(total_numerator, total_denominator),
    )


def pass_through_bill(before: margin.Rates, new_pay: Decimal) -> Decimal:
    """The bill rate that passes `new_pay` on at the markup before the change, in cents."""
    return margin.bill_rate_for_markup(new_pay, margin.markup_pct(before))


def raises_absorbed(before: margin.Rates, new_pay: Decimal, new_bill: Decimal) -> bool:
    """Pay rises and the bill rises by less than Δpay × (1 + markup/100).

    A bill within cent rounding of that pass-through (at or above the pass-through bill rate
    rounded to cents half-up, as MarkupAgreed would bill it) keeps the markup: not absorbed.
    """
    if new_pay <= before.pay_rate:
        return False
    numerator, _ = absorbed_per_hour_times(before, new_pay, new_bill)
    return numerator > 0 and new_bill < pass_through_bill(before, new_pay)


def add_months(d: date, months: int) -> date:
    """`d` plus whole calendar months; a day past the target month's end becomes its last day."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(d.day, last_day))


def non_solicit_until(s: RiskState) -> date | None:
    """The last day of the non-solicit window: `non_solicit_months` after the contract's end
    (its termination's effective date, or its `end_date`, whichever comes first); None while
    the contract has no end (the window is open).

    DESIGN does not anchor the window; a non-solicit clause runs for the life of the contract
    and for its stated months after it, which is what this reads.
    """
    ends = [d for d in (s.terms.end_date, s.terminated_on) if d is not None]
    if not ends:
        return None
    return add_months(min(ends), s.terms.non_solicit_months)


def conversion_fee_due(s: RiskState, a: AssignmentState, as_of: date) -> Decimal:
    # An ended assignment was worked until its end, not its expected end.
    end = a.end_date if a.end_date is not None else a.expected_end_date
    return margin.conversion_fee_due(
        s.rates(a),
        margin.Term(a.start_date, end),
        as_of,
        s.terms.conversion_fee_pct,
        s.terms.conversion_fee_waived_after_hours,
    )
