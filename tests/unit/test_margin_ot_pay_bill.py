"""`margin.ot_pay_bill` (what the read model records as an impact's OT rates) gives exactly
the pay and bill of `margin.ot_rates` of the same rates: the same Decimals, digit for digit,
since the projection stores them as text."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from projections.margin import Rates, ot_pay_bill, ot_rates

money = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9999"), places=4)
multiplier = st.decimals(min_value=Decimal("1"), max_value=Decimal("3"), places=3)


@given(money, money, st.none() | money, st.none() | money, multiplier, st.booleans())
def test_as_ot_rates(
    pay: Decimal,
    bill: Decimal,
    ot_pay: Decimal | None,
    ot_bill: Decimal | None,
    ot_multiplier: Decimal,
    exempt: bool,
) -> None:
    rates = Rates(pay, bill, Decimal(20), ot_pay_rate=ot_pay, ot_bill_rate=ot_bill)
    rates = dataclasses.replace(rates, ot_bill_multiplier=ot_multiplier, ot_exempt=exempt)
    got = ot_pay_bill(pay, bill, ot_pay, ot_bill, ot_multiplier, exempt)
    ot = ot_rates(rates)
    if ot is None:
        assert exempt and got is None
    else:
        assert got is not None
        assert (str(got[0]), str(got[1])) == (str(ot.pay_rate), str(ot.bill_rate))


def test_derived_from_the_multipliers() -> None:
    # DESIGN's worked example: P 30.00, B 37.50, ot_bill_multiplier 1.4.
    got = ot_pay_bill(Decimal("30.00"), Decimal("37.50"), None, None, Decimal("1.4"), False)
    assert got == (Decimal("45.00"), Decimal("52.50"))
    assert ot_pay_bill(Decimal(30), Decimal(40), Decimal(50), None, Decimal("1.4"), True) is None
