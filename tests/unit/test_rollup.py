"""The portfolio's figures on a day, computed from each assignment's histories and only the
figures a roll-up sums (projections/trend.portfolio_on, rollup.active_figures), are exactly
those of every figure of each assignment read for that day (rollup.assignment_margin), and
their roll-ups exactly the roll-up as computed from those (the reference): same Decimal, digit
for digit and exponent for exponent, not just equal in value."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.read_model import Terms
from projections.rollup import assignment_margin, roll_up
from projections.trend import RatePoint, TrendAssignment, portfolio_on
from tests.support.portfolio import (
    D0,
    assignments,
    facts_on,
    offset,
    pct,
    roll_up_of_margins,
    terms,
    terms_on,
)

# Rates of up to 4 places, some below the pay rate (loss-making), fees that do not terminate.
rates = st.decimals(min_value=Decimal("5"), max_value=Decimal("250"), places=4)
fees = st.decimals(min_value=Decimal("0"), max_value=Decimal("12.5"), places=3)
CURRENT = Terms(Decimal("17.5"), Decimal("2.25"), Decimal(15), Decimal(10), None)


def exact(x: Any) -> Any:
    """A value with each Decimal as its digits and exponent: equal only if identical."""
    if isinstance(x, Decimal):
        return x.as_tuple()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return tuple(exact(getattr(x, f.name)) for f in dataclasses.fields(x))
    if isinstance(x, list | tuple):
        return tuple(exact(v) for v in x)
    return x


@settings(max_examples=150, deadline=None)
@given(
    portfolio=st.lists(
        st.sampled_from(["C1", "C2", "C3"]).flatmap(lambda c: assignments(c, rates)),
        max_size=8,
    ),
    amendments=st.lists(st.tuples(offset, pct, fees), max_size=3),
    day=offset.map(lambda n: D0 + timedelta(days=n - 20)),
)
def test_the_portfolio_on_a_day_is_every_figure_rolled_up(
    portfolio: list[TrendAssignment],
    amendments: list[tuple[int, Decimal, Decimal]],
    day: date,
) -> None:
    # C1 amended, C2 as signed, C3 without a terms history: its terms as last amended.
    history = {"C1": terms("C1", amendments), "C2": terms("C2", [])}
    current = dict.fromkeys(("C1", "C2", "C3"), CURRENT)
    lean = portfolio_on(portfolio, history, current, day)
    margins = [
        assignment_margin(
            facts_on(a, terms_on(history[a.contract_id], day) if a.contract_id in history
                     else CURRENT, day),
            day,
        )
        for a in portfolio
    ]  # fmt: skip
    assert [exact(x) for x in lean] == [exact(m.for_roll_up) for m in margins]
    assert exact(roll_up(lean)) == exact(roll_up_of_margins(margins))
    for cid in ("C1", "C2", "C3"):
        mine = [x for x in lean if x.contract_id == cid]
        theirs = [m for m in margins if m.facts.contract_id == cid]
        assert exact(roll_up(mine)) == exact(roll_up_of_margins(theirs))


def test_designs_worked_example_on_a_day() -> None:
    """DESIGN's worked example (30.00 pay, 37.50 bill, 20 % burden, 40 h a week), 8 weeks
    before its expected end."""
    a = TrendAssignment("C2", D0, None, None, Decimal(40), None,
                        (RatePoint(D0, 2, Decimal("30.00"), Decimal("37.50")),),
                        D0 + timedelta(70), True)  # fmt: skip
    [f] = portfolio_on([a], {"C2": terms("C2", [])}, {}, D0 + timedelta(14))
    assert (f.active, f.at_risk, f.margin_per_hour, f.weekly_gross_profit) == (
        True,
        True,
        Decimal("1.50"),
        Decimal("60.00"),
    )
    assert f.remaining_gross_profit == Decimal("480.00")
